"""Journey: bad input a new user meets (a cut-off PNG, a 0-byte .ora, a wrong model file)
is refused in one sentence and loses nothing on the canvas.

Found by walking the window: File ▸ Open asked "Save the changes to Untitled before
closing it?" before it had read the file, so a user with unsaved work was asked to save
or discard it for a file that then could not be opened; and Models ▸ From a file asked
"Install wrong.safetensors?", copied it, then refused it naming the copy in Overpaint's
downloads folder instead of the file the user picked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMessageBox

from editor.ui.model_manager.dialog import ModelsDialog
from engine.core.paths import user_data_dir, user_models_dir
from engine.models import DEMO_MODEL_DIR
from tests.editor.ui.test_models_dialog import answer, installed_rows
from tests.editor.ui.test_painting import drag
from tests.journeys.waiting import WAIT_MS


def _cut_png(path: Path) -> Path:
    Image.new("RGB", (256, 256), (200, 50, 50)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _paint_a_stroke(window, qtbot) -> None:
    window.canvas.actual_size()
    window.set_tool("brush")
    window.tool_options.set_foreground(QColor(0, 0, 0))
    window.tool_options.set_size(6)
    drag(qtbot, window, [(10, 10), (40, 30), (80, 50)])
    assert window.is_modified()


def _close_error_boxes(window) -> None:
    for box in window.findChildren(QMessageBox, "errorMessage"):
        box.close()


def test_a_bad_file_is_refused_before_any_question_and_the_work_stays(
    window, qtbot, tmp_path: Path
) -> None:
    window.new_document(96, 64, fill=(255, 255, 255, 255))
    _paint_a_stroke(window, qtbot)
    doc = window.document
    before = doc.composite_array().copy()
    assert (before[..., :3] == 0).any()  # the stroke is there
    asked: list[int] = []
    window.ask_save_changes = lambda: asked.append(1) or "discard"
    empty = tmp_path / "empty.ora"
    empty.write_bytes(b"")
    for bad, why in (
        (_cut_png(tmp_path / "cut.png"), "damaged or incomplete"),
        (empty, "is empty"),
    ):
        assert not window.open_path(bad)
        assert asked == [], f"{bad.name}: asked to give up the work for a file that cannot open"
        assert window.document is doc and window.is_modified()
        assert np.array_equal(doc.composite_array(), before)
        error = window.last_error
        assert bad.name in error and why in error, error
        assert error.endswith(".") and ". " not in error, error
        assert window.statusBar().currentMessage() == error
        _close_error_boxes(window)


def test_saving_over_the_file_being_opened_opens_the_saved_work(
    window, qtbot, tmp_path: Path
) -> None:
    """Reading first must not bring back the file's old contents when the user answers
    Save and the save goes to the very file being opened."""
    project = tmp_path / "work.ora"
    window.new_document(96, 64, fill=(255, 255, 255, 255))
    assert window.save_as(project)
    _paint_a_stroke(window, qtbot)
    painted = window.document.composite_array().copy()
    window.ask_save_changes = lambda: "save"
    assert window.open_path(project)
    assert not window.is_modified()
    assert np.array_equal(window.document.composite_array(), painted)


def test_a_wrong_model_file_is_refused_naming_the_users_file(window, qtbot, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.safetensors"
    wrong.write_bytes(b"this is not a model at all\n" * 100)
    window.actions.models.trigger()
    dialog = window.findChild(ModelsDialog, "modelsDialog")
    assert dialog is not None and dialog.isVisible()
    dialog.sources.tabs.setCurrentIndex(2)  # From a file or folder
    dialog.sources.local_edit.setText(str(wrong))
    asked = answer("confirmInstallBox", "Install")
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy() and bool(dialog.message.text()), timeout=30_000)
    assert asked == [], "asked to install a file that is no model"
    text = dialog.message.text()
    assert text.startswith(f"{wrong} is not a valid safetensors file"), text
    assert text.endswith(".") and "downloads" not in text
    assert installed_rows(dialog) == []
    assert not user_models_dir().exists() or not any(user_models_dir().rglob("*.safetensors"))
    downloads = user_data_dir() / "downloads"
    assert not downloads.exists() or not any(p.is_file() for p in downloads.rglob("*"))
    assert dialog.install_button.isEnabled()
    dialog.close()


def test_a_broken_model_folders_error_goes_when_another_model_is_picked(
    window, qtbot, tmp_path: Path
) -> None:
    """Found by walking: a model folder without its unet/config.json was called
    "unreadable or not valid JSON", and after its Generate failed and the user picked the
    demo model again, the dock still said so, in red."""
    broken = tmp_path / "badmodel"
    broken.mkdir()
    (broken / "model_index.json").write_text(
        '{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}'
    )
    panel = window.generation_panel
    qtbot.waitUntil(lambda: panel.model_combo.count() > 0)
    demo = panel.model_combo.findData(str(DEMO_MODEL_DIR))
    assert demo >= 0
    panel.set_model(str(broken))  # what the folder button does with the folder picked
    panel.prompt_edit.setPlainText("a red circle")
    with qtbot.waitSignal(window.generation.error, timeout=WAIT_MS) as failed:
        window.actions.generate.trigger()
    bar = panel.progress_bar
    assert failed.args[0] == (
        f"{broken / 'unet' / 'config.json'} is missing: the model folder is incomplete "
        "(copy or download it again)."
    )
    assert bar.is_error()
    _close_error_boxes(window)

    panel.model_combo.setCurrentIndex(demo)  # the user picks the demo model again
    assert not bar.is_error() and "badmodel" not in bar.full_text()
    assert bar.full_text() == "Idle"
