"""Brush strokes: where they land, exact undo, tile-sized history, opacity, targets."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

from editor.model import Document
from editor.tools.brush import BrushSettings, BrushTool, EraserTool, MaskBrushTool, MaskEraserTool


def painted_doc(w: int = 120, h: int = 80):
    doc = Document(w, h)
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    base[..., 3] = 255
    layer = doc.add_layer("paint", rgba=base)
    doc.reset_history()
    return doc, layer


def stroke(tool, points, pressures=None):
    pressures = pressures or [1.0] * len(points)
    tool.begin(*points[0], pressures[0])
    for (x, y), p in zip(points[1:], pressures[1:], strict=True):
        tool.move(x, y, p)
    tool.end()


def test_stroke_lands_where_drawn_and_nowhere_else():
    doc = Document(120, 80)
    doc.add_layer("empty")
    settings = BrushSettings(size=8, hardness=1.0, color=(255, 0, 0), spacing=0.1)
    stroke(BrushTool(doc, settings), [(20, 40), (60, 40), (100, 40)])
    out = doc.composite_array()
    painted = out[..., 3] > 0
    # Every pixel along the line's centre is fully red...
    assert (out[40, 20:100] == (255, 0, 0, 255)).all()
    # ...and nothing is painted farther than the radius (+1 antialias pixel) from it.
    ys, xs = np.nonzero(painted)
    assert ys.min() >= 40 - 5 and ys.max() <= 40 + 4
    assert xs.min() >= 20 - 5 and xs.max() <= 100 + 4
    assert doc.history.texts() == ["Add layer", "Brush stroke"]


def test_undo_restores_exact_pixels_and_redo_reapplies_them():
    doc, layer = painted_doc()
    before = layer.pixels.copy()
    settings = BrushSettings(size=15, hardness=0.3, opacity=0.6, color=(10, 250, 30))
    stroke(BrushTool(doc, settings), [(5, 5), (50, 30), (110, 70)], [0.2, 0.8, 1.0])
    after = layer.pixels.copy()
    assert not np.array_equal(before, after)
    assert doc.history.undo_text() == "Brush stroke"
    doc.undo()
    assert layer.bounds() == QRect(0, 0, 120, 80)
    assert np.array_equal(layer.pixels, before)
    doc.redo()
    assert np.array_equal(layer.pixels, after)


def test_undo_of_first_stroke_on_empty_layer_gives_back_the_empty_layer():
    doc = Document(64, 64)
    layer = doc.add_layer()
    stroke(BrushTool(doc, BrushSettings(size=6)), [(10, 10), (30, 30)])
    assert layer.bounds() == QRect(0, 0, 64, 64)
    doc.undo()
    assert layer.is_empty()
    doc.redo()
    assert layer.pixels[20, 20, 3] == 255


def test_history_of_small_stroke_on_huge_layer_holds_only_tiles():
    doc = Document(4096, 4096)
    layer = doc.add_layer()
    stroke(BrushTool(doc, BrushSettings(size=20)), [(1000, 1000), (1100, 1010)])
    full_layer = layer.pixels.nbytes
    assert full_layer == 4096 * 4096 * 4
    held = doc.undo_bytes()
    # A ~120x30 px stroke touches at most 3x2 tiles of 64x64 RGBA = 96 KiB.
    assert 0 < held <= 6 * 64 * 64 * 4
    assert held < full_layer / 500


def test_stroke_opacity_caps_overlapping_dabs():
    doc = Document(100, 40)
    doc.add_layer()
    settings = BrushSettings(size=10, hardness=1.0, opacity=0.5, color=(0, 0, 255), spacing=0.05)
    tool = BrushTool(doc, settings)
    # Back and forth over the same line: many overlapping dabs within one stroke.
    stroke(tool, [(10, 20), (90, 20), (10, 20), (90, 20)])
    alpha = doc.composite_array()[20, 15:85, 3]
    assert set(np.unique(alpha)) == {128}
    # A second stroke does build up (it is a new stroke over the first one).
    stroke(tool, [(10, 20), (90, 20)])
    assert doc.composite_array()[20, 50, 3] == 192


def test_pressure_controls_size():
    doc = Document(200, 60)
    doc.add_layer()
    settings = BrushSettings(size=20, hardness=1.0, pressure_size=True, min_size=0.1)
    stroke(BrushTool(doc, settings), [(20, 30), (180, 30)], [0.1, 1.0])
    alpha = doc.composite_array()[..., 3]
    thin = int((alpha[:, 25] > 0).sum())
    thick = int((alpha[:, 175] > 0).sum())
    assert thin < 8 and thick >= 18


def test_smoothing_still_ends_the_line_at_the_pen_position():
    doc = Document(200, 60)
    doc.add_layer()
    settings = BrushSettings(size=4, hardness=1.0, smoothing=0.9)
    stroke(BrushTool(doc, settings), [(10, 30), (100, 30), (190, 30)])
    assert doc.composite_array()[30, 189, 3] == 255


def test_eraser_and_alpha_lock():
    doc, layer = painted_doc()
    settings = BrushSettings(size=10, hardness=1.0)
    stroke(EraserTool(doc, settings), [(20, 20), (40, 20)])
    assert doc.composite_array()[20, 30, 3] == 0
    assert doc.history.undo_text() == "Eraser stroke"
    doc.set_layer_properties(layer, alpha_locked=True)
    alpha_before = layer.pixels[..., 3].copy()
    settings.color = (255, 255, 255)
    stroke(BrushTool(doc, settings), [(20, 20), (60, 20)])
    assert np.array_equal(layer.pixels[..., 3], alpha_before)  # erased part stays clear
    assert tuple(doc.composite_array()[20, 55]) == (255, 255, 255, 255)


def test_painting_is_limited_to_the_selection():
    doc = Document(100, 50)
    doc.add_layer()
    doc.select_rect(QRect(50, 0, 50, 50))
    stroke(BrushTool(doc, BrushSettings(size=10, hardness=1.0)), [(10, 25), (90, 25)])
    alpha = doc.composite_array()[25, :, 3]
    assert (alpha[:50] == 0).all() and (alpha[52:88] == 255).all()


def test_mask_brush_and_eraser_edit_the_mask_not_the_layers():
    doc, layer = painted_doc()
    pixels = layer.pixels.copy()
    dirty: list[QRect] = []
    doc.mask_changed.connect(dirty.append)
    settings = BrushSettings(size=10, hardness=1.0)
    stroke(MaskBrushTool(doc, settings), [(x, 20) for x in range(20, 61, 4)])
    assert doc.mask[20, 20:60].min() == 255 and doc.mask[40, 40] == 0
    assert all(r.width() <= 20 and r.height() <= 14 for r in dirty)  # only around the pen
    stroke(MaskEraserTool(doc, settings), [(40, 20), (60, 20)])
    assert doc.mask[20, 25] == 255 and doc.mask[20, 50] == 0
    assert np.array_equal(layer.pixels, pixels)
    assert doc.history.texts() == ["Paint mask", "Erase mask"]
    doc.undo()
    doc.undo()
    assert not doc.mask.any()


def test_cancel_restores_pixels_and_pushes_nothing():
    doc, layer = painted_doc()
    before = layer.pixels.copy()
    tool = BrushTool(doc, BrushSettings(size=10))
    tool.begin(10, 10)
    tool.move(80, 60)
    tool.cancel()
    assert np.array_equal(layer.pixels, before)
    assert doc.history.count() == 0


def test_dirty_rects_follow_the_pointer_not_the_canvas():
    doc = Document(500, 500)
    doc.add_layer()
    rects: list[QRect] = []
    doc.changed.connect(rects.append)
    tool = BrushTool(doc, BrushSettings(size=16, spacing=0.1))
    tool.begin(100, 100)
    for i in range(1, 101):
        tool.move(100 + 3 * i, 100 + 3 * i)  # 3 px per event: one or two dabs each
    tool.end()
    # One announcement per pointer event (dabs within an event are merged)...
    assert 100 <= len(rects) <= 102
    # ...each covering just the dabs of that event.
    assert max(r.width() * r.height() for r in rects) <= 24 * 24


def test_painting_a_hidden_layer_or_erasing_a_locked_one_says_why():
    doc, layer = painted_doc()
    before = layer.pixels.copy()
    doc.set_layer_properties(layer, visible=False)
    brush = BrushTool(doc, BrushSettings(size=10))
    stroke(brush, [(10, 10), (50, 50)])
    assert "hidden" in brush.refusal and "paint" in brush.refusal.lower()
    doc.set_layer_properties(layer, visible=True, alpha_locked=True)
    eraser = EraserTool(doc, brush.settings)
    stroke(eraser, [(10, 10), (50, 50)])
    assert "alpha locked" in eraser.refusal
    assert np.array_equal(layer.pixels, before)
    assert "Brush stroke" not in doc.history.texts() and "Eraser stroke" not in doc.history.texts()
    stroke(brush, [(10, 10), (50, 50)])  # alpha lock still lets the brush recolour
    assert brush.refusal == "" and doc.history.undo_text() == "Brush stroke"
