"""Selection and mask raster operations: shapes, combining, grow/shrink/feather.

Selections and masks are (h, w) uint8 arrays, 0 = outside, 255 = inside, values between
for soft edges. Shapes are rasterised with an antialiased QPainter on a Grayscale8 QImage
(works headless); morphology goes through OpenCV (``engine.core.cvsafe.import_cv2``, the one
place cv2 is imported, since it meddles with Qt's environment variables).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PySide6.QtCore import QPointF, QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPolygonF

from editor.model.blending import image_to_gray
from engine.core.cvsafe import import_cv2

MODES = ("replace", "add", "subtract", "intersect")


def _raster(size: QSize, draw) -> np.ndarray:
    img = QImage(size, QImage.Format.Format_Grayscale8)
    img.fill(0)
    painter = QPainter(img)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 255, 255))
        draw(painter)
    finally:
        painter.end()
    return image_to_gray(img)


def rect_mask(size: QSize, rect: QRect) -> np.ndarray:
    out = np.zeros((size.height(), size.width()), np.uint8)
    r = rect.normalized().intersected(QRect(0, 0, size.width(), size.height()))
    if not r.isEmpty():
        out[r.y() : r.y() + r.height(), r.x() : r.x() + r.width()] = 255
    return out


def ellipse_mask(size: QSize, rect: QRect) -> np.ndarray:
    r = rect.normalized()
    return _raster(size, lambda p: p.drawEllipse(r))


def polygon_mask(size: QSize, points: Iterable) -> np.ndarray:
    poly = QPolygonF([p if isinstance(p, QPointF) else QPointF(p[0], p[1]) for p in points])
    if poly.size() < 3:
        return np.zeros((size.height(), size.width()), np.uint8)
    return _raster(size, lambda p: p.drawPolygon(poly, Qt.FillRule.WindingFill))


def combine(current: np.ndarray, shape: np.ndarray, mode: str) -> np.ndarray:
    """Combine a new shape with the current selection (soft values: max/min arithmetic)."""
    shape = np.asarray(shape, np.uint8)
    if mode == "replace":
        return shape.copy()
    if mode == "add":
        return np.maximum(current, shape)
    if mode == "subtract":
        return np.minimum(current, 255 - shape)
    if mode == "intersect":
        return np.minimum(current, shape)
    raise ValueError(f"unknown selection mode {mode!r}; expected one of {MODES}")


def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (xx * xx + yy * yy <= r * r + r).astype(np.uint8)


def grow(selection: np.ndarray, radius: int) -> np.ndarray:
    """Dilate by a disk of ``radius`` pixels (soft edges move outwards with it)."""
    if radius <= 0:
        return selection.copy()
    return import_cv2().dilate(selection, _disk(radius))


def shrink(selection: np.ndarray, radius: int) -> np.ndarray:
    """Erode by a disk of ``radius`` pixels; the canvas border counts as outside."""
    if radius <= 0:
        return selection.copy()
    cv2 = import_cv2()
    return cv2.erode(selection, _disk(radius), borderType=cv2.BORDER_CONSTANT, borderValue=0)


def feather(selection: np.ndarray, radius: float) -> np.ndarray:
    """Soften the edge with a Gaussian blur whose 2-sigma reach is ``radius`` pixels."""
    if radius <= 0:
        return selection.copy()
    cv2 = import_cv2()
    sigma = max(radius / 2.0, 0.3)
    return cv2.GaussianBlur(selection, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)
