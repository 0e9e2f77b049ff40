"""The one entry point of object selection, shared by the window, the CLI and the
benchmark: which method answers a prompt, and Remove Background's main subject.

Methods: ``wand`` (the magic wand at the first click), ``grabcut`` (no model),
``sam`` (an installed segmentation model; refused in one sentence when none is) and
``auto`` (the model when one is given, else GrabCut).
"""

from __future__ import annotations

import numpy as np

from engine.core.errors import InvalidRequestError, ModelError
from engine.select.grabcut import grabcut_object
from engine.select.prompt import ObjectPrompt, checked_prompt
from engine.select.segmenter import Segmenter
from engine.select.wand import magic_wand

METHODS: tuple[str, ...] = ("auto", "grabcut", "sam", "wand")
DEFAULT_TOLERANCE = 32
# Remove Background's box: the picture less this share of each side, where a subject
# rarely is and the background shows.
SUBJECT_MARGIN = 0.04


def select_object(
    rgb: np.ndarray,
    prompt: ObjectPrompt,
    method: str = "auto",
    segmenter: Segmenter | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> np.ndarray:
    """The object ``prompt`` points at in ``rgb`` ((h, w, 3 or 4) uint8) as a uint8 mask;
    InvalidRequestError or ModelError (one sentence) when it cannot be done."""
    if method not in METHODS:
        raise InvalidRequestError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")
    h, w = rgb.shape[:2]
    prompt = checked_prompt(prompt, w, h)
    if method == "wand":
        if not prompt.points:
            raise InvalidRequestError("The magic wand needs a point: give --point X,Y.")
        x, y = prompt.points[0]
        return magic_wand(rgb[..., :3], x, y, tolerance)
    if method == "sam" and segmenter is None:
        raise ModelError(
            "No segmentation model is installed; install SlimSAM or SAM 2.1 tiny from "
            "Models, or use the GrabCut method."
        )
    if segmenter is not None and method in ("auto", "sam"):
        return segmenter.predict(segmenter.embed(rgb), prompt)
    return grabcut_object(np.ascontiguousarray(rgb[..., :3]), prompt)


def subject_prompt(width: int, height: int) -> ObjectPrompt:
    """Remove Background's prompt: a box over nearly the whole picture."""
    mx, my = round(width * SUBJECT_MARGIN), round(height * SUBJECT_MARGIN)
    return ObjectPrompt(box=(mx, my, width - 2 * mx, height - 2 * my))


def subject_mask(rgb: np.ndarray, segmenter: Segmenter | None = None) -> np.ndarray:
    """The picture's main subject as a uint8 mask (Remove Background)."""
    h, w = rgb.shape[:2]
    return select_object(rgb, subject_prompt(w, h), "auto", segmenter)


def cut_out(rgba: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The picture with everything outside ``mask`` transparent (its alpha times the
    mask's coverage)."""
    out = np.array(rgba, dtype=np.uint8, copy=True)
    if out.shape[2] == 3:
        out = np.concatenate([out, np.full(out.shape[:2] + (1,), 255, np.uint8)], axis=2)
    alpha = out[..., 3].astype(np.uint16) * mask.astype(np.uint16) + 127
    out[..., 3] = (alpha // 255).astype(np.uint8)
    return out
