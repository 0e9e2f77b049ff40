"""Placeholder main window; the editor issue replaces it with the real canvas."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QMainWindow


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Overpaint")
        self._label = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.setCentralWidget(self._label)
        self.resize(1024, 768)

    def open_path(self, path: Path) -> None:
        self._label.setPixmap(QPixmap(str(path)))
        self.setWindowTitle(f"{path.name} — Overpaint")
