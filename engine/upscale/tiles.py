"""Tiling a picture for upscale and refine, and blending the tiles back: pure numpy.

A picture too large for one model call is cut into overlapping tiles (``plan_tiles``),
each tile is processed on its own, and the results are laid back in raster order with
``paste_feathered``: a tile's alpha rises from 0 to 1 across the band it shares with the
tiles already laid to its left and above, and is 1 elsewhere. The next tiles then cover
its right and bottom edges the same way, so no tile edge is ever visible: at every tile
border the blend weight is 0 or 1 and only changes smoothly (a raised-cosine ramp, whose
slope is 0 at both ends).

Blending in raster order needs no accumulator the size of the picture: only the output
itself and one tile are held, so memory follows the tile, not the picture.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.request import Box


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` pixels, consecutive
    tiles sharing at least ``overlap`` pixels, spread evenly, the last flush with the end.

    One tile when it fits; a tile never sticks out of the picture.
    """
    if length <= 0 or tile <= 0:
        raise ValueError("length and tile must be positive")
    if length <= tile:
        return [0]
    overlap = max(0, min(overlap, tile - 1))
    count = math.ceil((length - overlap) / (tile - overlap))
    span = length - tile  # where the last tile starts
    return [round(i * span / (count - 1)) for i in range(count)]


@dataclass(frozen=True)
class TileSpec:
    """One tile: its box, and how many pixels it shares with the tile before it on each
    axis (0 on the picture's left/top edge): the widths of its alpha ramps."""

    box: Box
    left: int
    top: int


@dataclass(frozen=True)
class TilePlan:
    width: int
    height: int
    xs: tuple[int, ...]
    ys: tuple[int, ...]
    tile_width: int
    tile_height: int

    def __len__(self) -> int:
        return len(self.xs) * len(self.ys)

    def __iter__(self) -> Iterator[TileSpec]:
        """Tiles in raster order (the order ``paste_feathered`` needs)."""
        for j, y in enumerate(self.ys):
            top = self.ys[j - 1] + self.tile_height - y if j else 0
            for i, x in enumerate(self.xs):
                left = self.xs[i - 1] + self.tile_width - x if i else 0
                yield TileSpec(Box(x, y, self.tile_width, self.tile_height), left, top)

    def scaled(self, sx: float, sy: float) -> Iterator[tuple[TileSpec, TileSpec]]:
        """Each tile (raster order) with the tile of the (sx, sy)-scaled output it
        becomes; the output ramps span exactly what it shares with the scaled tiles before
        it, whatever the rounding."""
        ox = [(round(x * sx), round((x + self.tile_width) * sx)) for x in self.xs]
        oy = [(round(y * sy), round((y + self.tile_height) * sy)) for y in self.ys]
        specs = iter(self)
        for j, (y0, y1) in enumerate(oy):
            top = oy[j - 1][1] - y0 if j else 0
            for i, (x0, x1) in enumerate(ox):
                left = ox[i - 1][1] - x0 if i else 0
                box = Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0))
                yield next(specs), TileSpec(box, max(0, left), max(0, top))

    def borders(self) -> tuple[list[int], list[int]]:
        """Columns and rows where a tile edge lies inside the picture (where a hard paste
        would show a seam): the x of every tile's left and right edge, the y likewise."""
        cols = sorted({x for x in self.xs if x > 0} | {x + self.tile_width for x in self.xs})
        rows = sorted({y for y in self.ys if y > 0} | {y + self.tile_height for y in self.ys})
        return [c for c in cols if c < self.width], [r for r in rows if r < self.height]


def plan_tiles(width: int, height: int, tile: int, overlap: int) -> TilePlan:
    """Overlapping tiles of ``tile``² (smaller only where the picture is) covering a
    ``width``×``height`` picture."""
    tw, th = min(tile, width), min(tile, height)
    return TilePlan(
        width,
        height,
        tuple(axis_starts(width, tw, overlap)),
        tuple(axis_starts(height, th, overlap)),
        tw,
        th,
    )


def ramp(n: int) -> np.ndarray:
    """``n`` weights rising from just above 0 to just below 1 along a raised cosine."""
    if n <= 0:
        return np.zeros(0, np.float32)
    t = (np.arange(n, dtype=np.float32) + 0.5) / n
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


def tile_alpha(width: int, height: int, left: int, top: int) -> np.ndarray:
    """(height, width) float32 alpha for a tile laid in raster order: ramps over the
    ``left`` columns and ``top`` rows it shares with earlier tiles, 1 elsewhere."""
    ax = np.ones(width, np.float32)
    ay = np.ones(height, np.float32)
    ax[: min(left, width)] = ramp(min(left, width))
    ay[: min(top, height)] = ramp(min(top, height))
    return ay[:, None] * ax[None, :]


def paste_feathered(out: np.ndarray, pixels: np.ndarray, spec: TileSpec) -> None:
    """Lay a processed tile into ``out`` (uint8, HxWxC) at its box, in place, with the
    tile's raster-order alpha (see the module docstring)."""
    b = spec.box
    region = out[b.y : b.bottom, b.x : b.right]
    if pixels.shape[:2] != region.shape[:2]:
        raise ValueError(f"tile is {pixels.shape[:2]}, its box {region.shape[:2]}")
    if spec.left == 0 and spec.top == 0:
        region[...] = pixels
        return
    alpha = tile_alpha(b.width, b.height, spec.left, spec.top)[..., None]
    mixed = region.astype(np.float32)
    mixed += alpha * (pixels.astype(np.float32) - mixed)
    region[...] = np.clip(np.rint(mixed), 0, 255).astype(out.dtype)


def scale_box(box: Box, sx: float, sy: float) -> Box:
    """``box`` in a picture scaled by (sx, sy); neighbouring boxes stay edge to edge
    because both edges are rounded, not the size."""
    x0, y0 = round(box.x * sx), round(box.y * sy)
    x1, y1 = round(box.right * sx), round(box.bottom * sy)
    return Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0))
