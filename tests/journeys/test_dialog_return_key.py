"""Return in a dialog presses its main button, as its blue outline promises (found walking
the window under Xvfb): Return in Image ▸ Upscale… cancelled it instead of upscaling, and
Return in the Models dialog's address field went to Move to Trash… instead of Install…."""

from __future__ import annotations

from PySide6.QtCore import Qt

from editor.ui.model_manager.dialog import ModelsDialog

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
