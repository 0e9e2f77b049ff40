"""Pixel edits that keep only the touched tiles for undo.

A ``PixelEdit`` wraps one gesture (a brush stroke, a fill, a mask edit) on one surface: a
layer's premultiplied pixels, the document mask or the selection. Before the gesture first
writes a 64x64 tile it copies that tile; at the end the copies become a ``PixelSwapCommand``
whose undo and redo swap the stored tiles with the live ones. So a stroke's history costs
the tiles it touched, once (the swap means old and new never need to be held together).

The copies live in a full-size scratch array made with ``np.empty``: the OS hands out its
pages only when a tile is first written, so starting a stroke on a 4096x4096 layer is free.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QRect

from editor.model.undo import Command

TILE = 64


def tiles_in(rect: QRect, width: int, height: int) -> list[tuple[int, int]]:
    """(tile_row, tile_col) of every tile that ``rect`` (array coords) overlaps."""
    r = rect.intersected(QRect(0, 0, width, height))
    if r.isEmpty():
        return []
    rows = range(r.top() // TILE, r.bottom() // TILE + 1)
    cols = range(r.left() // TILE, r.right() // TILE + 1)
    return [(ty, tx) for ty in rows for tx in cols]


def tile_slices(ty: int, tx: int) -> tuple[slice, slice]:
    """Array slices of tile (row ``ty``, column ``tx``); edge tiles clip to the array."""
    return slice(ty * TILE, ty * TILE + TILE), slice(tx * TILE, tx * TILE + TILE)


class Surface:
    """Where a pixel edit writes: a getter for the live array plus a change notifier.

    ``origin`` maps array coordinates to canvas coordinates (a layer's offset).
    """

    def __init__(
        self,
        array: Callable[[], np.ndarray],
        notify: Callable[[QRect], None],
        origin: Callable[[], tuple[int, int]] = lambda: (0, 0),
        before: Callable[[], None] | None = None,
        after_undo: Callable[[], None] | None = None,
    ) -> None:
        self.array = array
        self._notify = notify
        self.origin = origin
        # Layer surfaces grow before the first write and shrink back on undo.
        self.before = before
        self.after_undo = after_undo

    def notify(self, rect: QRect) -> None:
        """``rect`` in array coordinates."""
        ox, oy = self.origin()
        self._notify(rect.translated(ox, oy))


class PixelSwapCommand(Command):
    def __init__(
        self, text: str, surface: Surface, tiles: dict[tuple[int, int], np.ndarray]
    ) -> None:
        self.text = text
        self.surface = surface
        self.tiles = tiles
        self._bytes = sum(t.nbytes for t in tiles.values())

    def _swap(self) -> None:
        arr = self.surface.array()
        dirty = QRect()
        for (ty, tx), stored in self.tiles.items():
            ys, xs = ty * TILE, tx * TILE
            live = arr[ys : ys + stored.shape[0], xs : xs + stored.shape[1]]
            tmp = live.copy()
            live[...] = stored
            self.tiles[(ty, tx)] = tmp
            dirty = dirty.united(QRect(xs, ys, stored.shape[1], stored.shape[0]))
        if not dirty.isEmpty():
            self.surface.notify(dirty)

    def redo(self) -> None:
        if self.surface.before is not None:
            self.surface.before()
        self._swap()

    def undo(self) -> None:
        self._swap()
        if self.surface.after_undo is not None:
            self.surface.after_undo()

    def nbytes(self) -> int:
        return self._bytes


class PixelEdit:
    """One gesture's writes to a surface. Call ``touch(rect)`` before writing into ``rect``.

    ``array`` is the live array to write into; ``original`` holds the pre-gesture values of
    every touched tile (the rest of it is uninitialised), so a tool can recompute a pixel
    from its original value (stroke opacity that does not build up with overlapping dabs).
    """

    def __init__(self, surface: Surface) -> None:
        self.surface = surface
        if surface.before is not None:
            surface.before()
        self.array = surface.array()
        self.original = np.empty_like(self.array)
        self._touched: set[tuple[int, int]] = set()
        self.dirty = QRect()
        self._pending = QRect()

    def touch(self, rect: QRect) -> QRect:
        """Save the tiles under ``rect`` (array coords); returns ``rect`` clipped to the array."""
        h, w = self.array.shape[:2]
        for ty, tx in tiles_in(rect, w, h):
            if (ty, tx) not in self._touched:
                self._touched.add((ty, tx))
                sl = tile_slices(ty, tx)
                self.original[sl] = self.array[sl]
        return rect.intersected(QRect(0, 0, w, h))

    def changed(self, rect: QRect, defer: bool = False) -> None:
        """Announce a write into ``rect`` (array coords).

        With ``defer`` the rect is collected until ``flush()``: a tool that lays several
        overlapping dabs per pointer event announces their union once, so views
        recomposite each pixel once per event instead of once per dab.
        """
        self.dirty = self.dirty.united(rect)
        if defer:
            self._pending = self._pending.united(rect)
        else:
            self.surface.notify(rect)

    def flush(self) -> None:
        """Announce the rects collected by ``changed(..., defer=True)``."""
        if not self._pending.isEmpty():
            pending, self._pending = self._pending, QRect()
            self.surface.notify(pending)

    def command(self, text: str) -> PixelSwapCommand | None:
        """The undo command holding the original tiles; None if nothing was touched."""
        self.flush()
        tiles = {}
        for ty, tx in sorted(self._touched):
            sl = tile_slices(ty, tx)
            if not np.array_equal(self.original[sl], self.array[sl]):
                tiles[(ty, tx)] = self.original[sl].copy()
        self.original = np.empty((0,) + self.array.shape[1:], self.array.dtype)
        if not tiles:
            self.cancel()
            return None
        return PixelSwapCommand(text, self.surface, tiles)

    def cancel(self) -> None:
        """Put back every touched tile (e.g. Esc during a stroke)."""
        if self.original.shape[0] == self.array.shape[0]:
            for ty, tx in self._touched:
                sl = tile_slices(ty, tx)
                self.array[sl] = self.original[sl]
        self._pending = QRect()
        if not self.dirty.isEmpty():
            self.surface.notify(self.dirty)
        if self.surface.after_undo is not None:
            self.surface.after_undo()
        self._touched.clear()
