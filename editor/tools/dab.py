"""Brush dabs: precomputed round alpha stamps (blend formulas: editor.model.paint_ops).

A dab is a float32 alpha stamp (0..1) for a radius, hardness and sub-pixel phase; stamps are
cached, so a stroke mostly reuses them. Strokes use "wash" coverage: each pixel keeps the
maximum dab alpha it received during the stroke, and its value is recomputed from the
pre-stroke original, so the stroke opacity caps the result instead of building up where
dabs overlap (the behaviour of Krita/Photoshop with flow at 100 %).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SUBPIXEL = 4  # stamp phases per pixel


@lru_cache(maxsize=512)
def _stamp(radius_q: int, hardness_q: int, fx: int, fy: int) -> np.ndarray:
    radius = radius_q / SUBPIXEL
    hardness = hardness_q / 100.0
    cx, cy = radius + 1 + fx / SUBPIXEL, radius + 1 + fy / SUBPIXEL
    n = int(math.ceil(2 * radius + 3))
    coords = np.arange(n, dtype=np.float32) + 0.5
    d = np.sqrt((coords[None, :] - cx) ** 2 + (coords[:, None] - cy) ** 2)
    inner = radius * hardness
    if radius - inner > 1e-6:
        t = np.clip((d - inner) / (radius - inner), 0.0, 1.0)
        alpha = 1.0 - t * t * (3.0 - 2.0 * t)
    else:
        alpha = np.ones_like(d)
    # One pixel of antialiasing at the rim, so hard small brushes do not look jagged.
    alpha *= np.clip(radius - d + 0.5, 0.0, 1.0)
    alpha = alpha.astype(np.float32)
    alpha.setflags(write=False)
    return alpha


def stamp(cx: float, cy: float, radius: float, hardness: float) -> tuple[int, int, np.ndarray]:
    """A dab centred at canvas point (cx, cy): (left, top, alpha (n, n) float32, read-only)."""
    radius = max(radius, 0.5)
    rq = max(int(round(radius * SUBPIXEL)), 2)
    r = rq / SUBPIXEL
    px = int(round((cx - r - 1) * SUBPIXEL))
    py = int(round((cy - r - 1) * SUBPIXEL))
    left, top = px // SUBPIXEL, py // SUBPIXEL
    fx, fy = px - left * SUBPIXEL, py - top * SUBPIXEL
    hq = int(round(min(max(hardness, 0.0), 1.0) * 100))
    return left, top, _stamp(rq, hq, fx, fy)
