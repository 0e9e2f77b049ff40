"""Journey: Settings ▸ Servers, adding a local ComfyUI server. Found walking the window
under Xvfb: the address field's example was cut to "http://127.0.0.1:8…", and once
widened, the token's to "token (…"."""

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
        page = dialog.servers_page
        for name, edit in (("address", page.url_edit), ("token", page.token_edit)):
            # The text's room inside the frame and its margins, as the line edit draws it.
            room = edit.contentsRect().width() - 8
            needed = edit.fontMetrics().horizontalAdvance(edit.placeholderText())
            seen[name] = (edit.placeholderText(), room >= needed, room, needed)
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Cancel).click()
        seen["closed"] = True

    QTimer.singleShot(0, look)
    window.actions.settings.trigger()
    qtbot.waitUntil(lambda: seen.get("closed", False), timeout=15000)

    assert seen["address"][:2] == ("http://127.0.0.1:8188", True), seen
    assert seen["token"][:2] == ("token (optional)", True), seen
