"""Rectangles on numpy pixel arrays: bounding box, crop, paste, and QRect <-> Box.

The model keeps rectangles as ``QRect`` (what views and signals carry); the engine speaks
``engine.request.Box``. These helpers are the one place the two meet and the one place
a rectangle becomes array slices, so an off-by-one cannot hide in a copy of them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

from engine.region import mask_bbox
from engine.request import Box


def rect_to_box(rect: QRect) -> Box:
    return Box(rect.x(), rect.y(), rect.width(), rect.height())


def box_to_rect(box: Box) -> QRect:
    return QRect(box.x, box.y, box.width, box.height)


def bbox(arr: np.ndarray) -> QRect | None:
    """Bounding rectangle of the non-zero pixels, or None."""
    box = mask_bbox(arr)
    return None if box is None else box_to_rect(box)


def crop(arr: np.ndarray, rect: QRect) -> np.ndarray:
    """The part of ``arr`` under ``rect`` (a writable view; rect inside the array)."""
    return arr[rect.y() : rect.y() + rect.height(), rect.x() : rect.x() + rect.width()]


def paste(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    """Copy ``src`` into ``dst`` at (x, y), clipped to ``dst``."""
    h, w = dst.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + src.shape[1], w), min(y + src.shape[0], h)
    if x1 > x0 and y1 > y0:
        dst[y0:y1, x0:x1] = src[y0 - y : y1 - y, x0 - x : x1 - x]
