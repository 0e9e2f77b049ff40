"""Return in a dialog presses its main button, as its blue outline promises (found walking
the window under Xvfb): Return in Image ▸ Upscale… cancelled it instead of upscaling, and
Return in the Models dialog's address field went to Move to Trash… instead of Install…,
and Return in Generate ▸ Train LoRA… opened the folder picker (Browse…) instead of
training. Every dialog names its main button with editor.ui.theme.main_button."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPushButton

from editor.ui.model_manager.dialog import ModelsDialog
from editor.ui.train.dialog import TrainDialog
from engine.core.paths import user_models_dir
from engine.models import DEMO_MODEL_DIR
from tests.training.stars import write_star_folder

WAIT_MS = 120_000


def test_return_in_the_upscale_dialog_upscales(window, qtbot) -> None:
    doc = window.document
    width, height = doc.width, doc.height
    window.actions.upscale.trigger()  # Image ▸ Upscale…
    dialog = window.upscale.dialog
    assert dialog is not None
    with qtbot.waitExposed(dialog):
        pass
    # Lanczos without refine: the job is done in a moment.
    dialog.upscaler_combo.setCurrentIndex(dialog.upscaler_combo.findData("lanczos"))
    assert not dialog.refine_check.isChecked()
    dialog.prompt_edit.setFocus()
    with qtbot.waitSignal(window.upscale.applied, timeout=WAIT_MS):
        qtbot.keyClick(dialog.prompt_edit, Qt.Key.Key_Return)
    assert (doc.width, doc.height) == (2 * width, 2 * height)
    assert doc.history.undo_text() == "Upscale ×2"


def test_return_in_the_models_dialog_address_field_installs(window, qtbot) -> None:
    window.actions.models.trigger()  # Tools ▸ Models…
    dialog = window.findChild(ModelsDialog, "modelsDialog")
    assert dialog is not None
    qtbot.waitExposed(dialog)
    sources = dialog.sources
    sources.tabs.setCurrentIndex(1)  # From the web
    sources.source_edit.setFocus()
    qtbot.keyClick(sources.source_edit, Qt.Key.Key_Return)
    # Install… answered: with no address it says what is missing.
    assert dialog.message.text() == "Type a web address or a Hugging Face repo id (owner/name)."
    assert dialog.install_button.isDefault() and not dialog.remove_button.isDefault()
    dialog.close()


@pytest.mark.usefixtures("one_torch_thread")
def test_return_in_the_train_dialog_trains(window, qtbot, tmp_path: Path) -> None:
    panel = window.generation_panel
    qtbot.waitUntil(lambda: panel.model_combo.count() > 0)
    panel.set_model(str(DEMO_MODEL_DIR))
    window.actions.train_lora.trigger()  # Generate ▸ Train LoRA…
    dialog = window.findChild(TrainDialog, "trainDialog")
    assert dialog is not None
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    # Checked before any Return: with Browse… as the default, Return opens a modal folder
    # picker, which would hang the test instead of failing it.
    defaults = [b.text() for b in dialog.findChildren(QPushButton) if b.isDefault()]
    assert defaults == ["Train"]

    # No folder yet: Train is disabled, and Return does nothing rather than something else.
    assert not dialog.train_button.isEnabled()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.task is None

    dialog.folder_edit.setText(str(write_star_folder(tmp_path / "stars")))
    dialog.rank_spin.setValue(4)
    dialog.batch_spin.setValue(1)
    dialog.steps_spin.setValue(2)
    dialog.sample_spin.setValue(0)
    dialog.concept_edit.setFocus()
    qtbot.keyClicks(dialog.concept_edit, "star")
    assert dialog.train_button.isEnabled()
    with qtbot.waitSignal(dialog.trained, timeout=WAIT_MS) as trained:
        qtbot.keyClick(dialog.concept_edit, Qt.Key.Key_Return)
        assert dialog.task is not None
    qtbot.waitUntil(lambda: dialog.task is None)
    out = user_models_dir() / "loras" / "star.safetensors"
    assert trained.args == [str(out)] and out.is_file()
    assert dialog.message.text().startswith("Trained star in ")
    dialog.pictures.stop_loading()
    dialog.close()
