"""The history dock: every undo step by name; clicking one undoes or redoes up to it."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from editor.ui.theme import tidy

START = "Opened"


class HistoryPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyPanel")
        self.history = None
        self.can_jump = lambda: True  # the window says no during a stroke
        self._jumping = False
        layout = tidy(QVBoxLayout(self))
        self.list = QListWidget()
        self.list.setObjectName("historyList")
        self.list.currentRowChanged.connect(self._jump)
        layout.addWidget(self.list)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:  # the greyed colour follows the theme
            self.refresh()

    def set_history(self, history) -> None:  # history: editor.model.undo.History
        if self.history is not None:
            self.history.changed.disconnect(self.refresh)
        self.history = history
        history.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Row 0 is the state before any step; row i is the state after step i."""
        history = self.history
        if history is None or self._jumping:
            return
        self.list.blockSignals(True)
        try:
            self.list.clear()
            self.list.addItem(START)
            done = history.index()
            # Undone steps (still redoable) in the palette's greyed text colour.
            greyed = QBrush(
                self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
            )
            for i, text in enumerate(history.texts(), start=1):
                item = QListWidgetItem(text)
                if i > done:
                    item.setForeground(greyed)
                self.list.addItem(item)
            self.list.setCurrentRow(done)
        finally:
            self.list.blockSignals(False)

    def _jump(self, row: int) -> None:
        history = self.history
        if history is not None and row >= 0 and self.can_jump():
            # Rebuilding the list inside its own currentRowChanged is unsafe: wait.
            self._jumping = True
            try:
                while history.index() > row and history.undo():
                    pass
                while history.index() < row and history.redo():
                    pass
            finally:
                self._jumping = False
        QTimer.singleShot(0, self.refresh)
