"""The canvas widget: shows a composite image with zoom, pan, checkerboard and overlays.

Coordinates: `zoom` is device pixels per canvas pixel, so 100 % shows one image pixel on
one screen pixel on HiDPI screens too. Widget (logical) coordinates relate to canvas
coordinates by `widget = origin + canvas * zoom / devicePixelRatio`.

The view keeps one cached composite QImage of the whole canvas. Whoever owns the
document calls `update_canvas_rect(rect, patch)` with the recomposited pixels of a
changed rectangle; the view copies them in and repaints only that rectangle on screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
    QRegion,
    QTabletEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

ZOOM_LEVELS: tuple[float, ...] = (
    1 / 32, 1 / 24, 1 / 16, 1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3,
    1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0,
)  # fmt: skip
MIN_ZOOM, MAX_ZOOM = ZOOM_LEVELS[0], ZOOM_LEVELS[-1]
CHECKER_SIZE = 8  # logical pixels per checkerboard square
MASK_TINT = (255, 40, 80)  # overlay colour of the mask
MASK_TINT_OPACITY = 0.5


class PointerTool(Protocol):
    """What the view feeds pointer events into (positions in canvas pixels)."""

    def press(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None: ...
    def move(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None: ...
    def release(self, pos: QPointF, pressure: float, modifiers: Qt.KeyboardModifier) -> None: ...


def rgba_array_to_qimage(rgba: np.ndarray) -> QImage:
    """An HxWx4 (or HxWx3) uint8 array as a QImage that owns a copy of the pixels."""
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    fmt = QImage.Format.Format_RGBA8888 if rgba.shape[2] == 4 else QImage.Format.Format_RGB888
    return QImage(rgba.data, w, h, rgba.strides[0], fmt).copy()


def mask_overlay(mask: np.ndarray) -> QImage:
    """A tinted, premultiplied overlay whose opacity follows the 8-bit mask."""
    h, w = mask.shape
    alpha = (mask.astype(np.uint16) * int(255 * MASK_TINT_OPACITY) // 255).astype(np.uint8)
    out = np.empty((h, w, 4), np.uint8)
    for channel, value in enumerate(MASK_TINT):
        out[..., channel] = (alpha.astype(np.uint16) * value // 255).astype(np.uint8)
    out[..., 3] = alpha
    return QImage(out.data, w, h, w * 4, QImage.Format.Format_RGBA8888_Premultiplied).copy()


def _checker_brush(dpr: float) -> QBrush:
    size = int(round(CHECKER_SIZE * 2 * dpr))
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(255, 255, 255))
    painter = QPainter(pixmap)
    half = size // 2
    grey = QColor(204, 204, 204)
    painter.fillRect(0, 0, half, half, grey)
    painter.fillRect(half, half, size - half, size - half, grey)
    painter.end()
    pixmap.setDevicePixelRatio(dpr)
    return QBrush(pixmap)


class CanvasView(QWidget):
    zoom_changed = Signal(float)
    cursor_moved = Signal(QPointF)  # canvas position under the pointer

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasView")
        self.setMouseTracking(True)
        self.setTabletTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(200, 150)
        self._image: QImage | None = None
        self._mask_image: QImage | None = None
        self._mask_visible = True
        self._zoom = 1.0
        self._origin = QPointF(0, 0)
        self._fit_on_show = True
        self._checker: QBrush | None = None
        self._checker_dpr = 0.0
        self.tool: PointerTool | None = None
        # Called at the start of every paint: lets the document binding recomposite the
        # rectangles changed since the last paint, once, after edits have finished.
        self.before_paint: Callable[[], None] | None = None
        self._flushing = False
        self._stroke_active = False
        self._tablet_stroke = False
        self._pan_anchor: QPointF | None = None
        self._space_down = False
        self._cursor_pos: QPointF | None = None  # widget coordinates
        self._brush_size = 20.0
        self.show_brush_outline = True
        self._preview: tuple[QImage, QRect] | None = None
        self._overlay: tuple[QImage, QPoint] | None = None
        self._region: QRect | None = None
        self._frame: QRect | None = None
        self._selection_path = None
        self._tool_outline = None  # QPolygonF in canvas coordinates

    # Image ----------------------------------------------------------------------------
    def set_image(self, image: QImage | None, fit: bool = True) -> None:
        """Show a whole new composite (a new or resized document)."""
        self._image = (
            image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
            if image is not None
            else None
        )
        self._mask_image = None
        self._preview = None
        self._overlay = None
        if fit:
            self._fit_on_show = True
            if self.isVisible():
                self.fit()
        self._repaint_all()

    def image(self) -> QImage | None:
        return self._image

    def canvas_size(self) -> QSize:
        return self._image.size() if self._image is not None else QSize(0, 0)

    def update_canvas_rect(self, rect: QRect, patch: QImage) -> None:
        """Copy a recomposited rectangle into the cached composite and repaint just it."""
        if self._image is None:
            return
        painter = QPainter(self._image)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(rect.topLeft(), patch)
        painter.end()
        self.update_canvas_area(rect)

    def set_mask(self, mask: np.ndarray | None, rect: QRect | None = None) -> None:
        """Show the document mask (HxW uint8 for the whole canvas, or a crop at rect)."""
        if mask is None:
            self._mask_image = None
            self._repaint_all()
            return
        if rect is None or self._mask_image is None:
            if rect is None:
                self._mask_image = mask_overlay(mask)
                self._repaint_all()
                return
            size = self.canvas_size()
            self._mask_image = QImage(size, QImage.Format.Format_RGBA8888_Premultiplied)
            self._mask_image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(self._mask_image)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(rect.topLeft(), mask_overlay(mask))
        painter.end()
        self.update_canvas_area(rect)

    def has_mask_overlay(self) -> bool:
        return self._mask_image is not None

    def set_mask_visible(self, visible: bool) -> None:
        self._mask_visible = visible
        self.update()

    def set_selection_path(self, path) -> None:  # QPainterPath in canvas coordinates
        self._selection_path = path
        self._repaint_all()

    def set_tool_outline(self, polygon) -> None:  # QPolygonF (canvas coordinates) or None
        """The shape a selection tool is dragging."""
        old = self._tool_outline
        self._tool_outline = polygon
        for poly in (old, polygon):
            if poly is not None:
                self.update_canvas_area(poly.boundingRect().adjusted(-2, -2, 2, 2))

    def set_region(self, rect: QRect | None) -> None:
        """Outline of the box being generated (canvas coordinates), or None."""
        old, self._region = self._region, QRect(rect) if rect is not None else None
        self._update_outlines(old, self._region)

    def set_frame(self, rect: QRect | None) -> None:
        """The document's generation frame (canvas coordinates), or None."""
        old, self._frame = self._frame, QRect(rect) if rect is not None else None
        self._update_outlines(old, self._frame)

    def frame_rect(self) -> QRect | None:
        return QRect(self._frame) if self._frame is not None else None

    def _update_outlines(self, *rects: QRect | None) -> None:
        for r in rects:
            if r is not None:
                self.update_canvas_area(r.adjusted(-2, -2, 2, 2))

    def set_preview(self, image: QImage | None, rect: QRect | None = None) -> None:
        """A live generation preview drawn scaled into `rect` (canvas coordinates)."""
        old = self._preview[1] if self._preview else None
        self._preview = (image, QRect(rect)) if image is not None and rect is not None else None
        for r in (old, rect):
            if r is not None:
                self.update_canvas_area(r)

    def preview_rect(self) -> QRect | None:
        return QRect(self._preview[1]) if self._preview is not None else None

    def set_overlay(self, image: QImage | None, pos: QPoint | None = None) -> None:
        """A candidate result shown above the composite at `pos` without touching layers."""
        old = QRect(self._overlay[1], self._overlay[0].size()) if self._overlay else None
        self._overlay = (image, QPoint(pos)) if image is not None and pos is not None else None
        for r in (old, QRect(pos, image.size()) if self._overlay else None):
            if r is not None:
                self.update_canvas_area(r)

    # Mapping --------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    @property
    def origin(self) -> QPointF:
        return QPointF(self._origin)

    def _scale(self) -> float:
        """Logical widget pixels per canvas pixel."""
        return self._zoom / self.devicePixelRatioF()

    def canvas_to_widget(self, p: QPointF) -> QPointF:
        s = self._scale()
        return QPointF(self._origin.x() + p.x() * s, self._origin.y() + p.y() * s)

    def widget_to_canvas(self, p: QPointF) -> QPointF:
        s = self._scale()
        return QPointF((p.x() - self._origin.x()) / s, (p.y() - self._origin.y()) / s)

    def canvas_rect_to_widget(self, rect: QRectF | QRect) -> QRectF:
        rect = QRectF(rect)
        s = self._scale()
        return QRectF(
            self._origin.x() + rect.x() * s,
            self._origin.y() + rect.y() * s,
            rect.width() * s,
            rect.height() * s,
        )

    def _repaint_all(self) -> None:
        if not self._flushing:
            self.update()

    def update_canvas_area(self, rect: QRect | QRectF) -> None:
        """Schedule a repaint of the screen area covering a canvas rectangle."""
        if self._flushing:
            return
        self.update(self.canvas_rect_to_widget(rect).toAlignedRect().adjusted(-1, -1, 1, 1))

    # Zoom and pan ---------------------------------------------------------------------
    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the canvas point under `anchor` (widget coords; default centre)."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        if anchor is None:
            anchor = QPointF(self.width() / 2, self.height() / 2)
        canvas_point = self.widget_to_canvas(anchor)
        self._zoom = zoom
        s = self._scale()
        self._origin = QPointF(anchor.x() - canvas_point.x() * s, anchor.y() - canvas_point.y() * s)
        self._fit_on_show = False
        self.update()
        self.zoom_changed.emit(self._zoom)

    def zoom_in(self, anchor: QPointF | None = None) -> None:
        bigger = [z for z in ZOOM_LEVELS if z > self._zoom * 1.001]
        self.set_zoom(bigger[0] if bigger else MAX_ZOOM, anchor)

    def zoom_out(self, anchor: QPointF | None = None) -> None:
        smaller = [z for z in ZOOM_LEVELS if z < self._zoom / 1.001]
        self.set_zoom(smaller[-1] if smaller else MIN_ZOOM, anchor)

    def actual_size(self) -> None:
        """100 %: one canvas pixel per device pixel, centred."""
        self.set_zoom(1.0)
        self.center_canvas()

    def fit(self) -> None:
        """Zoom so the whole canvas fits the widget with a small margin, centred."""
        if self.before_paint is not None:
            # A document resized since the last paint: the view learns its size there.
            self.before_paint()
        size = self.canvas_size()
        if size.isEmpty() or self.width() <= 0 or self.height() <= 0:
            return
        margin = 16
        avail_w = max(1, self.width() - 2 * margin)
        avail_h = max(1, self.height() - 2 * margin)
        logical = min(avail_w / size.width(), avail_h / size.height())
        self._zoom = min(MAX_ZOOM, max(MIN_ZOOM, logical * self.devicePixelRatioF()))
        self.center_canvas()
        self.zoom_changed.emit(self._zoom)

    def center_canvas(self) -> None:
        size = self.canvas_size()
        s = self._scale()
        # Whole device pixels, so that 100 % shows every image pixel crisply.
        dpr = self.devicePixelRatioF()
        self._origin = QPointF(
            round((self.width() - size.width() * s) / 2 * dpr) / dpr,
            round((self.height() - size.height() * s) / 2 * dpr) / dpr,
        )
        self.update()

    def pan_by(self, dx: float, dy: float) -> None:
        self._origin += QPointF(dx, dy)
        self._fit_on_show = False
        self.update()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._fit_on_show:
            self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_on_show:
            self.fit()

    # Brush outline --------------------------------------------------------------------
    @property
    def brush_size(self) -> float:
        return self._brush_size

    def set_brush_size(self, size: float) -> None:
        old = self._outline_rect()
        self._brush_size = max(1.0, float(size))
        self._update_outline(old)

    def _outline_rect(self) -> QRect | None:
        if self._cursor_pos is None or not self.show_brush_outline:
            return None
        r = self._brush_size * self._scale() / 2 + 2
        c = self._cursor_pos
        return QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r).toAlignedRect()

    def _update_outline(self, old: QRect | None) -> None:
        for r in (old, self._outline_rect()):
            if r is not None:
                self.update(r)

    def _set_cursor_pos(self, pos: QPointF | None) -> None:
        old = self._outline_rect()
        self._cursor_pos = pos
        self._update_outline(old)
        if pos is not None:
            self.cursor_moved.emit(self.widget_to_canvas(pos))

    # Painting -------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        if self.before_paint is not None:
            # Updates requested while flushing are covered by this very paint (the
            # dirty areas were scheduled when the document changed), so skip them.
            self._flushing = True
            try:
                self.before_paint()
            finally:
                self._flushing = False
        painter = QPainter(self)
        exposed = event.rect()
        painter.fillRect(exposed, self.palette().color(self.backgroundRole()).darker(115))
        if self._image is None:
            painter.end()
            return
        dpr = self.devicePixelRatioF()
        if self._checker is None or self._checker_dpr != dpr:
            self._checker = _checker_brush(dpr)
            self._checker_dpr = dpr
        canvas_on_screen = self.canvas_rect_to_widget(QRectF(self._image.rect()))
        visible = canvas_on_screen.intersected(QRectF(exposed))
        if not visible.isEmpty():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._zoom < 1.0)
            preview_target = None
            if self._preview is not None:
                image, rect = self._preview
                preview_target = self.canvas_rect_to_widget(rect)
                if not image.hasAlphaChannel():
                    # An opaque preview hides everything under it, and during a job it is
                    # what repaints on every step: skip scaling the composite beneath it.
                    hidden = preview_target.toAlignedRect().adjusted(1, 1, -1, -1)
                    painter.setClipRegion(QRegion(exposed).subtracted(QRegion(hidden)))
            painter.fillRect(visible, self._checker)
            src = self._exposed_source_rect(visible)
            if not src.isEmpty():
                target = self.canvas_rect_to_widget(src)
                painter.drawImage(target, self._image, QRectF(src))
                if self._mask_image is not None and self._mask_visible:
                    painter.drawImage(target, self._mask_image, QRectF(src))
                # Results go above the mask tint so they are seen as they will look.
                if self._overlay is not None:
                    image, pos = self._overlay
                    painter.drawImage(self.canvas_rect_to_widget(QRect(pos, image.size())), image)
            painter.setClipping(False)
            if preview_target is not None:
                painter.drawImage(preview_target, self._preview[0])
        self._paint_decorations(painter)
        painter.end()

    def _exposed_source_rect(self, widget_rect: QRectF) -> QRect:
        top_left = self.widget_to_canvas(widget_rect.topLeft())
        bottom_right = self.widget_to_canvas(widget_rect.bottomRight())
        x0 = max(0, math.floor(top_left.x()))
        y0 = max(0, math.floor(top_left.y()))
        x1 = min(self._image.width(), math.ceil(bottom_right.x()))
        y1 = min(self._image.height(), math.ceil(bottom_right.y()))
        return QRect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def _paint_decorations(self, painter: QPainter) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for shape in (self._selection_path, self._tool_outline):
            if shape is None or shape.isEmpty():
                continue
            painter.save()
            s = self._scale()
            painter.translate(self._origin)
            painter.scale(s, s)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for color, offset in ((Qt.GlobalColor.black, 0), (Qt.GlobalColor.white, 4)):
                pen = QPen(color, 0, Qt.PenStyle.CustomDashLine)
                pen.setDashPattern([4, 4])
                pen.setDashOffset(offset)
                pen.setCosmetic(True)
                painter.setPen(pen)
                if isinstance(shape, QPainterPath):
                    painter.drawPath(shape)
                else:
                    painter.drawPolygon(shape)
            painter.restore()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for rect, color in (
            (self._frame, QColor(255, 160, 40)),
            (self._region, QColor(80, 160, 255)),
        ):
            if rect is not None:
                pen = QPen(color, 1.5, Qt.PenStyle.DashLine)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.drawRect(self.canvas_rect_to_widget(rect))
        if self._cursor_pos is not None and self.show_brush_outline and not self._panning():
            r = self._brush_size * self._scale() / 2
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for color, width in ((QColor(0, 0, 0, 160), 2.0), (QColor(255, 255, 255, 220), 1.0)):
                pen = QPen(color, width)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.drawEllipse(self._cursor_pos, r, r)

    # Input ----------------------------------------------------------------------------
    def _panning(self) -> bool:
        return self._pan_anchor is not None or self._space_down

    def _start_pan(self, pos: QPointF) -> None:
        self._pan_anchor = QPointF(pos)
        self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def _end_pan(self) -> None:
        self._pan_anchor = None
        self._update_cursor_shape()

    def _update_cursor_shape(self) -> None:
        if self._space_down:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self.show_brush_outline:
            self.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.setCursor(Qt.CursorShape.ArrowCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._start_pan(pos)
            return
        if event.button() == Qt.MouseButton.LeftButton and self.tool is not None:
            self._stroke_active = True
            self.tool.press(self.widget_to_canvas(pos), 1.0, event.modifiers())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._pan_anchor is not None:
            delta = pos - self._pan_anchor
            self._pan_anchor = QPointF(pos)
            self.pan_by(delta.x(), delta.y())
            return
        self._set_cursor_pos(pos)
        if self._stroke_active and self.tool is not None:
            self.tool.move(self.widget_to_canvas(pos), 1.0, event.modifiers())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._pan_anchor is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._end_pan()
            return
        if event.button() == Qt.MouseButton.LeftButton and self._stroke_active:
            self._stroke_active = False
            if self.tool is not None:
                self.tool.release(self.widget_to_canvas(pos), 1.0, event.modifiers())

    def tabletEvent(self, event: QTabletEvent) -> None:
        # Accepting stops Qt from synthesising the matching mouse event.
        pos = event.position()
        pressure = float(event.pressure())
        kind = event.type()
        if self.tool is None or self._panning():
            event.ignore()
            return
        if kind == QEvent.Type.TabletPress:
            self._tablet_stroke = self._stroke_active = True
            self.tool.press(self.widget_to_canvas(pos), pressure, event.modifiers())
        elif kind == QEvent.Type.TabletMove:
            self._set_cursor_pos(pos)
            if self._tablet_stroke:
                self.tool.move(self.widget_to_canvas(pos), pressure, event.modifiers())
        elif kind == QEvent.Type.TabletRelease and self._tablet_stroke:
            self._tablet_stroke = self._stroke_active = False
            self.tool.release(self.widget_to_canvas(pos), pressure, event.modifiers())
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta == 0:
            pixel = event.pixelDelta()
            self.pan_by(pixel.x(), pixel.y())
            return
        factor = 1.25 ** (delta / 120)
        self.set_zoom(self._zoom * factor, event.position())

    def hold_space(self, held: bool) -> None:
        """Space held: a left drag pans. The window routes Space here from the docks too
        (editor.ui.canvas_keys)."""
        if held != self._space_down:
            self._space_down = held
            self._update_cursor_shape()
            self._set_cursor_pos(self._cursor_pos)  # no brush outline while panning

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.hold_space(True)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.hold_space(False)
            return
        super().keyReleaseEvent(event)

    def enterEvent(self, event) -> None:
        self._update_cursor_shape()
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:
        self._set_cursor_pos(None)
        super().leaveEvent(event)

    def focusOutEvent(self, event) -> None:
        # A space released while another widget had focus must not leave us panning.
        self._space_down = False
        self._update_cursor_shape()
        super().focusOutEvent(event)
