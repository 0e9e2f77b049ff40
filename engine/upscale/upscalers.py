"""The Stable Diffusion x4 upscaler: finding it on disk, loading it once, running a tile.

An upscaler is a diffusers folder whose model_index.json names
`StableDiffusionUpscalePipeline` (stabilityai/stable-diffusion-x4-upscaler or a
fine-tune). It is looked for in the models folders (any subfolder two levels down, so
`models/upscalers/<name>` as the model manager places it) and in the Hugging Face cache.
Without one, upscaling falls back to Lanczos.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.core.devices import dtype_keyword
from engine.core.errors import ModelError
from engine.discovery import entries, folder_class, hf_cache_repos, model_dirs
from engine.local.loading import apply_memory_policy, choose_device, free_pipelines

log = logging.getLogger(__name__)

UPSCALER_CLASS = "StableDiffusionUpscalePipeline"
FACTOR = 4  # the x4 upscaler's fixed ratio
# The UNet works at the input's resolution with three downsamplings: sides must be
# multiples of 8.
MULTIPLE = 8
DEFAULT_NOISE_LEVEL = 20  # diffusers' default: how much the input is re-noised


def is_upscaler_folder(folder: Path) -> bool:
    return folder_class(folder) == UPSCALER_CLASS


def find_upscalers(extra_dirs: Sequence[Path] = ()) -> list[Path]:
    """Every x4 upscaler folder in the models folders and the Hugging Face cache."""
    found = [
        p
        for root in model_dirs(extra_dirs)
        for p in entries(root, 3, is_upscaler_folder, files=False)
    ]
    found += [
        snap for _repo, snaps in hf_cache_repos() for snap in snaps if is_upscaler_folder(snap)
    ]
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def resolve_upscaler(choice: str, extra_dirs: Sequence[Path] = ()) -> Path | None:
    """The upscaler folder for "auto" (the first found, or None: Lanczos), "lanczos"
    (None) or a path/folder name; ModelError when a named one is not an upscaler."""
    text = (choice or "auto").strip()
    if text.lower() == "lanczos":
        return None
    found = find_upscalers(extra_dirs)
    if text.lower() == "auto":
        return found[0] if found else None
    path = Path(text).expanduser()
    if path.is_dir():
        if not is_upscaler_folder(path):
            raise ModelError(
                f"{path} is not a Stable Diffusion x4 upscaler folder (its model_index.json "
                f"does not name {UPSCALER_CLASS})."
            )
        return path
    for folder in found:
        if text.lower() in (folder.name.lower(), str(folder).lower()):
            return folder
    raise ModelError(
        f"No upscaler named {text!r} was found; use auto, lanczos or the path of an x4 "
        "upscaler folder."
    )


class UpscalerCache:
    """Keeps the last loaded upscaler pipeline (loading one takes seconds)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._pipe: Any = None

    def get(self, folder: Path, options: dict[str, Any]) -> Any:
        policy = choose_device("sd2", options)
        key = (folder.resolve(), policy.device, policy.dtype)
        if self._pipe is not None and self._key == key:
            return self._pipe
        self.clear()
        self._pipe = _load(folder, policy.dtype)
        apply_memory_policy(self._pipe, policy)
        self._key = key
        return self._pipe

    def clear(self) -> None:
        if self._pipe is not None:
            self._pipe, self._key = None, None
            free_pipelines()


def _load(folder: Path, dtype_name: str) -> Any:
    # torch and diffusers take seconds to import: only a real upscale pays for them.
    import torch
    from diffusers import StableDiffusionUpscalePipeline

    log.info("loading upscaler %s (%s)", folder, dtype_name)
    try:
        pipe = StableDiffusionUpscalePipeline.from_pretrained(
            str(folder), local_files_only=True, **{dtype_keyword(): getattr(torch, dtype_name)}
        )
    except Exception as e:
        log.exception("loading upscaler %s failed", folder)
        raise ModelError(
            f"Cannot load the upscaler in {folder}: its files are missing or damaged "
            "(details are in the log); choose Lanczos or reinstall it."
        ) from e
    pipe.set_progress_bar_config(disable=True)
    return pipe


class StopTile(Exception):
    """Raised from the upscaler's step callback to stop at once (cancel)."""


def upscale_tile(
    pipe: Any,
    rgb: np.ndarray,
    prompt: str,
    negative_prompt: str,
    steps: int,
    guidance: float,
    seed: int,
    on_step: Callable[[int], None],
    noise_level: int = DEFAULT_NOISE_LEVEL,
) -> np.ndarray:
    """One (h, w, 3) uint8 tile upscaled x4: (4h, 4w, 3) uint8. The tile is padded by
    edge replication to a multiple of 8 and the padding cut from the result. ``on_step``
    gets the 1-based step; it may raise StopTile."""
    import torch  # seconds to import: only a real upscale pays for it

    h, w = rgb.shape[:2]
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    padded = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else rgb
    # Schedulers keep per-run state: a fresh one per tile.
    pipe.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))

    def callback(step: int, _t: Any, _latents: Any) -> None:
        on_step(step + 1)

    with torch.inference_mode():
        out = pipe(
            prompt=prompt,
            negative_prompt=negative_prompt or None,
            image=Image.fromarray(np.ascontiguousarray(padded)),
            num_inference_steps=int(steps),
            guidance_scale=float(guidance),
            noise_level=int(noise_level),
            generator=generator,
            output_type="np",
            callback=callback,
            callback_steps=1,
        )
    image = np.asarray(out.images[0], dtype=np.float32)
    if not np.isfinite(image).all():
        raise ModelError("The upscaler produced invalid pixels; try Lanczos or other settings.")
    result = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return result[: h * FACTOR, : w * FACTOR]
