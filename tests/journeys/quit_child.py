"""One run of the real editor (`run_gui`, offscreen), driven as a user drives it.

Run by tests/journeys/test_quit_recovery.py in a subprocess:

    python -m tests.journeys.quit_child MODE

MODE "quit": paint, let the autosave write, press Ctrl+Q and answer Discard in the real
"save changes?" box; the event loop ends as it does for a user. Prints AUTOSAVED (the
recovery files then on disk), then CLOSED once run_gui has returned.
MODE "crash": paint, let the autosave write, print READY and keep running (the test
kills the process).
MODE "start": a plain start. Prints OFFERED SESSION for each recovery the start-up
question offers (answering Later), then quits with Ctrl+Q and prints CLOSED.
The data and settings folders come from the environment (OVERPAINT_DATA_DIR,
XDG_CONFIG_HOME), as for the test.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def say(*words: object) -> None:
    print(*words, flush=True)


def main(mode: str) -> int:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QMessageBox

    from editor.ui import application, recovery_ui
    from editor.ui.main_window import MainWindow

    def offered(_controller, entry) -> str:
        say("OFFERED", entry.session)
        return "later"

    recovery_ui.RecoveryController.ask = offered
    app = application.create_application()

    def window() -> MainWindow:
        return next(w for w in app.topLevelWidgets() if isinstance(w, MainWindow))

    def answer_discard() -> None:
        box = app.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer_discard)
            return
        box.button(QMessageBox.StandardButton.Discard).click()

    def quit_with_ctrl_q() -> None:
        win = window()
        win.activateWindow()
        if not QTest.qWaitForWindowActive(win):
            say("NOT ACTIVE")  # the shortcut would not reach the window
        QTest.keyClick(win.canvas, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)

    def paint_and_autosave() -> None:
        win = window()
        win.fill_with_foreground()  # the whole layer: an unsaved change
        autosaver = win.recovery.autosaver
        autosaver.autosave_now()
        autosaver.wait()
        folder = autosaver.session.folder
        say("AUTOSAVED", *sorted(p.name for p in folder.iterdir() if p.suffix != ".lock"))

    def session() -> None:
        if mode == "start":
            quit_with_ctrl_q()
            return
        paint_and_autosave()
        if mode == "crash":
            say("READY")
            return
        QTimer.singleShot(0, answer_discard)
        quit_with_ctrl_q()

    # Runs once run_gui has shown the window and asked about recovery.
    QTimer.singleShot(0, session)
    code = application.run_gui()
    say("CLOSED", code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
