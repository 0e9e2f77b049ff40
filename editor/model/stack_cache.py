"""Cache of the composite of the layers below the current one.

Compositing is sequential, bottom to top, so the picture after the layers below the
current layer is an exact intermediate result: cache it and a recomposite (a dab on the
current layer, dragging its opacity slider, moving it) only draws the current layer and
those above it. On a 20-layer canvas with the current layer in the middle that halves the
work per dab; for the top layer it turns a full-canvas opacity drag from a 20-layer into a
1-layer composite.

The cache fills lazily per 256x256 tile, so switching layers costs nothing up front, and
the Document invalidates it: wholly when the stack below changes (key = the layers below,
canvas size), per rectangle when a layer below changes pixels or properties.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage, QPainter

from editor.model.blending import PREMULTIPLIED, composite_layers

TILE = 256


class BelowCache:
    def __init__(self) -> None:
        self._image: QImage | None = None
        self._valid: np.ndarray | None = None
        self._key: tuple | None = None

    def reset(self) -> None:
        self._image = None
        self._valid = None
        self._key = None

    def invalidate(self, rect: QRect) -> None:
        if self._valid is None or rect.isEmpty():
            return
        r = rect.intersected(self._image.rect())
        if r.isEmpty():
            return
        self._valid[
            r.top() // TILE : r.bottom() // TILE + 1, r.left() // TILE : r.right() // TILE + 1
        ] = False

    def composite_below(self, below: list, canvas: QRect, rect: QRect) -> QImage:
        """The composite of ``below`` for ``rect`` (inside ``canvas``), from the cache."""
        key = (tuple(id(layer) for layer in below), canvas.width(), canvas.height())
        if key != self._key:
            self._image = QImage(canvas.width(), canvas.height(), PREMULTIPLIED)
            rows = (canvas.height() + TILE - 1) // TILE
            cols = (canvas.width() + TILE - 1) // TILE
            self._valid = np.zeros((rows, cols), bool)
            self._key = key
        ty0, ty1 = rect.top() // TILE, rect.bottom() // TILE
        tx0, tx1 = rect.left() // TILE, rect.right() // TILE
        stale = ~self._valid[ty0 : ty1 + 1, tx0 : tx1 + 1]
        if stale.any():
            # One pass over the bounding box of the stale tiles, straight into the cache
            # (recompositing a valid tile inside it gives the same pixels again).
            rows, cols = np.nonzero(stale.any(axis=1))[0], np.nonzero(stale.any(axis=0))[0]
            span = QRect(
                (tx0 + cols[0]) * TILE,
                (ty0 + rows[0]) * TILE,
                (cols[-1] - cols[0] + 1) * TILE,
                (rows[-1] - rows[0] + 1) * TILE,
            ).intersected(canvas)
            _clear(self._image, span)
            composite_layers(below, span, onto=self._image, at=span.topLeft())
            self._valid[ty0 : ty1 + 1, tx0 : tx1 + 1] = True
        return self._image.copy(rect)


def composite_with_cache(
    cache: BelowCache, layers: list, index: int, canvas: QRect, rect: QRect
) -> QImage:
    """Composite ``layers`` for ``rect``: cached result below ``index``, then the rest drawn."""
    out = cache.composite_below(layers[:index], canvas, rect)
    return composite_layers(layers[index:], rect, onto=out)


def _clear(image: QImage, rect: QRect) -> None:
    painter = QPainter(image)
    try:
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.fillRect(rect, Qt.GlobalColor.transparent)
    finally:
        painter.end()
