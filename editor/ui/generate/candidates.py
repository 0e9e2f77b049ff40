"""The strip of generated results waiting to be accepted or discarded."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from editor.ui.canvas_view import rgba_array_to_qimage
from editor.ui.theme import PANEL_MARGIN, tidy

THUMB_SIZE = 80


@dataclass(eq=False)
class Candidate:
    """One result: a GenerationResult plus the document it was made for."""

    result: object  # engine.request.GenerationResult
    image: QImage  # the RGBA patch as a QImage (for previews)
    document: object | None = None


class _ResultList(QListWidget):
    """The thumbnails list; while empty it says what will appear in it."""

    PLACEHOLDER = "Results appear here: click one to preview it on the canvas, then accept it."

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.count() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self.PLACEHOLDER)
            painter.end()


class CandidatesStrip(QWidget):
    """Thumbnails of results; selecting one previews it, Accept turns it into a layer."""

    preview_changed = Signal(object)  # Candidate | None
    count_changed = Signal(int)  # results added, accepted or discarded
    accept_requested = Signal(object)  # Candidate
    discarded = Signal(int)  # how many results the user discarded (Discard, Discard all)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("candidatesStrip")
        # A horizontal strip under the canvas: thumbnails, then the buttons in a column.
        layout = tidy(QHBoxLayout(self))
        layout.setContentsMargins(PANEL_MARGIN, 0, PANEL_MARGIN, PANEL_MARGIN)
        self.list = _ResultList()
        self.list.setObjectName("candidatesList")
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.list.setFixedHeight(THUMB_SIZE + 32)
        self.list.currentRowChanged.connect(self._row_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept_current())
        layout.addWidget(self.list, 1)
        buttons = tidy(QVBoxLayout(), margin=None)
        self.accept_button = QPushButton("Accept")
        self.accept_button.setObjectName("acceptButton")
        self.accept_button.setToolTip("Keep the selected result as a new layer")
        self.accept_button.clicked.connect(self.accept_current)
        self.discard_button = QPushButton("Discard")
        self.discard_button.setObjectName("discardButton")
        self.discard_button.clicked.connect(self.discard_current)
        self.discard_all_button = QPushButton("Discard all")
        self.discard_all_button.setObjectName("discardAllButton")
        self.discard_all_button.clicked.connect(self.discard_all)
        for button in (self.accept_button, self.discard_button, self.discard_all_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self._candidates: list[Candidate] = []
        self._update_buttons()

    def candidates(self) -> list[Candidate]:
        return list(self._candidates)

    def count(self) -> int:
        return len(self._candidates)

    def current(self) -> Candidate | None:
        row = self.list.currentRow()
        return self._candidates[row] if 0 <= row < len(self._candidates) else None

    def add_result(self, result, document: object | None = None) -> Candidate:
        image = rgba_array_to_qimage(result.rgba)
        candidate = Candidate(result, image, document)
        self._candidates.append(candidate)
        thumb = image.scaled(
            THUMB_SIZE,
            THUMB_SIZE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        item = QListWidgetItem(QIcon(QPixmap.fromImage(thumb)), f"seed {result.seed}")
        item.setToolTip(result.parameters)
        self.list.addItem(item)
        if self.list.currentRow() < 0:
            self.list.setCurrentRow(self.list.count() - 1)
        self._update_buttons()
        self.count_changed.emit(self.count())
        return candidate

    def select(self, row: int) -> None:
        self.list.setCurrentRow(row)

    def accept_current(self) -> None:
        candidate = self.current()
        if candidate is not None:
            self.accept_requested.emit(candidate)

    def remove(self, candidate: Candidate, preview_next: bool = True) -> None:
        """Drop `candidate`; the next one is previewed, or none with `preview_next` False
        (after Accept the canvas shows what was accepted)."""
        if candidate not in self._candidates:
            return
        row = self._candidates.index(candidate)
        self._candidates.pop(row)
        # One preview_changed below, not one per step of the list's current row moving.
        self.list.blockSignals(True)
        try:
            self.list.takeItem(row)
            if not preview_next:
                self.list.setCurrentRow(-1)
        finally:
            self.list.blockSignals(False)
        self._update_buttons()
        self.count_changed.emit(self.count())
        self.preview_changed.emit(self.current())

    def discard_current(self) -> None:
        candidate = self.current()
        if candidate is not None:
            self.remove(candidate)
            self.discarded.emit(1)

    def discard_all(self) -> None:
        """Discard all (the button and the menu); `clear` is for a new document, which
        says nothing of the results it drops."""
        count = self.count()
        self.clear()
        if count:
            self.discarded.emit(count)

    def clear(self) -> None:
        self._candidates.clear()
        self.list.clear()
        self._update_buttons()
        self.count_changed.emit(0)
        self.preview_changed.emit(None)

    def _row_changed(self, _row: int) -> None:
        self._update_buttons()
        self.preview_changed.emit(self.current())

    def _update_buttons(self) -> None:
        has = self.current() is not None
        self.accept_button.setEnabled(has)
        self.discard_button.setEnabled(has)
        self.discard_all_button.setEnabled(bool(self._candidates))
