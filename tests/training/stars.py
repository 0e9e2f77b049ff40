"""Pictures of a shape the demo model has never seen: a five-pointed star.

Drawn with Pillow in the demo dataset's palette and caption style, so the only new thing
for the model is the shape and its word.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.demo.dataset import ANCHORS, PALETTE, PHRASES

# A regular five-pointed star's inner/outer radius (the pentagram's).
INNER_RATIO = 0.382
# (star colour, position, background): 8 combinations for training.
TRAIN_SET = (
    ("red", "left", "blue"),
    ("yellow", "right", "black"),
    ("white", "top", "green"),
    ("blue", "bottom", "yellow"),
    ("orange", "centre", "purple"),
    ("green", "left", "white"),
    ("purple", "right", "orange"),
    ("black", "centre", "red"),
)
# Combinations none of the training pictures show.
HELD_OUT = (
    ("red", "centre", "white"),
    ("yellow", "left", "purple"),
    ("white", "right", "blue"),
    ("blue", "top", "orange"),
    ("orange", "bottom", "green"),
)


def star_points(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * INNER_RATIO
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def star_picture(colour: str, position: str, background: str, size: int = 128) -> np.ndarray:
    ss = 2
    side = size * ss
    img = Image.new("RGB", (side, side), PALETTE[background])
    ax, ay = ANCHORS[position]
    ImageDraw.Draw(img).polygon(
        star_points(ax * side, ay * side, 0.23 * side), fill=PALETTE[colour]
    )
    return np.asarray(img.reduce(ss))


def star_caption(colour: str, position: str, background: str, word: str = "star") -> str:
    return f"a {colour} {word} {PHRASES[position]}, {background} background"


def write_star_folder(folder: Path, combos=TRAIN_SET, size: int = 128, word: str = "star") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (colour, position, background) in enumerate(combos):
        Image.fromarray(star_picture(colour, position, background, size)).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(star_caption(colour, position, background, word))
    return folder


def solidity(points: np.ndarray) -> float:
    """Blob area / convex hull area (a filled star is about 0.6, a disc or square 1)."""
    from scipy.spatial import ConvexHull

    ys, xs = points[:, 0].astype(float), points[:, 1].astype(float)
    corners = np.concatenate(
        [np.stack([xs + dx, ys + dy], axis=1) for dx in (0, 1) for dy in (0, 1)]
    )
    return float(len(points) / ConvexHull(corners).volume)


def main_blob_solidity(image: np.ndarray) -> float:
    """Solidity of the largest shape standing out from the border colour (1.0: none)."""
    from engine.demo.evaluate import FOREGROUND_DISTANCE, connected_components

    img = image.astype(np.float32)
    border = np.concatenate([img[:2].reshape(-1, 3), img[-2:].reshape(-1, 3)])
    mask = np.linalg.norm(img - np.median(border, axis=0), axis=2) > FOREGROUND_DISTANCE
    blobs = connected_components(mask)
    return solidity(blobs[0]) if blobs and len(blobs[0]) > 20 else 1.0


def read_star(image: np.ndarray) -> tuple[bool, str | None]:
    """(is the main shape a star, its colour) from an HxWx3 uint8 picture."""
    from engine.demo.evaluate import (
        FOREGROUND_DISTANCE,
        MIN_BLOB_FRACTION,
        connected_components,
        nearest_colour,
        read_picture,
    )

    reading = read_picture(image)
    img = image.astype(np.float32)
    h, w, _ = img.shape
    ring = np.concatenate([img[:2].reshape(-1, 3), img[-2:].reshape(-1, 3)])
    bg = np.median(ring, axis=0)
    mask = np.linalg.norm(img - bg, axis=2) > FOREGROUND_DISTANCE
    blobs = [b for b in connected_components(mask) if len(b) >= MIN_BLOB_FRACTION * h * w]
    if not blobs or reading.colour is None:
        return False, None
    main = blobs[0]
    colour = nearest_colour(np.median(img[main[:, 0], main[:, 1]], axis=0))
    return solidity(main) < 0.8, colour
