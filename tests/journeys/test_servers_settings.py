"""Journey: Settings ▸ Servers, adding a local ComfyUI server. Found walking the window
under Xvfb: the address field's example was cut to "http://127.0.0.1:8…"."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox

POLL_MS = 50


def test_the_server_address_field_shows_its_whole_example(qtbot, window) -> None:
    seen: dict = {}

    def look() -> None:
        dialog = QApplication.activeModalWidget()
        if not (isinstance(dialog, QDialog) and dialog.windowTitle() == "Settings"):
            QTimer.singleShot(POLL_MS, look)
            return
        edit = dialog.servers_page.url_edit
        seen["example"] = edit.placeholderText()
        seen["needed"] = edit.fontMetrics().horizontalAdvance(edit.placeholderText())
        # The text's room inside the frame and its margins, as the line edit draws it.
        seen["room"] = edit.contentsRect().width() - 8
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Cancel).click()
        seen["closed"] = True

    QTimer.singleShot(0, look)
    window.actions.settings.trigger()
    qtbot.waitUntil(lambda: seen.get("closed", False), timeout=15000)

    assert seen["example"] == "http://127.0.0.1:8188"
    assert seen["room"] >= seen["needed"], seen
