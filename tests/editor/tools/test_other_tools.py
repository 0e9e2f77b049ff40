"""Fill bucket, colour picker, move layer, selection and frame tools."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

from editor.model import Document
from editor.tools.brush import BrushSettings
from editor.tools.other_tools import ColorPickerTool, FillTool, MoveLayerTool
from editor.tools.selection_tools import (
    EllipseSelectTool,
    FrameTool,
    LassoSelectTool,
    RectSelectTool,
)
from engine.request import Box


def drag(tool, a, b, *between):
    tool.begin(*a)
    for p in (*between, b):
        tool.move(*p)
    tool.end()


def two_rooms() -> tuple[Document, object]:
    """White canvas split by a black wall at x = 50..51."""
    doc = Document(100, 40)
    rgba = np.full((40, 100, 4), 255, np.uint8)
    rgba[:, 50:52, :3] = 0
    rgba[5, 10, :3] = 250  # a near-white speck inside the tolerance
    layer = doc.add_layer("walls", rgba=rgba)
    doc.reset_history()
    return doc, layer


def test_fill_bucket_fills_the_connected_area_within_tolerance():
    doc, _ = two_rooms()
    tool = FillTool(doc, BrushSettings(color=(255, 0, 0)))
    tool.tolerance = 10
    tool.begin(20, 20)
    tool.end()
    out = doc.composite_array()
    assert (out[:, :50, :3] == (255, 0, 0)).all()  # speck included (within tolerance)
    assert (out[:, 50:52, :3] == 0).all()  # wall untouched
    assert (out[:, 52:, :3] == 255).all()  # other room untouched
    assert doc.history.texts() == ["Fill"]
    doc.undo()
    assert tuple(doc.composite_array()[20, 20]) == (255, 255, 255, 255)


def test_fill_with_zero_tolerance_skips_near_colours_and_respects_selection():
    doc, _ = two_rooms()
    doc.select_rect(QRect(0, 0, 30, 40))
    tool = FillTool(doc, BrushSettings(color=(0, 0, 255)))
    tool.tolerance = 0
    tool.fill(20, 20)
    out = doc.composite_array()
    assert tuple(out[5, 10, :3]) == (250, 250, 250)
    assert tuple(out[20, 20, :3]) == (0, 0, 255)
    assert tuple(out[20, 40, :3]) == (255, 255, 255)  # outside the selection


def test_fill_mask_target():
    doc, layer = two_rooms()
    tool = FillTool(doc)
    tool.target = "mask"
    tool.fill(70, 10)
    assert doc.mask[:, :].all()  # mask was empty everywhere: one connected area
    assert doc.history.undo_text() == "Fill mask"


def test_color_picker_samples_composite_and_sets_brush_colour():
    doc, _ = two_rooms()
    settings = BrushSettings(color=(1, 2, 3))
    picker = ColorPickerTool(doc, settings)
    seen = []
    picker.on_pick.append(seen.append)
    picker.begin(50.5, 3.2)
    picker.end()
    assert settings.color == (0, 0, 0) and seen == [(0, 0, 0, 255)]
    assert doc.history.count() == 0  # picking is not an edit


def test_move_layer_drag_is_one_undo_step():
    doc = Document(60, 60)
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[...] = (9, 8, 7, 255)
    layer = doc.add_layer("box", rgba=rgba, x=5, y=5)
    tool = MoveLayerTool(doc)
    drag(tool, (7, 7), (27.4, 37.6), (10, 12), (20, 30))
    assert (layer.x, layer.y) == (25, 36)
    assert tuple(doc.composite_array()[36, 25]) == (9, 8, 7, 255)
    assert doc.history.texts() == ["Add layer", "Move layer"]
    doc.undo()
    assert (layer.x, layer.y) == (5, 5)
    drag(tool, (0, 0), (1, 1))
    drag(tool, (0, 0), (1, 1))
    assert doc.history.texts()[-2:] == ["Move layer", "Move layer"]  # two drags, two steps


def test_rect_ellipse_lasso_selection_tools_with_modes():
    doc = Document(100, 100)
    rect_tool = RectSelectTool(doc)
    drag(rect_tool, (10, 10), (50, 40))
    assert doc.selection_bbox() == QRect(10, 10, 40, 30)
    ellipse = EllipseSelectTool(doc)
    ellipse.mode = "add"
    drag(ellipse, (60, 60), (90, 90))
    assert doc.selection[75, 75] == 255 and doc.selection[61, 61] == 0
    assert doc.selection[20, 20] == 255
    lasso = LassoSelectTool(doc)
    lasso.mode = "subtract"
    drag(lasso, (0, 0), (0, 100), (30, 0), (30, 100))
    assert doc.selection[20, 20] == 0 and doc.selection[20, 40] == 255
    assert doc.history.texts() == ["Select rectangle", "Select ellipse", "Lasso select"]
    rect_tool.mode = "replace"
    drag(rect_tool, (5, 5), (5.5, 5.5))  # a click deselects
    assert not doc.has_selection()


def test_frame_tool_sets_the_generation_frame():
    doc = Document(100, 100)
    drag(FrameTool(doc), (10, 20), (74, 84))
    assert doc.generation_frame == Box(10, 20, 64, 64)
    assert doc.generation_region() == Box(10, 20, 64, 64)
    doc.undo()
    assert doc.generation_frame is None
