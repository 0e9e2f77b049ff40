"""Classical fill (OpenCV Telea / Navier-Stokes) and outpaint pre-fill."""

from __future__ import annotations

import numpy as np
import pytest

from engine.fill import classical_fill, prefill_transparent


def _two_tone(h: int = 120, w: int = 160) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = (200, 40, 40)
    img[h // 2 :] = (30, 60, 220)
    return img


@pytest.mark.parametrize("method", ["telea", "ns", "Navier-Stokes"])
def test_fill_removes_object_and_keeps_outside_bit_identical(method):
    img = _two_tone()
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[20:40, 60:100] = 255  # an object in the red half
    img[mask > 0] = (0, 255, 0)
    out = classical_fill(img, mask, method)
    assert np.array_equal(out[mask == 0], img[mask == 0])
    filled = out[25:35, 70:90].reshape(-1, 3).astype(int)
    # The green object is gone: filled from the red around it.
    assert (np.abs(filled - (200, 40, 40)).max(axis=1) < 30).all()


def test_fill_rgba_makes_hole_opaque_and_keeps_rest():
    img = np.dstack([_two_tone(), np.full((120, 160), 255, np.uint8)])
    img[80:100, 10:30, 3] = 0
    mask = np.zeros((120, 160), np.uint8)
    mask[80:100, 10:30] = 255
    out = classical_fill(img, mask)
    assert (out[80:100, 10:30, 3] == 255).all()
    assert np.array_equal(out[mask == 0], img[mask == 0])


def test_fill_edge_cases_and_errors():
    img = _two_tone()
    empty = np.zeros(img.shape[:2], np.uint8)
    assert np.array_equal(classical_fill(img, empty), img)
    full = np.full(img.shape[:2], 255, np.uint8)
    assert (classical_fill(img, full) == 127).all()
    with pytest.raises(ValueError, match="unknown fill method"):
        classical_fill(img, empty, "magic")
    with pytest.raises(ValueError, match="mask size"):
        classical_fill(img, np.zeros((5, 5), np.uint8))


@pytest.mark.parametrize("size", [(100, 140), (600, 900)])  # small hole, and a reduced-copy one
def test_prefill_extends_surrounding_colours_into_transparent_area(size):
    h, w = size
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = _two_tone(h, w)
    rgba[..., 3] = 255
    rgba[:, w // 2 :, :3] = 0  # transparent right half, black underneath as editors leave it
    rgba[:, w // 2 :, 3] = 0
    rgba[:, w // 2 - 4 : w // 2, 3] = 128  # a semi-transparent fringe
    out = prefill_transparent(rgba)
    assert out.shape == (h, w, 3)
    opaque = rgba[..., 3] == 255
    assert np.array_equal(out[opaque], rgba[..., :3][opaque])
    # Far into the hole the colours continue the top (red) and bottom (blue) halves.
    top = out[h // 8, w - 5].astype(int)
    bottom = out[h - h // 8, w - 5].astype(int)
    assert top[0] > 150 and top[2] < 100, top
    assert bottom[2] > 150 and bottom[0] < 100, bottom


def test_prefill_without_hole_or_without_content():
    rgba = np.full((20, 20, 4), 255, np.uint8)
    rgba[..., 0] = 3
    assert np.array_equal(prefill_transparent(rgba), rgba[..., :3])
    assert (prefill_transparent(np.zeros((20, 20, 4), np.uint8)) == 127).all()
    with pytest.raises(ValueError):
        prefill_transparent(np.zeros((20, 20, 3), np.uint8))
