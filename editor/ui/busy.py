"""Run slow file work (encoding, watermarking) off the UI thread, behind a modal busy dialog.

The caller copies what it needs from the document first (`editor.model.snapshot`); the
function given here must only touch that copy, never the live Document, because the
window keeps repainting (and autosave keeps reading) while it runs. The dialog is window-modal, so no edit can
happen meanwhile and the caller's next step (marking the history clean) stays true.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QEventLoop, Qt
from PySide6.QtWidgets import QProgressDialog, QWidget

from editor.ui.background import run_in_background

T = TypeVar("T")

# Work that ends sooner than this never shows the dialog, so quick saves do not flash.
DIALOG_DELAY_S = 0.4


def run_busy(parent: QWidget, text: str, work: Callable[[], T]) -> T:
    """`work()` on a helper thread; returns its result or raises its exception."""
    loop = QEventLoop()
    ended: list[bool] = []

    def end(_outcome: object = None) -> None:
        ended.append(True)
        loop.quit()

    task = run_in_background(lambda _task: work(), end, end, name="overpaint-file-work")
    if not task.wait(DIALOG_DELAY_S):
        dialog = QProgressDialog(text, "", 0, 0, parent)
        dialog.setCancelButton(None)  # an atomic write is not worth a half-way stop
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.show()
        if not ended:  # the end may have been delivered while the dialog showed
            loop.exec()
        dialog.close()
        dialog.deleteLater()
    task.wait()
    return task.result()  # the work's exception is raised here, on the UI thread
