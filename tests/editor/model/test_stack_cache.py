"""The below-current-layer cache never shows stale pixels: after random edits, undo/redo
and layer switches, cached composites equal an uncached composite bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect

from editor.model import Document
from editor.model.blending import composite_layers, image_to_rgba
from editor.tools.brush import BrushSettings, BrushTool

W, H = 300, 140
MODES = ("normal", "multiply", "screen", "add", "overlay", "darken")


def uncached(doc: Document, rect: QRect) -> np.ndarray:
    return image_to_rgba(composite_layers(list(doc.layers), rect))


def random_rect(rng) -> QRect:
    x, y = int(rng.integers(0, W - 1)), int(rng.integers(0, H - 1))
    return QRect(x, y, int(rng.integers(1, W - x + 1)), int(rng.integers(1, H - y + 1)))


def random_edit(doc: Document, rng, tool: BrushTool) -> None:
    layers = doc.layers
    pick = layers[int(rng.integers(len(layers)))] if layers else None
    op = rng.integers(10)
    if op == 0 and pick is not None:
        doc.set_current_layer(pick)
    elif op == 1 and pick is not None:
        doc.set_layer_properties(pick, opacity=float(rng.uniform(0.2, 1)))
    elif op == 2 and pick is not None:
        doc.set_layer_properties(pick, visible=not pick.visible)
    elif op == 3 and pick is not None:
        doc.set_layer_properties(pick, blend_mode=MODES[int(rng.integers(len(MODES)))])
    elif op == 4 and pick is not None:
        doc.set_layer_offset(
            pick, pick.x + int(rng.integers(-30, 30)), pick.y + int(rng.integers(-20, 20))
        )
    elif op == 5 and pick is not None:
        doc.move_layer(pick, int(rng.integers(len(layers))))
    elif op == 6:
        doc.undo()
    elif op == 7:
        doc.redo()
    elif op == 8 and pick is not None and doc.index_of(pick) > 0 and len(layers) > 3:
        doc.merge_down(pick)
    elif doc.current_layer is not None:
        tool.settings.color = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = rng.uniform(0, W), rng.uniform(0, H)
        tool.begin(x0, y0)
        tool.move(rng.uniform(0, W), rng.uniform(0, H))
        tool.end()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cached_composite_always_equals_uncached(seed: int) -> None:
    rng = np.random.default_rng(seed)
    doc = Document(W, H)
    for i in range(6):
        rgba = rng.integers(0, 256, (H - 20, W - 40, 4), dtype=np.uint8)
        rgba[..., 3] = rng.integers(100, 256)
        doc.add_layer(f"L{i}", rgba=rgba, x=i * 5, y=i * 3, blend_mode=MODES[i % len(MODES)])
    tool = BrushTool(doc, BrushSettings(size=25, hardness=0.5))
    for _ in range(60):
        random_edit(doc, rng, tool)
        probe = random_rect(rng)
        assert np.array_equal(image_to_rgba(doc.composite(probe)), uncached(doc, probe))
    full = doc.rect()
    assert np.array_equal(doc.composite_array(), uncached(doc, full))
