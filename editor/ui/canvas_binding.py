"""Keeps a CanvasView showing a Document: composite, mask overlay and selection outline.

Only the rectangles the document reports as changed are recomposited and repainted.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QRect
from PySide6.QtGui import QBitmap, QImage, QPainterPath, QRegion

from editor.ui.canvas_view import CanvasView


def selection_outline(selection: np.ndarray, box: QRect | None) -> QPainterPath:
    """The outline of `selection >= 128` (canvas coordinates), computed inside `box`."""
    path = QPainterPath()
    if box is None or box.isEmpty():
        return path
    crop = np.ascontiguousarray(
        (selection[box.y() : box.bottom() + 1, box.x() : box.right() + 1] >= 128).astype(np.uint8)
        * 255
    )
    h, w = crop.shape
    image = QImage(crop.data, w, h, w, QImage.Format.Format_Grayscale8)
    # QBitmap treats dark pixels as set, so invert: selected -> black.
    image.invertPixels()
    region = QRegion(QBitmap.fromImage(image))
    path.addRegion(region.translated(box.x(), box.y()))
    return path.simplified()


class CanvasBinding(QObject):
    def __init__(self, canvas: CanvasView, document, parent: QObject | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.canvas = canvas
        self.document = document
        canvas.set_image(document.composite(), fit=True)
        self._show_mask(document.rect())
        self._show_selection()
        document.changed.connect(self._changed)
        document.size_changed.connect(self._resized)
        document.mask_changed.connect(self._show_mask)
        document.selection_changed.connect(self._show_selection)

    def disconnect_all(self) -> None:
        doc = self.document
        doc.changed.disconnect(self._changed)
        doc.size_changed.disconnect(self._resized)
        doc.mask_changed.disconnect(self._show_mask)
        doc.selection_changed.disconnect(self._show_selection)

    def _changed(self, rect: QRect) -> None:
        rect = rect.intersected(self.document.rect())
        if rect.isEmpty():
            return
        if self.canvas.canvas_size() != self.document.size():
            self._resized()
            return
        self.canvas.update_canvas_rect(rect, self.document.composite(rect))

    def _resized(self, *_args) -> None:  # noqa: ANN002
        self.canvas.set_image(self.document.composite(), fit=False)
        self._show_mask(self.document.rect())
        self._show_selection()

    def _show_mask(self, rect: QRect) -> None:
        doc = self.document
        rect = QRect(rect).intersected(doc.rect())
        if not doc.has_mask() and not self.canvas.has_mask_overlay():
            return
        if rect == doc.rect():
            self.canvas.set_mask(doc.mask if doc.has_mask() else None)
            return
        if rect.isEmpty():
            return
        crop = doc.mask[rect.y() : rect.bottom() + 1, rect.x() : rect.right() + 1]
        self.canvas.set_mask(np.ascontiguousarray(crop), rect)

    def _show_selection(self, *_args) -> None:  # noqa: ANN002
        doc = self.document
        self.canvas.set_selection_path(selection_outline(doc.selection, doc.selection_bbox()))
