"""The drawing helpers the canvas uses: mask tint, selection outline, RGBA -> QImage."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect

from editor.ui.canvas_binding import selection_outline
from editor.ui.canvas_view import MASK_TINT, mask_overlay, rgba_array_to_qimage


def test_mask_overlay_is_tinted_by_mask_value() -> None:
    mask = np.zeros((10, 10), np.uint8)
    mask[2:4, 2:4] = 255
    mask[6, 6] = 100
    img = mask_overlay(mask)
    assert (img.width(), img.height()) == (10, 10)
    full, part, none = img.pixelColor(3, 3), img.pixelColor(6, 6), img.pixelColor(0, 0)
    assert full.alpha() == 127 and none.alpha() == 0
    assert 45 <= part.alpha() <= 55  # follows the mask value
    # Unpremultiplied, the tint colour comes back (within rounding).
    assert abs(full.red() - MASK_TINT[0]) <= 2 and abs(full.green() - MASK_TINT[1]) <= 2


def test_selection_outline_follows_pixel_edges() -> None:
    sel = np.zeros((20, 20), np.uint8)
    sel[5:10, 4:12] = 255
    sel[5, 4] = 100  # under the 128 threshold: outside
    path = selection_outline(sel, QRect(0, 0, 20, 20))
    r = path.boundingRect()
    assert (r.x(), r.y(), r.width(), r.height()) == (4, 5, 8, 5)
    assert path.contains(QPointF(5.5, 6.5)) and not path.contains(QPointF(4.5, 5.5))
    assert selection_outline(sel, None).isEmpty()


def test_selection_outline_only_looks_inside_its_box() -> None:
    sel = np.zeros((20, 20), np.uint8)
    sel[2:4, 2:4] = 255
    sel[12:16, 10:18] = 255
    r = selection_outline(sel, QRect(10, 12, 8, 4)).boundingRect()
    assert (r.x(), r.y(), r.width(), r.height()) == (10, 12, 8, 4)


def test_rgba_array_to_qimage_keeps_straight_colours_and_owns_its_pixels() -> None:
    rgba = np.zeros((3, 5, 4), np.uint8)
    rgba[1, 2] = (200, 100, 50, 128)
    img = rgba_array_to_qimage(rgba)
    rgba[1, 2] = 0  # the image holds its own copy
    c = img.pixelColor(2, 1)
    assert (img.width(), img.height()) == (5, 3)
    assert (c.red(), c.green(), c.blue(), c.alpha()) == (200, 100, 50, 128)
    rgb = rgba_array_to_qimage(np.full((2, 2, 3), 7, np.uint8))
    assert rgb.pixelColor(1, 1).getRgb() == (7, 7, 7, 255)
