"""A bug hit again and again (found walking: at every step of a job regenerated from
the Generations dock) is told in one box, not a stack of identical boxes to click away.
The window's unexpected-error hook is the one `overpaint` installs."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QMessageBox

from editor.ui.application import _report_unexpected_errors


def visible_boxes(window) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox, "errorMessage") if b.isVisible()]


def test_a_repeated_unexpected_error_shows_one_box(window, qtbot, monkeypatch) -> None:
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    _report_unexpected_errors(window)
    for _step in range(5):
        try:
            raise AttributeError("'NoneType' object has no attribute 'x'")
        except AttributeError:
            sys.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: len(visible_boxes(window)) == 1)
    qtbot.wait(50)
    (box,) = visible_boxes(window)
    assert "AttributeError" in box.text()

    window.show_error("The model folder is missing.")  # another message is still told
    assert len(visible_boxes(window)) == 2
    for box in visible_boxes(window):
        box.close()
    window.show_error("The model folder is missing.")  # and again once the box is closed
    assert len(visible_boxes(window)) == 1
