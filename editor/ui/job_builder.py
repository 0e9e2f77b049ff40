"""Turning the document state and panel parameters into a GenerationRequest + inputs.

Kept free of widgets and of the Document class: it receives the canvas size, the full
mask/selection arrays (cheap to scan), an optional generation frame, and a callable that
returns the visible composite for a box, so only the context crop is ever composited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.region import mask_bbox, pick_region, plan_region
from engine.request import Box, GenerationInputs, GenerationRequest

CompositeFn = Callable[[Box], np.ndarray]  # straight RGBA crop of the visible composite


class JobError(ValueError):
    """The document cannot make the requested job; str() is one sentence for the user."""


@dataclass(frozen=True)
class PreparedJob:
    request: GenerationRequest
    inputs: GenerationInputs
    region_source: str  # "mask", "selection", "frame" or "canvas"


def _region(
    width: int,
    height: int,
    mask: np.ndarray | None,
    selection: np.ndarray | None,
    frame: Box | None,
) -> tuple[Box, str, np.ndarray | None]:
    """The box to repaint, what it came from, and the full-canvas repaint mask (or None)."""
    picked = pick_region(
        mask_bbox(mask) if mask is not None else None,
        mask_bbox(selection) if selection is not None else None,
        frame,
    )
    box, source = picked or (Box(0, 0, width, height), "canvas")
    return box, source, {"mask": mask, "selection": selection}.get(source)


def choose_mode(requested: str, crop_rgba: np.ndarray, mask_crop: np.ndarray | None) -> str:
    """Auto: empty region -> txt2img; transparent part -> outpaint; mask -> inpaint;
    no mask -> img2img. Any other requested mode is used as is."""
    if requested != "auto":
        return requested
    alpha = crop_rgba[..., 3]
    if not alpha.any():
        return "txt2img"
    if mask_crop is not None:
        painted = mask_crop > 0
        if (alpha[painted] == 0).any():
            return "outpaint"
        return "inpaint"
    if (alpha == 0).any():
        return "outpaint"
    return "img2img"


def prepare_job(
    params: dict[str, Any],
    canvas_width: int,
    canvas_height: int,
    composite: CompositeFn,
    mask: np.ndarray | None = None,
    selection: np.ndarray | None = None,
    frame: Box | None = None,
    native: int = 512,
    options: dict[str, Any] | None = None,
    watermark: bool = True,
) -> PreparedJob:
    """Build the request for a job on the document's region (see module docstring)."""
    if canvas_width <= 0 or canvas_height <= 0:
        raise JobError("The canvas is empty; open or create an image first.")
    box, source, repaint = _region(canvas_width, canvas_height, mask, selection, frame)
    try:
        plan = plan_region(box, canvas_width, canvas_height, native)
    except ValueError:
        raise JobError(
            "The generation frame lies outside the canvas; draw it over the picture, or "
            "grow the canvas first (Image > Canvas Size)."
        ) from None
    ctx = plan.context
    crop = composite(ctx)
    mask_crop = None
    if repaint is not None:
        mask_crop = np.ascontiguousarray(repaint[ctx.y : ctx.bottom, ctx.x : ctx.right])
    elif source == "frame":
        # A frame without a mask repaints exactly the frame inside its context.
        mask_crop = np.zeros((ctx.height, ctx.width), np.uint8)
        fx0, fy0 = max(box.x - ctx.x, 0), max(box.y - ctx.y, 0)
        mask_crop[fy0 : box.bottom - ctx.y, fx0 : box.right - ctx.x] = 255
    mode = choose_mode(str(params.get("mode", "auto")), crop, mask_crop)
    if mode in ("inpaint", "fill") and (mask_crop is None or not mask_crop.any()):
        raise JobError(f"{mode.capitalize()} needs a mask; paint over the area to change first.")
    image = None if mode == "txt2img" and source == "canvas" else crop
    request = GenerationRequest(
        mode=mode,  # type: ignore[arg-type]
        prompt=str(params.get("prompt", "")),
        negative_prompt=str(params.get("negative_prompt", "")),
        seed=int(params.get("seed", 0)),
        steps=int(params.get("steps", 20)),
        guidance=float(params.get("guidance", 7.0)),
        strength=float(params.get("strength", 0.75)),
        scheduler=str(params.get("scheduler", "Euler a")),
        width=ctx.width,
        height=ctx.height,
        model=str(params.get("model", "")),
        n_samples=int(params.get("n_samples", 1)),
        region=ctx,
        canvas_width=canvas_width,
        canvas_height=canvas_height,
        mask_blur=plan.feather,
        watermark=watermark,
        options=tuple(sorted((options or {}).items())),
    )
    return PreparedJob(request, GenerationInputs(image=image, mask=mask_crop), source)
