"""The scribble control shipped for the demo model, in the window: a scribble layer places
the shape where the lines are, with no download and no control model picked by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QColor

from engine.control.models import discover_controls
from engine.demo.dataset import PALETTE
from engine.demo.evaluate import read_picture
from engine.demo.evaluate_control import centre_distance
from tests.editor.ui.test_control_layers import mark_with_dialog
from tests.editor.ui.test_generation import WAIT_MS
from tests.editor.ui.test_painting import drag, open_at_100

SIDE = 256
# A square scribbled at a place no caption names, at least 0.2 of the side from every place
# one does (between "left" and "top"). The regional fine-tune draws a shape whose caption
# names no place mostly at the bottom: 0.12 from the first choice, (0.36, 0.67).
CENTRE = (0.3, 0.3)
HALF = 0.15


@pytest.fixture
def blue_png(tmp_path: Path) -> Path:
    path = tmp_path / "blue.png"
    Image.new("RGB", (SIDE, SIDE), PALETTE["blue"]).save(path)
    return path


def _generate(qtbot, window):
    count = window.candidates.count()
    assert window.generate() is not None
    qtbot.waitUntil(lambda: window.candidates.count() == count + 1, timeout=WAIT_MS)
    return window.candidates.candidates()[-1].result


def test_the_demo_scribble_control_is_bundled_and_small() -> None:
    found = [c for c in discover_controls() if c.name == "overpaint-demo-scribble"]
    assert found and found[0].kind == "scribble" and found[0].model_type == "controlnet"
    size = sum(f.stat().st_size for f in found[0].path.iterdir())
    assert size <= 10 * 1024 * 1024


def test_scribble_layer_places_the_demo_models_shape(window, qtbot, blue_png: Path) -> None:
    open_at_100(window, blue_png)
    doc = window.document
    window.actions.add_layer.trigger()
    layer = doc.current_layer
    window.set_tool("brush")
    window.tool_options.set_foreground(QColor(255, 255, 255))
    window.tool_options.set_size(5)
    (cx, cy), h = (c * SIDE for c in CENTRE), HALF * SIDE
    corners = [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    drag(qtbot, window, [*corners, corners[0]])
    mark_with_dialog(window)
    panel = window.generation_panel
    panel.set_settings(
        {
            "prompt": "a red square, blue background",
            "mode": "txt2img",
            "steps": 12,
            "seed": 5,
            "seed_locked": True,  # else each Generate draws a new seed
            "scheduler": "Euler a",
        }
    )

    guided = _generate(qtbot, window)
    assert guided.request.controls[0].model == "overpaint-demo-scribble"
    picture = guided.rgba[..., :3]
    assert read_picture(picture).colour == "red"
    assert centre_distance(picture, CENTRE) <= 0.15

    doc.set_layer_properties(layer, visible=False)
    free = _generate(qtbot, window)
    assert free.request.controls == ()
    # Without the lines the model puts its shape where its captions taught it to.
    assert centre_distance(free.rgba[..., :3], CENTRE) > 0.15
    assert np.abs(free.rgba.astype(int) - guided.rgba).mean() > 5
