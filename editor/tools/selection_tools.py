"""Rectangle, ellipse and lasso selection, and the generation-frame tool.

While dragging, ``outline()`` gives the shape to draw (canvas coords); ``end()`` applies it
as one undo step, combined with the current selection by ``mode`` (replace, add, subtract,
intersect: the tools bridge sets it from Shift/Ctrl). A click without a drag deselects.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF
from PySide6.QtGui import QPainterPath, QPolygonF

from editor.model.document import Document
from editor.tools.base import Tool

MIN_DRAG = 2  # pixels; less is a click


class _DragRectTool(Tool):
    def __init__(self, document: Document) -> None:
        super().__init__(document)
        self.mode = "replace"
        self._a = QPointF()
        self._b = QPointF()

    def begin(self, x: float, y: float, pressure: float = 1.0) -> None:
        super().begin(x, y, pressure)
        self._a = self._b = QPointF(x, y)

    def move(self, x: float, y: float, pressure: float = 1.0) -> None:
        if self.active:
            self._b = QPointF(x, y)

    def rect(self) -> QRect:
        """The dragged rectangle in whole canvas pixels."""
        return QRectF(self._a, self._b).normalized().toAlignedRect()

    def outline(self) -> QPolygonF:
        return QPolygonF(QRectF(self.rect()))

    def end(self) -> None:
        if not self.active:
            return
        super().end()
        r = self.rect()
        if r.width() < MIN_DRAG and r.height() < MIN_DRAG:
            self._click()
        else:
            self._apply(r)

    def _click(self) -> None:
        if self.mode == "replace":
            self.document.select_none()

    def _apply(self, rect: QRect) -> None:
        raise NotImplementedError


class RectSelectTool(_DragRectTool):
    name = "select-rect"

    def _apply(self, rect: QRect) -> None:
        self.document.select_rect(rect, self.mode)


class EllipseSelectTool(_DragRectTool):
    name = "select-ellipse"

    def outline(self) -> QPolygonF:
        path = QPainterPath()
        path.addEllipse(QRectF(self.rect()))
        return path.toFillPolygon()

    def _apply(self, rect: QRect) -> None:
        self.document.select_ellipse(rect, self.mode)


class FrameTool(_DragRectTool):
    """Draws the explicit generation frame (the txt2img target box)."""

    name = "frame"

    def _click(self) -> None:
        pass

    def _apply(self, rect: QRect) -> None:
        # May reach past the canvas: the region is then outpainted (transparent there).
        self.document.set_generation_frame(rect)


class LassoSelectTool(Tool):
    name = "select-lasso"

    def __init__(self, document: Document) -> None:
        super().__init__(document)
        self.mode = "replace"
        self._points: list[QPointF] = []

    def begin(self, x: float, y: float, pressure: float = 1.0) -> None:
        super().begin(x, y, pressure)
        self._points = [QPointF(x, y)]

    def move(self, x: float, y: float, pressure: float = 1.0) -> None:
        if self.active:
            last = self._points[-1]
            if abs(last.x() - x) + abs(last.y() - y) >= 1.0:
                self._points.append(QPointF(x, y))

    def outline(self) -> QPolygonF:
        return QPolygonF(self._points)

    def end(self) -> None:
        if not self.active:
            return
        super().end()
        points, self._points = self._points, []
        if len(points) >= 3:
            self.document.select_polygon(points, self.mode)
        elif self.mode == "replace":
            self.document.select_none()
