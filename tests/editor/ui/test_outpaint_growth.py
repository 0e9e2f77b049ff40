"""The region an outpaint's canvas growth asks to fill (editor.ui.generate.outpaint_growth)."""

from __future__ import annotations

from editor.ui.generate.outpaint_growth import new_pixels_box, union
from engine.request import Box


def test_new_pixels_box_covers_every_band_the_growth_added() -> None:
    assert new_pixels_box(320, 128, (0, 0, 64, 0)) == Box(256, 0, 64, 128)
    assert new_pixels_box(320, 192, (0, 0, 0, 64)) == Box(0, 128, 320, 64)
    assert new_pixels_box(300, 200, (20, 0, 0, 0)) == Box(0, 0, 20, 200)
    assert new_pixels_box(300, 200, (0, 30, 0, 0)) == Box(0, 0, 300, 30)
    # Two sides: an L-shaped growth, whose box is the whole canvas.
    assert new_pixels_box(300, 200, (0, 30, 40, 0)) == Box(0, 0, 300, 200)
    assert new_pixels_box(300, 200, (10, 0, 40, 0)) == Box(0, 0, 300, 200)
    assert new_pixels_box(300, 200, (0, 0, 0, 0)) is None


def test_a_narrow_frame_past_the_bottom_is_widened_to_the_whole_band() -> None:
    frame = Box(0, 64, 128, 128)  # on a canvas grown from 320x128 to 320x192
    assert union(frame, new_pixels_box(320, 192, (0, 0, 0, 64))) == Box(0, 64, 320, 128)
    assert union(frame, None) == frame
