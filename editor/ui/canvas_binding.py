"""Keeps a CanvasView showing a Document: composite, mask overlay and selection outline.

Only the rectangles the document reports as changed are recomposited and repainted.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QRect
from PySide6.QtGui import QBitmap, QPainterPath, QRegion

from editor.model.array_rects import crop
from editor.model.blending import wrap_gray
from editor.model.document import Document
from editor.ui.canvas_view import CanvasView
from engine.request import Box


def selection_outline(selection: np.ndarray, box: QRect | None) -> QPainterPath:
    """The outline of `selection >= 128` (canvas coordinates), computed inside `box`."""
    path = QPainterPath()
    if box is None or box.isEmpty():
        return path
    # QBitmap treats dark pixels as set: selected -> black.
    dark = np.where(crop(selection, box) >= 128, 0, 255).astype(np.uint8)
    region = QRegion(QBitmap.fromImage(wrap_gray(dark)))
    path.addRegion(region.translated(box.x(), box.y()))
    return path.simplified()


class CanvasBinding(QObject):
    """Document -> view. Changed rectangles are collected and recomposited lazily, when
    the view paints: a burst of signals costs one composite, and compositing never runs
    in the middle of an edit (when the document may be between two consistent states)."""

    MAX_RECTS = 16  # more separate dirty rects than this are merged into their bounds

    def __init__(
        self, canvas: CanvasView, document: Document, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.document = document
        self._dirty = QRegion()
        self._size_dirty = False
        self._mask_dirty = QRegion()
        self._selection_dirty = False
        canvas.set_image(document.composite(), fit=True)
        canvas.before_paint = self.flush
        self._show_mask(document.rect())
        self._show_selection()
        document.changed.connect(self._changed)
        document.size_changed.connect(self._resized)
        document.mask_changed.connect(self._mask_changed)
        document.selection_changed.connect(self._selection_changed)
        document.frame_changed.connect(self._show_frame)
        self._show_frame(document.generation_frame)

    def disconnect_all(self) -> None:
        doc = self.document
        doc.changed.disconnect(self._changed)
        doc.size_changed.disconnect(self._resized)
        doc.mask_changed.disconnect(self._mask_changed)
        doc.selection_changed.disconnect(self._selection_changed)
        doc.frame_changed.disconnect(self._show_frame)
        if self.canvas.before_paint == self.flush:
            self.canvas.before_paint = None

    # Signals only record what to redo and schedule a repaint -----------------------
    def _changed(self, rect: QRect) -> None:
        rect = rect.intersected(self.document.rect())
        if not rect.isEmpty():
            self._dirty = self._dirty.united(rect)
            self.canvas.update_canvas_area(rect)

    def _resized(self, *_args: object) -> None:
        self._size_dirty = True
        self.canvas.update()

    def _mask_changed(self, rect: QRect) -> None:
        self._mask_dirty = self._mask_dirty.united(QRect(rect))
        self.canvas.update_canvas_area(rect)

    def _selection_changed(self, *_args: object) -> None:
        self._selection_dirty = True
        self.canvas.update()

    # Work happens here, just before the view paints ---------------------------------
    def flush(self) -> None:
        doc = self.document
        if self._size_dirty or self.canvas.canvas_size() != doc.size():
            self._size_dirty = False
            self._dirty = QRegion()
            self._mask_dirty = QRegion()
            # Only user actions change the canvas size (Scale Image, Canvas Size, Upscale,
            # outpaint, their undo): the old zoom would leave the picture in a corner.
            self.canvas.set_image(doc.composite(), fit=True)
            self._show_mask(doc.rect())
            self._selection_dirty = True
        if not self._dirty.isEmpty():
            dirty, self._dirty = self._dirty, QRegion()
            rects = list(dirty) if dirty.rectCount() <= self.MAX_RECTS else [dirty.boundingRect()]
            for rect in rects:
                self.canvas.update_canvas_rect(rect, doc.composite(rect))
        if not self._mask_dirty.isEmpty():
            mask_dirty, self._mask_dirty = self._mask_dirty, QRegion()
            self._show_mask(mask_dirty.boundingRect())
        if self._selection_dirty:
            self._selection_dirty = False
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
        self.canvas.set_mask(np.ascontiguousarray(crop(doc.mask, rect)), rect)

    def _show_frame(self, frame: Box | None) -> None:
        rect = QRect(frame.x, frame.y, frame.width, frame.height) if frame is not None else None
        self.canvas.set_frame(rect)

    def _show_selection(self) -> None:
        doc = self.document
        self.canvas.set_selection_path(selection_outline(doc.selection, doc.selection_bbox()))
