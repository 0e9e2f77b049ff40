"""Creates the QApplication and the main window."""

from __future__ import annotations

import sys
from pathlib import Path


def run_gui(path: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from editor.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Overpaint")
    app.setOrganizationName("Overpaint")
    window = MainWindow()
    window.show()
    if path:
        window.open_path(Path(path))
    return app.exec()
