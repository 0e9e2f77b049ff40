"""Run slow file work (encoding, watermarking) off the UI thread, behind a modal busy dialog.

The caller copies what it needs from the document first (`editor.model.snapshot`); the
function given here must only touch that copy, never the live Document, because the
window keeps repainting (and autosave keeps reading) while it runs. The dialog is window-modal, so no edit can
happen meanwhile and the caller's next step (marking the history clean) stays true.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QProgressDialog, QWidget

T = TypeVar("T")

# Work that ends sooner than this never shows the dialog, so quick saves do not flash.
DIALOG_DELAY_S = 0.4
_POLL_MS = 25


def run_busy(parent: QWidget, text: str, work: Callable[[], T]) -> T:
    """`work()` on a helper thread; returns its result or raises its exception."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised on the UI thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="overpaint-file-work")
    thread.start()
    thread.join(DIALOG_DELAY_S)
    if thread.is_alive():
        dialog = QProgressDialog(text, "", 0, 0, parent)
        dialog.setCancelButton(None)  # an atomic write is not worth a half-way stop
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.show()
        loop = QEventLoop()
        timer = QTimer()
        timer.timeout.connect(lambda: None if thread.is_alive() else loop.quit())
        timer.start(_POLL_MS)
        loop.exec()
        timer.stop()
        dialog.close()
        dialog.deleteLater()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
