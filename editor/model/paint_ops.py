"""Per-pixel paint formulas shared by tools and document edits.

All work on the pre-edit values and a coverage ``k`` in 0..1 (float32, same height/width),
so a gesture can recompute any pixel from its original: opacity caps instead of building
up. Premultiplied results stay valid (colour <= alpha) because both endpoints are valid and
rounding is monotonic.
"""

from __future__ import annotations

import numpy as np


def paint_premultiplied(
    orig: np.ndarray, k: np.ndarray, bgr: tuple[int, int, int], alpha_locked: bool
) -> np.ndarray:
    """Premultiplied BGRA ``orig`` painted with an opaque colour at coverage ``k`` (0..1)."""
    src = orig.astype(np.float32)
    kk = k[..., None]
    color = np.array(bgr, np.float32)
    if alpha_locked:
        target = color[None, None, :] * (src[..., 3:4] / 255.0)
        src[..., :3] += (target - src[..., :3]) * kk
    else:
        src[..., :3] += (color - src[..., :3]) * kk
        src[..., 3:4] += (255.0 - src[..., 3:4]) * kk
    return np.rint(src).astype(np.uint8)


def erase_premultiplied(orig: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Premultiplied BGRA ``orig`` with coverage ``k`` removed (all channels scale together)."""
    return np.rint(orig.astype(np.float32) * (1.0 - k[..., None])).astype(np.uint8)


def paint_gray(orig: np.ndarray, k: np.ndarray, value: float) -> np.ndarray:
    """A uint8 mask pulled towards ``value`` (255 paint, 0 erase) by coverage ``k``."""
    src = orig.astype(np.float32)
    src += (value - src) * k
    return np.rint(src).astype(np.uint8)
