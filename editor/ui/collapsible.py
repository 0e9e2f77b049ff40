"""A section of a dock that folds away under its header, collapsed until the user opens
it: the settings a new user rarely changes stay one click away instead of below the
fold of a scrolled dock. Opened, it scrolls its dock so the rows it shows are in view."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QScrollArea, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from editor.ui.theme import tidy


class Collapsible(QWidget):
    """`header` (a checkable button with an arrow) over `body`, whose layout `content` the
    owner fills."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = tidy(QVBoxLayout(self), margin=0)
        self.header = QToolButton(text=title)
        self.header.setCheckable(True)
        self.header.setAutoRaise(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.ArrowType.RightArrow)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._reveal = True
        self.header.toggled.connect(self._toggled)
        self.body = QWidget()
        self.content = tidy(QVBoxLayout(self.body), margin=0)
        self.body.hide()
        layout.addWidget(self.header)
        layout.addWidget(self.body)

    def set_expanded(self, on: bool, reveal: bool = True) -> None:
        """`reveal=False` opens it where it is: restored at start-up, scrolling the dock
        down to it would hide the prompt the user starts with."""
        self._reveal = reveal
        try:
            self.header.setChecked(on)
        finally:
            self._reveal = True

    def expanded(self) -> bool:
        return self.header.isChecked()

    def _toggled(self, on: bool) -> None:
        self.header.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)
        if on and self._reveal:
            QTimer.singleShot(0, self.reveal)  # once the layout has made room for the body

    def reveal(self) -> None:
        """Scroll the dock holding this section so that as much of the opened body shows
        as fits, its header still in view."""
        scroll = self.parentWidget()
        while scroll is not None and not isinstance(scroll, QScrollArea):
            scroll = scroll.parentWidget()
        if scroll is None or scroll.widget() is None:
            return
        top = self.mapTo(scroll.widget(), self.rect().topLeft()).y()
        bottom = top + self.height()
        bar = scroll.verticalScrollBar()
        wanted = min(top, bottom - scroll.viewport().height())
        if wanted > bar.value():
            bar.setValue(wanted)
