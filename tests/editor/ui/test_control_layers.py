"""Control layers in the window: marking a layer (one undo step, badge and tint), the
role surviving a save and reopen as an ordinary OpenRaster layer, and generations through
the real worker with a tiny random ControlNet installed in a models folder's controlnet/."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from editor.io.project import load_ora, save_ora
from editor.model.control_role import ControlRole
from editor.ui.generate.control_layer_dialog import add_control_from_layer, edit_control_layer
from editor.ui.layer_badges import CONTROL_TINT
from engine.control.spec import CONTROL_KINDS
from tests.editor.ui.test_generation import WAIT_MS, prepare
from tests.editor.ui.test_painting import drag, open_at_100
from tests.tiny_controls import build_tiny_controlnet


@pytest.fixture(scope="module")
def controls_root(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding only controlnet/tiny_scribble."""
    root = tmp_path_factory.mktemp("control-models")
    build_tiny_controlnet(tiny_model_dir, root / "controlnet" / "tiny_scribble")
    return root


def paint_scribble(qtbot, window):
    """A new layer with a brush stroke on it: the sketch to mark as a control."""
    window.actions.add_layer.trigger()
    window.set_tool("brush")
    window.tool_options.set_foreground(QColor(20, 20, 20))
    window.tool_options.set_size(6)
    drag(qtbot, window, [(40, 30), (120, 30), (120, 90), (40, 90), (40, 30)])
    layer = window.document.current_layer
    assert not layer.is_empty()
    return layer


def mark_with_dialog(window, kind: str = "scribble", strength: float = 1.0) -> None:
    dialog = edit_control_layer(window)
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(kind))
    # What the kind does is said where it is picked.
    assert dialog.description.text() == CONTROL_KINDS[kind]
    dialog.strength_spin.setValue(strength)
    dialog.accept()


def test_marking_is_one_undo_step_with_badge_and_tint(window, qtbot, png_path: Path) -> None:
    open_at_100(window, png_path)
    layer = paint_scribble(qtbot, window)
    row = window.layers_panel.list.item(0)
    plain_icon = row.icon().pixmap(40, 40).toImage()
    steps = window.document.history.count()

    mark_with_dialog(window, strength=0.8)
    assert layer.control == ControlRole("scribble", 0.8)
    assert window.undo_action.text() == "&Undo Make scribble control layer"
    row = window.layers_panel.list.item(0)
    assert row.background().color() == CONTROL_TINT
    assert row.icon().pixmap(40, 40).toImage() != plain_icon  # the badge
    assert "Scribble control" in row.toolTip()
    assert window.document.history.count() == steps + 1

    window.undo()
    assert layer.control is None
    row = window.layers_panel.list.item(0)
    assert row.background().style() == Qt.BrushStyle.NoBrush
    window.redo()
    assert layer.control == ControlRole("scribble", 0.8)


def test_control_role_survives_save_and_reopen(window, qtbot, png_path, tmp_path) -> None:
    open_at_100(window, png_path)
    layer = paint_scribble(qtbot, window)
    mark_with_dialog(window, strength=1.25)
    path = tmp_path / "sketch.ora"
    save_ora(window.document, path)

    # Other readers see an ordinary layer: a PNG named in a plain stack.xml.
    with zipfile.ZipFile(path) as zf:
        root = ET.fromstring(zf.read("stack.xml"))
        element = next(e for e in root.iter("layer") if e.get("name") == layer.name)
        assert element.get("overpaint-control-kind") == "scribble"
        assert element.get("overpaint-control-strength") == "1.25"
        with zf.open(element.get("src")) as f, Image.open(f) as png:
            assert png.size == (layer.width, layer.height)
    reopened = load_ora(path)
    roles = [(lay.name, lay.control) for lay in reopened.layers]
    assert roles == [("picture", None), (layer.name, ControlRole("scribble", 1.25))]


def test_control_layer_guides_generation_and_stays_out_of_the_picture(
    window, qtbot, png_path: Path, tiny_model_dir: Path, controls_root: Path
) -> None:
    window.settings.model_dirs = [controls_root]
    open_at_100(window, png_path)
    doc = window.document
    picture = doc.composite_array()
    layer = paint_scribble(qtbot, window)
    mark_with_dialog(window)
    prepare(window, tiny_model_dir, prompt="a square")

    # The model repaints the picture without the scribble; the scribble is the control.
    job = window.generation.prepare(window.generation_panel.settings(), 512)
    assert job.request.mode == "img2img"
    assert np.array_equal(job.inputs.image, picture)
    assert [s.kind for s in job.request.controls] == ["scribble"]
    assert np.array_equal(job.inputs.controls[0], layer.to_rgba(doc.rect()))

    def generate():
        count = window.candidates.count()
        assert window.generate() is not None
        qtbot.waitUntil(lambda: window.candidates.count() == count + 1, timeout=WAIT_MS)
        return window.candidates.candidates()[-1].result

    guided = generate()
    assert guided.request.controls[0].model == "tiny_scribble"
    assert 'ControlNet 0: "Module: scribble, Model: tiny_scribble' in guided.parameters

    doc.set_layer_properties(layer, visible=False)  # hidden: no part in the job
    hidden = generate()
    doc.delete_layer(layer)
    none = generate()
    assert hidden.request.controls == () and none.request == hidden.request
    assert np.array_equal(hidden.rgba, none.rgba)
    assert np.abs(guided.rgba.astype(int) - none.rgba).mean() > 1.0


def test_make_control_from_layer_adds_a_prepared_control(window) -> None:
    window.new_document(160, 120)
    doc = window.document
    shape = np.zeros((120, 160, 4), np.uint8)
    shape[..., 3] = 255
    shape[30:90, 40:120, :3] = 230  # a light square on black: its outline is the edge
    source = doc.add_layer("shape", rgba=shape)
    made = add_control_from_layer(window, source, ControlRole("canny"))
    assert made is doc.current_layer and doc.index_of(made) == doc.index_of(source) + 1
    assert made.control == ControlRole("canny", prepared=True)
    lines = made.to_rgba()
    assert lines.shape == source.to_rgba().shape
    assert set(np.unique(lines[..., 0])) == {0, 255}
    assert lines[60, 38:42, 0].any() and not lines[60, 60:100, 0].any()
    assert window.undo_action.text() == "&Undo Make control from layer"
    # The made layer is not painted into the picture the model repaints.
    job = window.generation.prepare({"prompt": "x", "model": ""}, 512)
    assert np.array_equal(job.inputs.image, shape)
    assert job.request.controls[0].prepared
