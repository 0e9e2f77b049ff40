"""Synthetic scenes for Select Object and the magic wand (tests and benchmark P22).

Each scene is a textured object with a soft edge on a textured background: the object a
blob, an ellipse or a rounded polygon, its colour and the background's drawn apart, both
with noise and stripes, some objects cut by the picture's border. The truth is the
object's coverage at one half; the box is its bounding box with a few pixels of slack, as
a user drags it. Seeds below HELD_OUT are for tests, from HELD_OUT on for the benchmark.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from engine.core.cvsafe import import_cv2

HELD_OUT = 1000


@dataclass(frozen=True)
class Scene:
    rgb: np.ndarray  # (h, w, 3) uint8
    truth: np.ndarray  # (h, w) bool
    box: tuple[int, int, int, int]  # x, y, w, h
    inside: tuple[int, int]  # a point well inside the object


def _texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(6, 18)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    tint = rng.uniform(-1, 1, 3).astype(np.float32) * 14
    noise = rng.normal(0, 9, (h, w, 3)).astype(np.float32)
    return base[None, None, :] + stripes[..., None] * tint + noise


def _shape(rng: np.random.Generator, h: int, w: int, border: bool) -> np.ndarray:
    cv2 = import_cv2()
    cover = np.zeros((h, w), np.uint8)
    rx, ry = rng.uniform(0.14, 0.3) * w, rng.uniform(0.14, 0.3) * h
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    if border:  # push the object over an edge of the picture
        side = rng.integers(4)
        cx = [rx * 0.5, w - rx * 0.5, cx, cx][side]
        cy = [cy, cy, ry * 0.5, h - ry * 0.5][side]
    n = 24
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    wobble = 1 + 0.18 * np.sin(angles * rng.integers(2, 5) + rng.uniform(0, 6))
    pts = np.stack([cx + rx * wobble * np.cos(angles), cy + ry * wobble * np.sin(angles)], 1)
    cv2.fillPoly(cover, [np.round(pts * 8).astype(np.int32)], 255, cv2.LINE_AA, shift=3)
    return cv2.GaussianBlur(cover, (0, 0), rng.uniform(0.8, 2.0)).astype(np.float32) / 255


def make_scene(seed: int, size: tuple[int, int] = (320, 240)) -> Scene:
    rng = np.random.default_rng(seed)
    w, h = size
    border = seed % 3 == 0
    alpha = _shape(rng, h, w, border)
    fg_base = rng.uniform(40, 215, 3).astype(np.float32)
    bg_base = rng.uniform(40, 215, 3).astype(np.float32)
    while np.abs(fg_base - bg_base).max() < 70:
        bg_base = rng.uniform(40, 215, 3).astype(np.float32)
    fg = _texture(rng, h, w, fg_base)
    bg = _texture(rng, h, w, bg_base)
    rgb = np.clip(fg * alpha[..., None] + bg * (1 - alpha[..., None]), 0, 255).astype(np.uint8)
    truth = alpha >= 0.5
    ys, xs = np.nonzero(truth)
    slack = int(rng.integers(2, 7))
    x0, y0 = max(int(xs.min()) - slack, 0), max(int(ys.min()) - slack, 0)
    x1, y1 = min(int(xs.max()) + 1 + slack, w), min(int(ys.max()) + 1 + slack, h)
    dist = import_cv2().distanceTransform(truth.astype(np.uint8), import_cv2().DIST_L2, 5)
    iy, ix = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return Scene(rgb, truth, (x0, y0, x1 - x0, y1 - y0), (int(ix), int(iy)))


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of a uint8 mask (at one half) and a boolean truth."""
    got = np.asarray(mask) >= 128
    union = np.logical_or(got, truth).sum()
    return float(np.logical_and(got, truth).sum() / union) if union else 1.0


def bfs_flood(image: np.ndarray, x: int, y: int, tol: int) -> np.ndarray:
    """The reference: a breadth-first 4-connected fill, every channel within tol."""
    h, w = image.shape[:2]
    seed = image[y, x].astype(int)
    out = np.zeros((h, w), bool)
    out[y, x] = True
    queue = deque([(x, y)])
    while queue:
        cx, cy = queue.popleft()
        for nx, ny in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
            if 0 <= nx < w and 0 <= ny < h and not out[ny, nx]:
                if np.abs(image[ny, nx].astype(int) - seed).max() <= tol:
                    out[ny, nx] = True
                    queue.append((nx, ny))
    return out
