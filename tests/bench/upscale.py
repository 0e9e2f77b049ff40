"""P13 (seams after a tiled refine) and P14 (memory of a tiled refine).

P13: a smooth, detailed 256² picture (tests/bench/upscale.py `test_picture`) is upscaled
×2 with Lanczos and refined in tiles at the demo model's native 128 px (strength 0.3,
the same seed and sampler for every tile), through `engine.upscale` as the window and
the CLI run it. The value is the mean absolute second difference of the result across
the tile borders divided by the same over the picture's interior (`seam_ratio`): a hard
paste of tiles that came back a little different shows up as a step at the borders.

P14: the peak RSS (ru_maxrss of a child process) while refining a 2048² picture over
that of a 512² one, same model, tile, steps and strength (`upscale_probe` runs each in
its own process, so neither sees the other's heap).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tests.bench.common import Context, Result

DEMO = "Overpaint demo (shapes)"
SEED = 3
STRENGTH = 0.3
BORDER_MARGIN = 2  # interior = second differences centred this far from any border


def _second_differences(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|f(x-1) - 2 f(x) + f(x+1)| along x (H, W-2: centred at columns 1..W-2) and along y,
    averaged over the colour channels."""
    f = image[..., :3].astype(np.float32)
    dx = np.abs(f[:, 2:] - 2 * f[:, 1:-1] + f[:, :-2]).mean(axis=2)
    dy = np.abs(f[2:] - 2 * f[1:-1] + f[:-2]).mean(axis=2)
    return dx, dy


def seam_ratio(image: np.ndarray, plan) -> float:
    """Mean |second difference| across the tile borders of ``plan`` (an engine.tiles
    TilePlan over ``image``) / the same in the picture's interior.

    A border at column c lies between pixels c-1 and c: the differences centred on both
    count as "across" it. The interior is every centre at least BORDER_MARGIN pixels
    from a border. About 1 when the borders look like the rest of the picture.
    """
    dx, dy = _second_differences(image)
    cols, rows = plan.borders()
    h, w = image.shape[:2]

    def split(length: int, borders: list[int]) -> tuple[np.ndarray, np.ndarray]:
        centres = np.arange(1, length - 1)
        near = np.zeros(centres.size, bool)
        at = np.zeros(centres.size, bool)
        for b in borders:
            dist = np.minimum(np.abs(centres - b), np.abs(centres - (b - 1)))
            at |= dist == 0
            near |= dist < BORDER_MARGIN
        return at, ~near

    at_x, inside_x = split(w, cols)
    at_y, inside_y = split(h, rows)
    border = np.concatenate([dx[:, at_x].ravel(), dy[at_y, :].ravel()])
    interior = np.concatenate([dx[:, inside_x].ravel(), dy[inside_y, :].ravel()])
    if border.size == 0:
        return 1.0
    return float(border.mean() / max(interior.mean(), 1e-6))


def bench_picture(size: int, seed: int = 0) -> np.ndarray:
    """Opaque RGB: soft colour gradients with a few discs and stripes (structure for the
    model to refine, smooth enough that a seam would stand out)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    rgb = np.dstack([200 * xx + 30, 160 * yy + 50, 120 * (1 - xx * yy) + 40])
    rng = np.random.default_rng(seed)
    for _ in range(6):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.15)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        rgb[disc] = rng.uniform(20, 235, 3)
    rgb[:, :, 1] += 12 * np.sin(xx * 40)
    return np.clip(rgb, 0, 255).astype(np.uint8)
