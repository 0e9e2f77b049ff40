"""Journey: use a downloaded checkpoint file from the Generate dock's model button.

Found by walking the window: the button's tooltip says "Use a model folder or
.safetensors file", but it opened a folder chooser, where no file can be picked.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu


def _when(found, act, tries: list[int]) -> None:
    """Call act(widget) once found() gives a widget; poll meanwhile (modal loops block)."""
    widget = found()
    if widget is not None:
        act(widget)
    elif tries[0] < 500:
        tries[0] += 1
        QTimer.singleShot(10, lambda: _when(found, act, tries))


def _file_dialog() -> QFileDialog | None:
    return next(
        (w for w in QApplication.topLevelWidgets() if isinstance(w, QFileDialog) and w.isVisible()),
        None,
    )


def test_the_model_button_picks_a_safetensors_file(window, qtbot, tmp_path: Path) -> None:
    checkpoint = tmp_path / "my-checkpoint.safetensors"
    checkpoint.write_bytes(b"\0" * 16)  # picked, not loaded: Generate checks it
    panel = window.generation_panel
    offered: list[str] = []

    def choose_file(menu: QMenu) -> None:
        offered.extend(a.text() for a in menu.actions())
        action = next(a for a in menu.actions() if a.text().startswith("Model File"))
        menu.close()
        action.trigger()

    def answer(dialog: QFileDialog) -> None:
        if dialog.fileMode() == QFileDialog.FileMode.Directory:
            dialog.reject()  # a folder chooser: no file can be picked in it
            return
        dialog.selectFile(str(checkpoint))
        dialog.accept()

    QTimer.singleShot(0, lambda: _when(QApplication.activePopupWidget, choose_file, [0]))
    QTimer.singleShot(0, lambda: _when(_file_dialog, answer, [0]))
    qtbot.mouseClick(panel.browse_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.model() == str(checkpoint), timeout=10_000)
    assert offered[0].startswith("Model Folder") and offered[1].startswith("Model File")
    assert panel.model_combo.currentText() == "my-checkpoint.safetensors"
