"""Bounding box of the non-zero pixels of a big array, kept up to date per dirty rect.

The generation region and the mask overlay ask for the mask's bbox after every dab; a
full scan of a 4096x4096 mask costs ~15 ms. Instead a coarse grid remembers which 64x64
tiles hold anything (updated only for the tiles an edit touches), and the exact box is
found by scanning just the four bands of tiles at its edges.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

TILE = 64


def _tile_any(block: np.ndarray) -> np.ndarray:
    nz = block != 0
    rows = np.arange(0, nz.shape[0], TILE)
    cols = np.arange(0, nz.shape[1], TILE)
    return np.logical_or.reduceat(np.logical_or.reduceat(nz, rows, axis=0), cols, axis=1)


class NonzeroExtent:
    def __init__(self, arr: np.ndarray) -> None:
        self.reset(arr)

    def reset(self, arr: np.ndarray) -> None:
        """Recompute from scratch (after the array was replaced)."""
        if arr.size == 0:
            self._occupied = np.zeros((0, 0), bool)
        else:
            self._occupied = _tile_any(arr)
        self._box: QRect | None = None
        self._valid = False

    def update(self, arr: np.ndarray, rect: QRect) -> None:
        """Pixels changed inside ``rect`` (array coords)."""
        h, w = arr.shape[:2]
        r = rect.intersected(QRect(0, 0, w, h))
        if r.isEmpty():
            return
        ty0, ty1 = r.top() // TILE, r.bottom() // TILE
        tx0, tx1 = r.left() // TILE, r.right() // TILE
        block = arr[ty0 * TILE : (ty1 + 1) * TILE, tx0 * TILE : (tx1 + 1) * TILE]
        self._occupied[ty0 : ty1 + 1, tx0 : tx1 + 1] = _tile_any(block)
        self._valid = False

    def bbox(self, arr: np.ndarray) -> QRect | None:
        if self._valid:
            return self._box
        rows = np.flatnonzero(self._occupied.any(axis=1))
        if rows.size == 0:
            self._box, self._valid = None, True
            return None
        cols = np.flatnonzero(self._occupied.any(axis=0))
        y0, y1 = rows[0] * TILE, (rows[-1] + 1) * TILE
        x0, x1 = cols[0] * TILE, (cols[-1] + 1) * TILE
        top = y0 + int(np.argmax(arr[y0 : y0 + TILE, x0:x1].any(axis=1)))
        bottom_band = arr[rows[-1] * TILE : y1, x0:x1].any(axis=1)
        bottom = rows[-1] * TILE + int(np.flatnonzero(bottom_band)[-1])
        left = x0 + int(np.argmax(arr[y0:y1, x0 : x0 + TILE].any(axis=0)))
        right_band = arr[y0:y1, cols[-1] * TILE : x1].any(axis=0)
        right = cols[-1] * TILE + int(np.flatnonzero(right_band)[-1])
        self._box = QRect(left, top, right - left + 1, bottom - top + 1)
        self._valid = True
        return self._box
