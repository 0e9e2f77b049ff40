"""Catching broken generations (NaN/inf latents, blank decodes) instead of showing them.

Half precision overflows, a broken VAE or a bad LoRA make latents NaN or infinite; the
decoded picture is then NaN (shown as black) or one flat colour. Checking the latents
after every step stops such a job at the first bad step instead of after all of them,
and the decoded image is checked once more because the VAE can overflow on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.errors import EngineError

INVALID_LATENTS = (
    "The model produced invalid numbers (NaN or infinity) during generation; try float32 "
    "(Settings, device CPU or low memory off), another scheduler or a lower guidance."
)
INVALID_PIXELS = "The model produced invalid pixels (NaN); try float32 or another scheduler."
BLANK_IMAGE = (
    "The model produced a blank single-colour image, which means its numbers overflowed; "
    "try float32, another scheduler or another seed."
)


class InvalidNumbers(EngineError):
    """The model's numbers overflowed: NaN or infinite latents, or a broken decode."""


def check_latents(latents: Any) -> None:
    """Raise EngineError if a latent tensor holds NaN or infinity (torch tensor)."""
    import torch  # torch: ~1.2 s to import, only when a job runs

    if not bool(torch.isfinite(latents).all()):
        raise InvalidNumbers(INVALID_LATENTS)


def check_decoded(image: np.ndarray) -> np.ndarray:
    """Float image in 0..1 -> uint8; EngineError if it is NaN or one flat grey level.

    A real decode is never exactly uniform across all pixels and channels (VAE output has
    fine texture even on a plain background); a NaN-free but flat result is what an
    overflowing decoder gives (all black or all white).
    """
    if not np.isfinite(image).all():
        raise InvalidNumbers(INVALID_PIXELS)
    out = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    if out.size > 64 and out.min() == out.max():
        raise InvalidNumbers(BLANK_IMAGE)
    return out
