"""Rendering helpers for views: the tinted mask overlay and the selection outline.

Both work on a rectangle, so a view repainting a dirty rect pays for that rect only.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect
from PySide6.QtGui import QColor, QImage, QPolygonF

from editor.model.blending import PREMULTIPLIED, wrap_pixels

DEFAULT_MASK_COLOR = QColor(255, 40, 80)


def mask_overlay(
    mask: np.ndarray,
    rect: QRect | None = None,
    color: QColor = DEFAULT_MASK_COLOR,
    opacity: float = 0.5,
) -> QImage:
    """A premultiplied QImage of ``rect`` (mask coords): ``color`` where the mask is set,
    with alpha = mask * opacity. Draw it over the composite with normal blending."""
    h, w = mask.shape
    rect = QRect(0, 0, w, h) if rect is None else rect.intersected(QRect(0, 0, w, h))
    if rect.isEmpty():
        return QImage(0, 0, PREMULTIPLIED)
    part = mask[rect.y() : rect.y() + rect.height(), rect.x() : rect.x() + rect.width()]
    alpha = part.astype(np.float32) * float(opacity)
    out = np.empty(part.shape + (4,), np.uint8)
    for channel, value in enumerate((color.blue(), color.green(), color.red())):
        out[..., channel] = np.rint(alpha * (value / 255.0)).astype(np.uint8)
    out[..., 3] = np.rint(alpha).astype(np.uint8)
    return wrap_pixels(out).copy()


def outline_polygons(selection: np.ndarray, threshold: int = 128) -> list[QPolygonF]:
    """Closed outlines of the selection (where it is >= threshold), for marching ants.

    Polygons trace pixel edges in canvas coordinates; holes come out as their own polygons.
    """
    from engine.cvsafe import import_cv2

    cv2 = import_cv2()
    binary = (selection >= threshold).astype(np.uint8)
    if not binary.any():
        return []
    # Upscale 2x so contours follow pixel edges rather than pixel centres.
    big = np.repeat(np.repeat(binary, 2, axis=0), 2, axis=1)
    contours, _ = cv2.findContours(big, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        pts = contour[:, 0, :].astype(np.float64)
        # contour pixels of the 2x image: their outer edge is at (p + 1) / 2 for the far side
        xs = np.where(pts[:, 0] % 2 == 1, (pts[:, 0] + 1) / 2, pts[:, 0] / 2)
        ys = np.where(pts[:, 1] % 2 == 1, (pts[:, 1] + 1) / 2, pts[:, 1] / 2)
        polygons.append(QPolygonF([QPointF(x, y) for x, y in zip(xs, ys, strict=True)]))
    return polygons
