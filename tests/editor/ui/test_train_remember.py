"""Generate ▸ Train LoRA… remembers its fields across a restart: the picture folder, the
concept word and every setting come back (from the Settings file), a folder deleted since
is said in one sentence instead, and a run cancelled before the restart continues.

Training uses the settings of tests/editor/ui/test_train_dialog.py (demo model, rank 4,
batch 1, no flips): a handful of steps, to see the checkpoint carried over, not to learn.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from editor.ui.settings import Settings
from editor.ui.train.dialog import TrainDialog
from engine.core.paths import user_models_dir
from engine.models import DEMO_MODEL_DIR
from engine.training.trainer import work_dir
from tests.training.stars import write_star_folder


def _open(window, qtbot) -> TrainDialog:
    panel = window.generation_panel
    qtbot.waitUntil(lambda: panel.model_combo.count() > 0)  # the window lists its models
    window.actions.train_lora.trigger()
    dialog = window.findChild(TrainDialog, "trainDialog")
    assert dialog is not None and dialog.isVisible()
    return dialog


@contextmanager
def _restarted(qtbot, path: Path) -> Iterator[object]:
    """A new main window on the same settings file, as after quitting and starting again."""
    from editor.ui.main_window import MainWindow

    win = MainWindow(Settings(path))
    win.resize(1100, 800)
    win.show()
    try:
        yield win
    finally:
        dialog = win.findChild(TrainDialog, "trainDialog")
        if dialog is not None:
            dialog.wait_idle()
        win.ask_save_changes = lambda: "discard"
        win.close()
        win.deleteLater()


def _fill_in(dialog: TrainDialog, folder: Path) -> None:
    dialog.folder_edit.setText(str(folder))
    dialog.concept_edit.setText("star")
    dialog.template_edit.setText("a drawing of {concept}")
    dialog.name_edit.setText("my star")
    dialog.preset_combo.setCurrentText("quick")
    dialog.flip_box.setChecked(False)  # the captions say left and right
    dialog.rank_spin.setValue(4)
    dialog.batch_spin.setValue(1)
    dialog.seed_spin.setValue(7)


def test_folder_concept_and_settings_come_back_after_a_restart(
    window, qtbot, settings: Settings, tmp_path: Path
) -> None:
    dialog = _open(window, qtbot)
    folder = write_star_folder(tmp_path / "stars")
    _fill_in(dialog, folder)
    dialog.steps_spin.setValue(12)
    dialog.sample_spin.setValue(0)
    dialog.close()
    assert not dialog.isVisible()
    # On disk at once, not only when the window closes (a crash keeps them too).
    stored = settings.path.read_text(encoding="utf-8")
    assert "[train]" in stored and "concept=star" in stored and "steps=12" in stored

    with _restarted(qtbot, settings.path) as again:
        fresh = _open(again, qtbot)
        assert fresh is not dialog
        assert fresh.folder_edit.text() == str(folder)
        assert fresh.concept_edit.text() == "star"
        assert fresh.template_edit.text() == "a drawing of {concept}"
        assert fresh.name_edit.text() == "my star"
        assert fresh.preset_combo.currentText() == "quick"
        assert not fresh.flip_box.isChecked()
        values = [s.value() for s in (fresh.steps_spin, fresh.rank_spin, fresh.batch_spin)]
        assert values == [12, 4, 1]
        assert fresh.seed_spin.value() == 7 and fresh.sample_spin.text() == "never"
        assert fresh.folder_status.text().startswith("8 pictures found")
        assert str(user_models_dir() / "loras" / "my star.safetensors") in fresh.out_label.text()
        assert fresh.train_button.isEnabled()
        fresh.close()


def test_a_folder_gone_since_is_said_and_the_rest_comes_back(
    window, qtbot, settings: Settings, tmp_path: Path
) -> None:
    dialog = _open(window, qtbot)
    folder = write_star_folder(tmp_path / "stars")
    _fill_in(dialog, folder)
    dialog.close()
    shutil.rmtree(folder)  # moved or deleted between two sessions

    with _restarted(qtbot, settings.path) as again:
        fresh = _open(again, qtbot)
        assert fresh.folder_edit.text() == ""
        assert fresh.folder_status.text() == (
            f"The picture folder {folder} used last time is gone (moved or deleted); "
            "choose the folder of pictures again."
        )
        assert fresh.concept_edit.text() == "star" and fresh.rank_spin.value() == 4
        assert not fresh.train_button.isEnabled()
        # Chosen again (here, where the pictures are now): the dialog is usable as before.
        moved = write_star_folder(tmp_path / "moved")
        fresh.folder_edit.setText(str(moved))
        assert fresh.folder_status.text().startswith("8 pictures found")
        assert fresh.train_button.isEnabled()
        fresh.folder_edit.clear()  # emptied: it asks for a folder, the old one is forgotten
        assert fresh.folder_status.text().startswith("Choose a folder")
        fresh.close()


@pytest.mark.usefixtures("one_torch_thread")
def test_a_run_cancelled_before_a_restart_continues_after_it(
    window, qtbot, settings: Settings, tmp_path: Path
) -> None:
    window.generation_panel.set_model(str(DEMO_MODEL_DIR))
    dialog = _open(window, qtbot)
    assert dialog.model_combo.currentData() == str(DEMO_MODEL_DIR)
    _fill_in(dialog, write_star_folder(tmp_path / "stars"))
    dialog.steps_spin.setValue(40)
    dialog.sample_spin.setValue(0)
    qtbot.mouseClick(dialog.train_button, Qt.MouseButton.LeftButton)
    task = dialog.task
    assert task is not None
    qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=300_000)
    with qtbot.waitSignal(task.cancelled, timeout=60_000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.task is None)
    stopped = int(re.search(r"cancelled at step (\d+) of 40", dialog.message.text()).group(1))
    out = user_models_dir() / "loras" / "my star.safetensors"
    assert (work_dir(out) / "state.json").is_file()
    dialog.close()

    with _restarted(qtbot, settings.path) as again:
        fresh = _open(again, qtbot)
        assert fresh.model_combo.currentData() == str(DEMO_MODEL_DIR)
        assert f"stopped at step {stopped}, Train continues it" in fresh.out_label.text()
        # Only the step count changed: the checkpoint's pictures and settings still match.
        fresh.steps_spin.setValue(stopped + 2)
        with qtbot.waitSignal(fresh.trained, timeout=300_000):
            qtbot.mouseClick(fresh.train_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: fresh.task is None)
        assert f"continued from step {stopped}" in fresh.message.text()
        assert out.is_file() and not work_dir(out).exists()
        fresh.close()
