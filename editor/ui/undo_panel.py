"""The history dock: every undo step by name; clicking one undoes or redoes up to it, and
the window's status bar says what the jump did (as Edit ▸ Undo / Redo do)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from editor.ui.theme import tidy


def jump_message(texts: list[str], before: int, after: int, start: str = "New image") -> str:
    """The status line for moving the history from index ``before`` to ``after`` (steps
    done), given every step's name oldest first and ``start``, the state before them; ""
    when it did not move. One step reads as Edit ▸ Undo / Redo put it; several name the
    step the document now stands at."""
    if after < before:
        if before - after == 1:
            return f"Undid: {texts[after]}"
        back_to = texts[after - 1] if after > 0 else start
        return f"Undid {before - after} steps: back to {back_to}"
    if after > before:
        if after - before == 1:
            return f"Redid: {texts[before]}"
        return f"Redid {after - before} steps: up to {texts[after - 1]}"
    return ""


class HistoryPanel(QWidget):
    jumped = Signal(str)  # what a click did, for the status bar (see jump_message)

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
            self.list.addItem(history.start_text)
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
            before = history.index()
            try:
                while history.index() > row and history.undo():
                    pass
                while history.index() < row and history.redo():
                    pass
            finally:
                self._jumping = False
            # Counted from where the history ended up, not the row: a step that refuses to
            # move stops the jump short.
            message = jump_message(history.texts(), before, history.index(), history.start_text)
            if message:
                self.jumped.emit(message)
        QTimer.singleShot(0, self.refresh)
