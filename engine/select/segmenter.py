"""Segmentation models for Select Object: transformers SamModel (SAM, SlimSAM) and
Sam2Model (SAM 2.1), found in the models folders and the Hugging Face cache.

A segmentation model is a transformers folder whose config.json declares model_type
"sam" or "sam2" (engine.discovery tells it, without torch) with its weights in
.safetensors: pickled weights can run code when loaded, so they are refused. torch and
transformers are imported on first use, on the caller's thread (the window's is a
background one).

Work is split as SAM intends: ``embed`` runs the image encoder once per picture (the slow
part) and keeps the result for the picture's pixels (``picture_hash``); ``predict``
answers a box or clicks from that embedding with the small mask decoder, fast enough for
each click.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.cvsafe import import_cv2
from engine.core.errors import ModelError
from engine.core.images import picture_hash
from engine.discovery import (
    SEGMENTER,
    config_model_type,
    entries,
    folder_kind,
    hf_cache_repos,
    model_dirs,
)
from engine.select.prompt import ObjectPrompt

log = logging.getLogger(__name__)

MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255
KEPT_EMBEDDINGS = 2  # pictures whose embedding is kept (the current one and the last)


def is_segmenter_folder(folder: Path) -> bool:
    return folder_kind(folder) == SEGMENTER


def check_segmenter(folder: Path) -> Path:
    """``folder`` if it is a SAM / SAM 2 folder with safetensors weights; ModelError with
    one sentence otherwise."""
    folder = Path(folder).expanduser()
    if not folder.is_dir() or not is_segmenter_folder(folder):
        raise ModelError(
            f"{folder} is not a segmentation model: Select Object needs a SAM or SAM 2 "
            "folder in the transformers layout (config.json with model_type sam or sam2)."
        )
    if not any(folder.glob("*.safetensors")):
        raise ModelError(
            f"{folder} holds no .safetensors weights; pickled weights can run code when "
            "loaded, so Overpaint refuses them: install the safetensors version."
        )
    return folder


def find_segmenters(extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """Every SAM / SAM 2 folder in the models folders and the Hugging Face cache."""
    found = [
        p
        for root in model_dirs(extra_dirs)
        for p in entries(root, 3, is_segmenter_folder, files=False)
    ]
    found += [s for _repo, snaps in hf_cache_repos() for s in snaps if is_segmenter_folder(s)]
    unique: dict[Path, Path] = {}
    for path in found:
        if any(path.glob("*.safetensors")):
            unique.setdefault(path.resolve(), path)
    return list(unique.values())


def resolve_segmenter(choice: str | None, extra_dirs: Sequence[Path] = ()) -> Path | None:
    """The folder for "auto" (the first found, or None), None for "none", or the checked
    folder a path names; ModelError when it is not a segmentation model."""
    text = (choice or "auto").strip()
    if text.lower() == "none":
        return None
    if text.lower() == "auto":
        found = find_segmenters(extra_dirs)
        return found[0] if found else None
    return check_segmenter(Path(text))


@dataclass
class Embedding:
    """The image encoder's output for one picture, and how the picture was fitted to the
    model's input square."""

    key: str  # picture_hash of the pixels it was made from
    size: tuple[int, int]  # the picture's (width, height)
    features: Any  # a tensor (SAM) or a list of tensors (SAM 2)


class Segmenter:
    """One loaded SAM or SAM 2 model. Thread-safe: an embedding computed on one thread
    never holds up ``cached`` or ``predict`` on another (the window's clicks); only the
    short list of kept embeddings is locked."""

    def __init__(self, folder: Path) -> None:
        # ~2 s (torch, transformers): only when a segmentation model is used
        import torch
        from transformers import Sam2Model, SamModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its bars would land in the CLI's output

        self.folder = check_segmenter(folder)
        model_type = config_model_type(self.folder)
        cls = Sam2Model if model_type == "sam2" else SamModel
        self.sam2 = model_type == "sam2"
        try:
            self.model = cls.from_pretrained(str(self.folder), use_safetensors=True).eval()
        except Exception as e:  # safetensors, torch and config errors alike: one sentence
            log.exception("loading segmentation model %s failed", self.folder)
            raise ModelError(
                f"The segmentation model in {self.folder} could not be loaded; download "
                "it again or choose another."
            ) from e
        self.side = int(self.model.config.prompt_encoder_config.image_size)
        self._torch = torch
        self._lock = threading.Lock()
        self._kept: list[Embedding] = []

    # ------------------------------------------------------------------ geometry
    def _scale(self, size: tuple[int, int]) -> tuple[float, float]:
        """Picture pixels -> model input pixels, per axis."""
        w, h = size
        if self.sam2:  # SAM 2 stretches the picture to its square
            return self.side / w, self.side / h
        s = self.side / max(w, h)  # SAM keeps the aspect and pads
        return s, s

    def _pixels(self, rgb: np.ndarray) -> Any:
        cv2 = import_cv2()
        h, w = rgb.shape[:2]
        sx, sy = self._scale((w, h))
        rw, rh = max(1, round(w * sx)), max(1, round(h * sy))
        resized = cv2.resize(rgb[..., :3], (rw, rh), interpolation=cv2.INTER_LINEAR)
        square = np.zeros((self.side, self.side, 3), np.float32)
        square[:rh, :rw] = (resized.astype(np.float32) - MEAN) / STD
        return self._torch.from_numpy(square.transpose(2, 0, 1)[None].copy())

    # ------------------------------------------------------------------ work
    def cached(self, rgb: np.ndarray) -> Embedding | None:
        """The kept embedding of these pixels, None when it has not been computed."""
        key = picture_hash(np.ascontiguousarray(rgb[..., :3]))
        with self._lock:
            return next((e for e in self._kept if e.key == key), None)

    def embed(self, rgb: np.ndarray) -> Embedding:
        """The picture's embedding: from the cache when its pixels were seen, else the
        image encoder's (the slow part)."""
        found = self.cached(rgb)
        if found is not None:
            return found
        pixels = self._pixels(rgb)
        with self._torch.inference_mode():
            features = self.model.get_image_embeddings(pixels)
        h, w = rgb.shape[:2]
        emb = Embedding(picture_hash(np.ascontiguousarray(rgb[..., :3])), (w, h), features)
        with self._lock:
            self._kept = [emb, *self._kept][:KEPT_EMBEDDINGS]
        return emb

    def predict(self, emb: Embedding, prompt: ObjectPrompt) -> np.ndarray:
        """The object a (checked) prompt points at, as a uint8 mask the picture's size."""
        torch = self._torch
        sx, sy = self._scale(emb.size)
        kwargs: dict[str, Any] = {}
        clicks = [(x, y, 1) for x, y in prompt.points] + [(x, y, 0) for x, y in prompt.negatives]
        if clicks:
            kwargs["input_points"] = torch.tensor(
                [[[[x * sx, y * sy] for x, y, _ in clicks]]], dtype=torch.float32
            )
            kwargs["input_labels"] = torch.tensor([[[lab for *_xy, lab in clicks]]])
        if prompt.box is not None:
            x, y, w, h = prompt.box
            kwargs["input_boxes"] = torch.tensor(
                [[[x * sx, y * sy, (x + w) * sx, (y + h) * sy]]], dtype=torch.float32
            )
        # One click is ambiguous (a shirt or the person?): ask for three and take the
        # one the model rates best; more prompts pin the object down.
        several = prompt.box is None and len(clicks) == 1
        with torch.inference_mode():
            out = self.model(image_embeddings=emb.features, multimask_output=several, **kwargs)
        scores = out.iou_scores[0, 0].float()
        logits = out.pred_masks[0, 0, int(torch.argmax(scores))].float().numpy()
        return self._to_picture(logits, emb.size)

    def _to_picture(self, logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Low-resolution logits -> a soft uint8 mask the picture's size."""
        cv2 = import_cv2()
        w, h = size
        if self.sam2:
            full = cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            square = cv2.resize(logits, (self.side, self.side), interpolation=cv2.INTER_LINEAR)
            sx, sy = self._scale(size)
            valid = square[: max(1, round(h * sy)), : max(1, round(w * sx))]
            full = cv2.resize(valid, (w, h), interpolation=cv2.INTER_LINEAR)
        soft = 1.0 / (1.0 + np.exp(-np.clip(full, -30, 30)))
        return np.round(soft * 255).astype(np.uint8)


_loaded: dict[Path, Segmenter] = {}
_load_lock = threading.Lock()


def load_segmenter(folder: Path) -> Segmenter:
    """The loaded model of ``folder``, loaded once per process."""
    key = Path(folder).resolve()
    with _load_lock:
        if key not in _loaded:
            _loaded.clear()  # one model at a time: the memory is what matters
            _loaded[key] = Segmenter(key)
        return _loaded[key]
