"""An accepted result's layer is named after what was done: its prompt, or without one
(or for a fill, which reads none) the job itself, never a bare "Generated"."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw
from PySide6.QtCore import QRect

from editor.ui.generate.layer_role_dialogs import edit_reference_layer

WAIT_MS = 120_000


def test_a_fill_is_named_filled_whatever_the_prompt_box_holds(window, qtbot) -> None:
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a red apple")  # left over from an earlier run
    window.document.select_rect(QRect(20, 20, 30, 30))
    panel.set_settings({"mode": "fill"})
    with qtbot.waitSignal(window.generation.results_ready, timeout=WAIT_MS):
        window.generate()
    window.accept_candidate()
    assert window.document.current_layer.name == "Filled"
    assert window.layers_panel.list.currentItem().text() == "Filled"
    assert window.undo_action.text() == "&Undo Accept result"


def test_an_empty_prompt_steered_by_a_reference_is_named_from_reference(
    window, qtbot, tmp_path: Path
) -> None:
    picture = Image.new("RGB", (128, 128), (40, 160, 60))
    ImageDraw.Draw(picture).polygon([(64, 25), (100, 95), (28, 95)], fill=(240, 220, 30))
    picture.save(tmp_path / "triangle.png")
    assert window.open_path(tmp_path / "triangle.png")
    edit_reference_layer(window).accept()  # Layer > Reference Layer..., OK
    window.generation_panel.prompt_edit.setPlainText("")
    with qtbot.waitSignal(window.generation.results_ready, timeout=WAIT_MS):
        window.generate()
    window.accept_candidate()
    assert window.document.current_layer.name == "From reference"
    assert window.layers_panel.list.currentItem().text() == "From reference"
