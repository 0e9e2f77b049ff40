"""Image ▸ Upscale… through the real window: the dialog, the job on the engine thread
with its progress in the Generate panel, the result as one undo step, Esc cancelling with
nothing changed, selection only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QRect, Qt

from tests.editor.ui.test_painting import open_at_100

WAIT_MS = 120_000
DEMO = "Overpaint demo (shapes)"


@pytest.fixture(scope="module")
def upscaler_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_upscaler import build_tiny_upscaler_folder

    root = tmp_path_factory.mktemp("up-models")
    build_tiny_upscaler_folder(root / "upscalers" / "tiny-x4")
    return root


def open_dialog(window, qtbot):
    qtbot.keyClick(window.canvas, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.AltModifier)  # fmt: skip
    dialog = window.upscale.dialog
    assert dialog is not None and dialog.isVisible()
    # The key made the dialog, so it cannot be shown inside `with qtbot.waitExposed`: the
    # empty block only waits, on leaving, until the dialog is exposed.
    with qtbot.waitExposed(dialog):
        pass
    return dialog


def test_x2_lanczos_is_one_undo_step(window, qtbot, png_path: Path) -> None:
    open_at_100(window, png_path)
    doc = window.document
    before = doc.composite_array()
    history = doc.history.count()
    dialog = open_dialog(window, qtbot)
    assert dialog.size_label.text() == "160 × 120 → 320 × 240 px"
    dialog.upscaler_combo.setCurrentIndex(dialog.upscaler_combo.findData("lanczos"))
    with qtbot.waitSignal(window.upscale.applied, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    layer = blocker.args[0]
    assert (doc.width, doc.height) == (320, 240)
    assert doc.layers[-1] is layer and layer.name == "Upscaled ×2"
    expected = np.asarray(Image.fromarray(before[..., :3]).resize((320, 240), Image.LANCZOS))
    assert np.array_equal(doc.composite_array()[..., :3], expected)
    assert doc.history.count() == history + 1
    assert doc.history.undo_text() == "Upscale ×2"
    window.undo_action.trigger()  # Edit > Undo
    assert (doc.width, doc.height) == (160, 120)
    assert np.array_equal(doc.composite_array(), before)


def test_refine_progress_counts_tiles_in_the_panel_and_esc_cancels_with_nothing_changed(
    window, qtbot, png_path: Path
) -> None:
    open_at_100(window, png_path)
    panel = window.generation_panel
    panel.set_model(DEMO)
    panel.steps_spin.setValue(100)
    doc = window.document
    before = doc.composite_array()
    history = doc.history.count()
    dialog = open_dialog(window, qtbot)
    dialog.scale_combo.setCurrentIndex(1)  # ×4: 640×480, 6×5 tiles of 128
    dialog.upscaler_combo.setCurrentIndex(dialog.upscaler_combo.findData("lanczos"))
    dialog.refine_check.setChecked(True)
    dialog.strength_spin.setValue(0.5)
    client = window.generation.client
    with qtbot.waitSignal(client.progress, timeout=WAIT_MS) as step:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert step.args[2] == 7 * 5 * 50  # tiles × steps (100 at strength 0.5)
    assert not dialog.isVisible()  # the dialog only asked; the panel shows the job
    assert window.upscale.open_dialog() is None  # one upscale at a time
    bar = panel.progress_bar
    qtbot.waitUntil(lambda: bar.maximum() == 1750, timeout=WAIT_MS)
    assert bar.format().startswith("Step ")
    with qtbot.waitSignal(client.cancelled, timeout=WAIT_MS):
        qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    # The steps gave way to the message, the bar emptied.
    assert bar.format() == "Upscale cancelled; the picture was not changed."
    assert (doc.width, doc.height) == (160, 120) and doc.history.count() == history
    assert np.array_equal(doc.composite_array(), before)
    assert not panel.cancel_button.isEnabled() and (bar.value(), bar.maximum()) == (0, 1)
    assert open_dialog(window, qtbot).start_button.isEnabled()  # ready for another go


def test_selection_only_with_the_x4_upscaler(
    window, qtbot, png_path: Path, upscaler_models: Path
) -> None:
    window.settings.model_dirs = [upscaler_models]
    open_at_100(window, png_path)
    doc = window.document
    doc.select_rect(QRect(40, 30, 40, 30))
    window.generation_panel.steps_spin.setValue(2)
    dialog = open_dialog(window, qtbot)
    assert dialog.upscaler_combo.currentData().endswith("tiny-x4")
    assert dialog.selection_check.isChecked()
    with qtbot.waitSignal(window.upscale.applied, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    layer = blocker.args[0]
    assert (doc.width, doc.height) == (320, 240)
    # The context crop (selection + 16 px) scaled x2, holding only the selected pixels.
    assert (layer.x, layer.y) == (48, 28)
    rgba = layer.to_rgba()
    inside = rgba[40:84, 40:104]  # the selection lies at 32..112 x 32..92 in the layer
    assert (rgba[:8, :8, 3] == 0).all() and inside[..., 3].min() > 200
    assert "Upscaler: tiny-x4" in layer.metadata["parameters"]
