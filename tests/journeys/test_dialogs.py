"""Generate ▸ Models… and Generate ▸ Train LoRA… as a new user meets them: each opens from
its menu and closes the three ways (Esc, its Close button, the window's close button);
the Installed list shows the bundled demo model; closing while an install or a training
runs asks whether to stop it or keep it running, and a task kept running shows its
progress in the main window's status bar and is there again when the dialog reopens; a
cancelled training leaves nothing in the model lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QToolButton,
    QWidget,
)

from editor.ui.model_manager.dialog import ModelsDialog
from editor.ui.train.dialog import TrainDialog
from engine.core.paths import user_data_dir, user_models_dir
from engine.models import DEMO_MODEL_DIR
from tests.editor.ui.test_models_dialog import Gate, _big_lora, answer, gated, installed_rows
from tests.training.stars import write_star_folder

DIALOGS = (("models", ModelsDialog, "modelsDialog"), ("train_lora", TrainDialog, "trainDialog"))


def _open(window, qtbot, action: str, cls: type[QDialog], name: str) -> QDialog:
    getattr(window.actions, action).trigger()
    dialog = window.findChild(cls, name)
    assert dialog is not None and dialog.isVisible()
    # Keys then go to the dialog, as for a user, not to the main window's shortcuts.
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    return dialog


def reply(box_name: str, button: str) -> list[str]:
    """Click `button` in the next modal box named `box_name` and return its text in the
    list. Any other box that comes first is refused (Esc), so a wrong question fails the
    test instead of blocking it."""
    seen: list[str] = []
    tries = [0]

    def poll() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == box_name:
            seen.append(box.text())
            next(b for b in box.buttons() if b.text().replace("&", "") == button).click()
        elif isinstance(box, QMessageBox):
            box.reject()
        elif tries[0] < 2000:
            tries[0] += 1
            QTimer.singleShot(10, poll)

    QTimer.singleShot(0, poll)
    return seen


def _task_status(window, name: str) -> QWidget | None:
    """The status bar's entry for a task whose dialog is closed (None: not shown)."""
    widget = window.statusBar().findChild(QWidget, name)
    return widget if widget is not None and widget.isVisible() else None


def _status_text(widget: QWidget) -> str:
    return " ".join(label.text() for label in widget.findChildren(QLabel))


def test_each_dialog_closes_by_esc_its_close_button_and_the_window_button(window, qtbot) -> None:
    for action, cls, name in DIALOGS:
        dialog = _open(window, qtbot, action, cls, name)
        qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)
        assert not dialog.isVisible(), f"{name}: Esc"

        dialog = _open(window, qtbot, action, cls, name)
        close = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close)
        qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
        assert not dialog.isVisible(), f"{name}: Close button"

        dialog = _open(window, qtbot, action, cls, name)
        assert dialog.close(), f"{name}: the window's close button"
        assert not dialog.isVisible()


def test_the_installed_list_shows_the_bundled_demo_model(window, qtbot) -> None:
    dialog = _open(window, qtbot, "models", ModelsDialog, "modelsDialog")
    rows = {row[4]: row for row in installed_rows(dialog, bundled=True)}
    demo = rows[str(DEMO_MODEL_DIR)]
    assert demo[:3] == ["Overpaint demo (shapes)", "SD 1.x", "Checkpoint (bundled)"]
    # It ships with Overpaint: there is nothing to move to the trash.
    dialog.select_installed(DEMO_MODEL_DIR)
    assert dialog.installed_tree.selectedItems()
    assert not dialog.remove_button.isEnabled()
    dialog.close()


def test_closing_during_an_install_asks_and_keep_running_reports_in_the_status_bar(
    window, qtbot, tmp_path: Path
) -> None:
    gate = Gate(_big_lora(tmp_path / "src.safetensors", context_dim=128), "ink.safetensors")
    dialog = _open(window, qtbot, "models", ModelsDialog, "modelsDialog")
    dialog.sources.tabs.setCurrentIndex(1)
    with gated(gate) as url:
        dialog.sources.source_edit.setText(url)
        answer("confirmInstallBox", "Install")
        qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=30_000)  # gate holds

        asked = reply("closeRunningBox", "Keep Running")
        qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)
        assert asked and "install" in asked[0].lower()
        assert not dialog.isVisible() and dialog.busy()
        status = _task_status(window, "modelsTaskStatus")
        assert status is not None and "%" in _status_text(status)

        # Its Show button reopens the dialog on the running install.
        qtbot.mouseClick(status.findChild(QToolButton), Qt.MouseButton.LeftButton)
        assert dialog.isVisible() and dialog.busy() and dialog.cancel_button.isEnabled()
        assert dialog.progress.isVisible() and _task_status(window, "modelsTaskStatus") is None

        # Closed once more and kept running: it finishes with the dialog closed.
        reply("closeRunningBox", "Keep Running")
        with qtbot.waitSignal(dialog.models_changed, timeout=30_000):
            assert dialog.close()  # accepted: the dialog hid, the install goes on
            assert not dialog.isVisible()
            gate.release.set()
    qtbot.waitUntil(lambda: not dialog.busy())
    assert _task_status(window, "modelsTaskStatus") is None
    assert window.statusBar().currentMessage().startswith("Installed ink.safetensors")
    combo = window.generation_panel.lora_panel.combo
    assert "ink" in [combo.itemData(i) for i in range(combo.count())]


@pytest.mark.usefixtures("one_torch_thread")
def test_a_training_kept_running_then_stopped_leaves_no_lora_anywhere(
    window, qtbot, tmp_path: Path
) -> None:
    panel = window.generation_panel
    qtbot.waitUntil(lambda: panel.model_combo.count() > 0)
    panel.set_model(str(DEMO_MODEL_DIR))
    dialog = _open(window, qtbot, "train_lora", TrainDialog, "trainDialog")
    dialog.folder_edit.setText(str(write_star_folder(tmp_path / "stars")))
    dialog.concept_edit.setText("star")
    for spin, value in ((dialog.rank_spin, 4), (dialog.batch_spin, 1), (dialog.steps_spin, 500)):
        spin.setValue(value)
    dialog.sample_spin.setValue(0)
    qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=120_000)

    asked = reply("closeRunningBox", "Keep Running")
    close = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close)
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert asked and "training" in asked[0].lower()
    assert not dialog.isVisible() and dialog.task is not None
    status = _task_status(window, "trainTaskStatus")
    assert status is not None
    first = _status_text(status)
    assert "step" in first and "/500" in first
    qtbot.waitUntil(lambda: _status_text(status) != first, timeout=60_000)  # it moves on

    window.actions.train_lora.trigger()  # reopened: the same run, still going
    assert dialog.isVisible() and dialog.task is not None and dialog.cancel_button.isEnabled()
    assert _task_status(window, "trainTaskStatus") is None

    reply("closeRunningBox", "Stop")
    dialog.close()
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=60_000)
    assert "cancelled at step" in window.statusBar().currentMessage()
    assert _task_status(window, "trainTaskStatus") is None

    # The checkpoint to continue from is kept, but outside every folder scanned for models.
    assert "Train continues it" in dialog.out_label.text()
    loras = user_models_dir() / "loras"
    assert not loras.exists() or not any(loras.iterdir())
    assert any((user_data_dir() / "training").rglob("state.json"))
    models = _open(window, qtbot, "models", ModelsDialog, "modelsDialog")
    assert [row for row in installed_rows(models) if row[2] == "LoRA"] == []
    window.refresh_models()
    combo = panel.lora_panel.combo
    assert [combo.itemData(i) for i in range(combo.count()) if combo.itemData(i)] == []


def test_quitting_while_an_install_runs_in_the_background_asks_first(
    window, qtbot, tmp_path: Path
) -> None:
    gate = Gate(_big_lora(tmp_path / "src.safetensors", context_dim=128), "ink.safetensors")
    dialog = _open(window, qtbot, "models", ModelsDialog, "modelsDialog")
    dialog.sources.tabs.setCurrentIndex(1)
    window.ask_save_changes = lambda: "discard"
    with gated(gate) as url:
        dialog.sources.source_edit.setText(url)
        answer("confirmInstallBox", "Install")
        qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=30_000)
        reply("closeRunningBox", "Keep Running")
        assert dialog.close() and dialog.busy()

        asked = reply("quitRunningBox", "Cancel")
        assert not window.close()  # Cancel: the window and the install stay
        assert asked and "installing" in asked[0]
        assert window.isVisible() and dialog.busy()

        reply("quitRunningBox", "Quit")
        assert window.close()
        assert not window.isVisible()
        gate.release.set()
        qtbot.waitUntil(lambda: not dialog.busy(), timeout=30_000)
    assert not (user_models_dir() / "loras" / "ink.safetensors").exists()
