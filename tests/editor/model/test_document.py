from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QRect

from editor.model import Document, Layer
from engine.request import Box


def solid(w: int, h: int, rgba: tuple[int, int, int, int]) -> np.ndarray:
    out = np.empty((h, w, 4), np.uint8)
    out[...] = rgba
    return out


def test_add_layer_composites_at_offset_and_emits_dirty_rect():
    doc = Document(200, 100)
    rects: list[QRect] = []
    doc.changed.connect(rects.append)
    doc.add_layer("red", rgba=solid(50, 40, (255, 0, 0, 255)), x=10, y=20)
    out = doc.composite_array()
    assert out.shape == (100, 200, 4)
    assert tuple(out[20, 10]) == (255, 0, 0, 255)
    assert tuple(out[59, 59]) == (255, 0, 0, 255)
    assert tuple(out[19, 10]) == (0, 0, 0, 0)
    assert tuple(out[20, 60]) == (0, 0, 0, 0)
    assert rects == [QRect(10, 20, 50, 40)]


def test_composite_works_in_a_process_without_any_qt_application():
    # io and the `flatten` CLI composite without a window: no QGuiApplication exists there.
    code = (
        "import numpy as np\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "from editor.model import Document\n"
        "d = Document(8, 8)\n"
        "a = np.zeros((8, 8, 4), np.uint8); a[...] = (10, 20, 30, 255)\n"
        "d.add_layer(rgba=a)\n"
        "d.add_layer(rgba=a // 2, blend_mode='multiply')\n"
        "assert QGuiApplication.instance() is None\n"
        "print(tuple(int(v) for v in d.composite_array()[4, 4]))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    got = np.array(eval(out.stdout.strip()), float)
    # multiply with a half-transparent top: sa * s * d / 255 + (1 - sa) * d
    s, d, sa = np.array([5, 10, 15]), np.array([10, 20, 30]), 127 / 255
    expected = sa * s * d / 255 + (1 - sa) * d
    assert np.abs(got[:3] - expected).max() <= 1 and got[3] == 255


def test_composite_array_of_rect_reaching_outside_canvas_is_transparent_there():
    doc = Document(10, 10)
    doc.add_layer(rgba=solid(10, 10, (1, 2, 3, 255)))
    out = doc.composite_array(QRect(-5, -5, 10, 10))
    assert tuple(out[0, 0]) == (0, 0, 0, 0)
    assert tuple(out[5, 5]) == (1, 2, 3, 255)


def test_layer_rgba_round_trip_is_exact_for_opaque_pixels():
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    layer = Layer.from_rgba(rgba)
    assert np.array_equal(layer.to_rgba(), rgba)


def test_undo_redo_add_layer_and_names():
    doc = Document(20, 20)
    layer = doc.add_layer(rgba=solid(20, 20, (0, 255, 0, 255)))
    assert doc.history.undo_text() == "Add layer"
    doc.undo()
    assert doc.layers == ()
    assert doc.current_layer is None
    assert tuple(doc.composite_array()[0, 0]) == (0, 0, 0, 0)
    doc.redo()
    assert doc.layers == (layer,)
    assert doc.current_layer is layer


def test_generation_region_prefers_mask_then_selection_then_frame():
    doc = Document(100, 100)
    assert doc.generation_region() is None
    doc.set_generation_frame(Box(5, 5, 64, 64))
    assert doc.generation_region() == Box(5, 5, 64, 64)
    doc.select_rect(QRect(10, 10, 20, 30))
    assert doc.generation_region() == Box(10, 10, 20, 30)
    mask = np.zeros((100, 100), np.uint8)
    mask[50:60, 70:75] = 255
    doc.set_mask(mask)
    assert doc.generation_region() == Box(70, 50, 5, 10)
    doc.clear_mask()
    doc.select_none()
    assert doc.generation_region() == Box(5, 5, 64, 64)
    assert doc.history.texts()[-2:] == ["Clear mask", "Deselect"]


def test_canvas_size_is_validated():
    with pytest.raises(ValueError, match="canvas size"):
        Document(0, 10)
