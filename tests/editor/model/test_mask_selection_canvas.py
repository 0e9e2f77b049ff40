"""Mask and selection operations, canvas resize/expand/scale, clear and fill."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

from editor.model import Document
from editor.model.array_rects import bbox
from engine.request import Box


def test_mask_invert_clear_from_selection_with_undo():
    doc = Document(50, 40)
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 5:15] = 200
    doc.set_mask(mask)
    assert doc.mask_bbox() == QRect(5, 10, 10, 10)
    doc.invert_mask()
    assert doc.mask[15, 10] == 55 and doc.mask[0, 0] == 255
    assert doc.history.undo_bytes() == 10 * 10  # set_mask kept its rect; invert keeps nothing
    doc.clear_mask()
    assert not doc.has_mask()
    doc.select_rect(QRect(30, 30, 5, 5))
    doc.mask_from_selection()
    assert doc.mask_bbox() == QRect(30, 30, 5, 5)
    assert doc.history.texts() == [
        "Set mask",
        "Invert mask",
        "Clear mask",
        "Select rectangle",
        "Mask from selection",
    ]
    for _ in range(4):
        doc.undo()
    assert np.array_equal(doc.mask, mask)


def test_selection_grow_shrink_feather_invert_all_none():
    doc = Document(100, 100)
    doc.select_rect(QRect(40, 40, 20, 20))
    doc.grow_selection(5)
    assert doc.selection_bbox() == QRect(35, 35, 30, 30)
    doc.shrink_selection(8)
    assert doc.selection_bbox() == QRect(43, 43, 14, 14)
    doc.feather_selection(4)
    sel = doc.selection
    assert sel[50, 50] == 255 and 0 < sel[43, 50] < 255 and sel[38, 50] > 0
    doc.invert_selection()
    assert doc.selection[0, 0] == 255 and doc.selection[50, 50] == 0
    doc.select_all()
    assert doc.selection_bbox() == QRect(0, 0, 100, 100)
    doc.select_none()
    assert not doc.has_selection()
    assert doc.history.texts()[1:] == [
        "Grow selection",
        "Shrink selection",
        "Feather selection",
        "Invert selection",
        "Select all",
        "Deselect",
    ]
    doc.undo()
    doc.undo()
    assert doc.selection[0, 0] == 255


def test_selection_modes_combine():
    doc = Document(30, 10)
    doc.select_rect(QRect(0, 0, 10, 10))
    doc.select_rect(QRect(20, 0, 10, 10), mode="add")
    assert doc.selection[5, 5] == 255 and doc.selection[5, 25] == 255
    doc.select_rect(QRect(5, 0, 20, 10), mode="intersect")
    assert doc.selection_bbox() == QRect(5, 0, 20, 10)
    assert doc.selection[5, 15] == 0
    doc.select_rect(QRect(0, 0, 8, 10), mode="subtract")
    assert doc.selection_bbox() == QRect(8, 0, 17, 10)


def test_expand_canvas_keeps_pixels_in_place_and_undoes_exactly():
    doc = Document(40, 30)
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[...] = (5, 6, 7, 255)
    layer = doc.add_layer("bg", rgba=rgba)
    doc.select_rect(QRect(1, 2, 3, 4))
    mask = np.zeros((30, 40), np.uint8)
    mask[10, 10] = 255
    doc.set_mask(mask)
    doc.set_generation_frame(Box(0, 0, 8, 8))
    sizes = []
    doc.size_changed.connect(sizes.append)
    doc.expand_canvas(left=16, top=8, right=4, bottom=0)
    assert (doc.width, doc.height) == (60, 38) and sizes[-1].width() == 60
    out = doc.composite_array()
    assert tuple(out[0, 0]) == (0, 0, 0, 0)  # new area is transparent (to outpaint)
    assert tuple(out[8, 16]) == (5, 6, 7, 255)  # old top-left moved by (16, 8)
    assert (layer.x, layer.y) == (16, 8)
    assert doc.selection_bbox() == QRect(17, 10, 3, 4)
    assert doc.mask[18, 26] == 255
    assert doc.generation_frame == Box(16, 8, 8, 8)
    assert doc.history.undo_text() == "Expand canvas"
    doc.undo()
    assert (doc.width, doc.height) == (40, 30)
    assert (layer.x, layer.y) == (0, 0)
    assert np.array_equal(doc.mask, mask)
    assert doc.selection_bbox() == QRect(1, 2, 3, 4)
    assert doc.generation_frame == Box(0, 0, 8, 8)


def test_shrinking_canvas_keeps_layer_pixels_for_a_later_expand():
    doc = Document(40, 30)
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[:, 30:] = (255, 0, 0, 255)
    layer = doc.add_layer("bg", rgba=rgba)
    doc.resize_canvas(20, 30)
    assert doc.composite_array().shape == (30, 20, 4)
    assert layer.width == 40  # not cut
    doc.resize_canvas(40, 30)
    assert tuple(doc.composite_array()[0, 35]) == (255, 0, 0, 255)
    assert doc.history.texts()[-2:] == ["Resize canvas", "Resize canvas"]


def test_painting_after_expand_reaches_the_new_area():
    from editor.tools.brush import BrushSettings, BrushTool

    doc = Document(40, 40)
    doc.add_layer("bg", rgba=np.full((40, 40, 4), 255, np.uint8))
    doc.expand_canvas(left=20)
    tool = BrushTool(doc, BrushSettings(size=4, hardness=1.0, color=(0, 0, 0)))
    tool.begin(5, 20)
    tool.move(30, 20)
    tool.end()
    out = doc.composite_array()
    assert tuple(out[20, 5]) == (0, 0, 0, 255) and tuple(out[20, 25]) == (0, 0, 0, 255)
    doc.undo()
    assert doc.layers[0].bounds() == QRect(20, 0, 40, 40)


def test_clear_and_fill_selected_pixels():
    doc = Document(40, 20)
    layer = doc.add_layer("bg", rgba=np.full((20, 40, 4), 200, np.uint8))
    before = layer.pixels.copy()
    doc.select_rect(QRect(0, 0, 10, 20))
    assert doc.clear_selected()
    doc.select_rect(QRect(30, 0, 10, 20))
    assert doc.fill_selected((0, 0, 255), opacity=0.5)
    out = doc.composite_array()
    assert out[5, 5, 3] == 0 and tuple(out[5, 20]) == (200, 200, 200, 200)
    # 50 % blue "over" a straight (200, 200, 200) pixel of alpha 200/255
    over = 0.5 + (200 / 255) * 0.5
    grey = (200 / 255) * 0.5 * 200 / over
    blue = (0.5 * 255 + (200 / 255) * 0.5 * 200) / over
    want = (grey, grey, blue, over * 255)
    assert np.abs(out[5, 35].astype(float) - want).max() <= 2
    assert doc.history.texts()[-3:] == ["Clear", "Select rectangle", "Fill selection"]
    doc.undo()
    doc.undo()
    doc.undo()
    assert np.array_equal(layer.pixels, before)


def test_scale_image_resamples_everything_and_undoes():
    doc = Document(40, 20)
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[...] = (0, 255, 0, 255)
    layer = doc.add_layer("green", rgba=rgba, x=20, y=10)
    doc.select_rect(QRect(0, 0, 20, 10))
    doc.set_generation_frame(Box(4, 4, 8, 8))
    doc.scale_image(80, 40)
    assert (doc.width, doc.height) == (80, 40)
    scaled = doc.layers[0]
    assert scaled.bounds() == QRect(40, 20, 20, 20)
    assert tuple(doc.composite_array()[30, 50]) == (0, 255, 0, 255)
    assert bbox(doc.selection >= 128) == QRect(0, 0, 40, 20)  # edges resampled soft
    assert doc.generation_frame == Box(8, 8, 16, 16)
    assert doc.history.undo_text() == "Scale image"
    doc.undo()
    assert doc.layers == (layer,) and (doc.width, doc.height) == (40, 20)
    assert doc.selection_bbox() == QRect(0, 0, 20, 10)
    assert doc.generation_frame == Box(4, 4, 8, 8)


def test_bad_arrays_are_refused_without_changing_anything():
    import pytest

    doc = Document(20, 10)
    with pytest.raises(ValueError, match="uint8"):
        doc.set_mask(np.ones((10, 20), np.float32))
    with pytest.raises(ValueError, match="must be"):
        doc.set_mask(np.ones((5, 5), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGBA"):
        doc.accept_patch(np.ones((4, 4, 4), np.float64), 0, 0)
    assert doc.history.count() == 0 and doc.layers == () and not doc.has_mask()
    doc.set_mask(np.ones((10, 20), bool))  # booleans mean fully masked
    assert doc.mask.min() == 255
    doc.selection_from_mask()
    assert doc.selection_bbox() == QRect(0, 0, 20, 10)


def test_selection_from_mask_is_one_step_that_undoes_and_redoes():
    doc = Document(30, 20)
    mask = np.zeros((20, 30), np.uint8)
    mask[4:10, 6:20] = 255
    mask[12, 3] = 90  # soft values carry over as they are
    doc.set_mask(mask)
    doc.select_rect(QRect(0, 0, 2, 2))
    old = doc.selection.copy()
    seen = []
    doc.selection_changed.connect(seen.append)
    doc.selection_from_mask()
    assert np.array_equal(doc.selection, mask) and np.array_equal(doc.mask, mask)
    assert doc.history.undo_text() == "Select from mask" and seen
    doc.undo()
    assert np.array_equal(doc.selection, old)
    doc.redo()
    assert np.array_equal(doc.selection, mask)
    count = doc.history.count()
    doc.selection_from_mask()  # nothing would change: no empty step
    assert doc.history.count() == count


def test_clear_without_selection_erases_the_whole_layer_in_one_step():
    doc = Document(16, 12)
    layer = doc.add_layer("bg", rgba=np.full((12, 16, 4), 255, np.uint8))
    other = doc.add_layer("top", rgba=np.full((12, 16, 4), 9, np.uint8))
    before = layer.pixels.copy()
    count = doc.history.count()
    assert doc.clear_selected(layer)
    assert doc.history.count() == count + 1 and doc.history.undo_text() == "Clear"
    assert not layer.pixels[..., 3].any() and other.pixels[..., 3].all()
    doc.undo()
    assert np.array_equal(layer.pixels, before)
    doc.redo()
    assert not layer.pixels[..., 3].any()


def test_clear_refuses_an_alpha_locked_layer_but_fill_keeps_its_alpha():
    doc = Document(10, 10)
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (255, 255, 255, 255)
    layer = doc.add_layer("bg", rgba=rgba)
    doc.set_layer_properties(layer, alpha_locked=True)
    count = doc.history.count()
    assert not doc.clear_selected()
    assert doc.history.count() == count
    assert doc.fill_selected((255, 0, 0))
    out = doc.composite_array()
    assert tuple(out[3, 2]) == (255, 0, 0, 255) and out[3, 7, 3] == 0
    doc.undo()
    assert np.array_equal(doc.composite_array(), rgba)


def test_fill_selected_follows_a_soft_selection_and_grows_a_small_layer():
    doc = Document(20, 10)
    layer = doc.add_layer("small", rgba=np.zeros((4, 4, 4), np.uint8), x=2, y=2)
    sel = np.zeros((10, 20), np.uint8)
    sel[5, 15] = 255
    sel[6, 15] = 128
    doc.set_selection(sel)
    assert doc.fill_selected((0, 255, 0))
    out = doc.composite_array()
    assert tuple(out[5, 15]) == (0, 255, 0, 255)
    assert abs(int(out[6, 15, 3]) - 128) <= 1 and out[7, 15, 3] == 0
    doc.undo()
    assert layer.bounds() == QRect(2, 2, 4, 4) and not doc.composite_array()[..., 3].any()


def test_scale_image_redo_and_mask_follow():
    doc = Document(20, 20)
    doc.add_layer("bg", rgba=np.full((20, 20, 4), 255, np.uint8))
    mask = np.zeros((20, 20), np.uint8)
    mask[10:, :] = 255
    doc.set_mask(mask)
    count = doc.history.count()
    doc.scale_image(10, 40)
    assert doc.history.count() == count + 1
    assert doc.mask.shape == (40, 10) and bbox(doc.mask >= 128) == QRect(0, 20, 10, 20)
    assert doc.composite_array().shape == (40, 10, 4)
    doc.undo()
    assert np.array_equal(doc.mask, mask) and doc.composite_array().shape == (20, 20, 4)
    doc.redo()
    assert (doc.width, doc.height) == (10, 40) and doc.layers[0].bounds() == QRect(0, 0, 10, 40)
    doc.scale_image(10, 40)  # same size: no step
    assert doc.history.count() == count + 1


def test_paint_coverage_clips_to_the_canvas_and_can_erase_the_mask():
    doc = Document(10, 10)
    doc.set_mask(np.full((10, 10), 255, np.uint8))
    k = np.ones((6, 6), np.float32)
    assert doc.paint_coverage(QRect(7, 7, 6, 6), k, "Erase mask", None, mask=True)
    assert doc.mask[7:, 7:].max() == 0
    assert doc.mask[:7].min() == 255 and doc.mask[7:, :7].min() == 255
    assert doc.history.undo_text() == "Erase mask"
    doc.undo()
    assert doc.mask.min() == 255
    assert not doc.paint_coverage(QRect(20, 20, 2, 2), k[:2, :2], "Off the canvas")
    assert doc.history.undo_text() == "Set mask"


def test_a_run_of_one_selection_tool_is_one_step_that_undoes_and_redoes_exactly():
    doc = Document(60, 50)
    doc.select_ellipse(QRect(0, 0, 20, 20))
    before = doc.selection.copy()
    doc.select_rect(QRect(40, 30, 10, 10))  # replace: clears the ellipse elsewhere
    doc.select_rect(QRect(5, 35, 10, 10), "add")
    doc.select_rect(QRect(42, 32, 4, 4), "subtract")
    after = doc.selection.copy()
    assert doc.history.texts() == ["Select ellipse", "Select rectangle"]
    doc.undo()
    assert np.array_equal(doc.selection, before)
    doc.redo()
    assert np.array_equal(doc.selection, after)
    doc.select_none()  # another kind of edit ends the run
    doc.select_rect(QRect(1, 1, 5, 5))
    assert doc.history.texts()[-2:] == ["Deselect", "Select rectangle"]
    doc.set_mask(np.full((50, 60), 255, np.uint8))  # mask edits never merge into it
    doc.select_rect(QRect(2, 2, 5, 5))
    assert doc.history.texts()[-3:] == ["Select rectangle", "Set mask", "Select rectangle"]
