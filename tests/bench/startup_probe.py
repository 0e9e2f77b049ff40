"""Child process for P5: starts Overpaint through its real entry point (editor.app.main)
and prints SHOWN_MARKER once the main window has painted, then quits.

The hook only wraps QApplication.exec: it watches the main window's first paint, so
nothing in the application is changed or skipped.
"""

from __future__ import annotations

import sys

SHOWN_MARKER = "OVERPAINT-WINDOW-SHOWN"


def _install_hook() -> None:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    original_exec = QApplication.exec

    class FirstPaint(QObject):
        def eventFilter(self, obj, event) -> bool:
            if event.type() == QEvent.Type.Paint:
                obj.removeEventFilter(self)
                # Report once this paint has finished, then leave.
                QTimer.singleShot(0, _report)
            return False

    def _report() -> None:
        print(SHOWN_MARKER, f"torch-imported={'torch' in sys.modules}", flush=True)
        QApplication.exit(0)

    def exec_hooked(*_args: object) -> int:
        windows = [w for w in QApplication.topLevelWidgets() if w.objectName() == "mainWindow"]
        if not windows:
            raise RuntimeError("no main window before the event loop started")
        FirstPaint.instance = FirstPaint()
        windows[0].installEventFilter(FirstPaint.instance)
        return original_exec()

    QApplication.exec = exec_hooked


if __name__ == "__main__":
    _install_hook()
    from editor.app import main

    sys.exit(main([]))
