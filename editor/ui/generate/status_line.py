"""The Generate dock's progress bar, which is also its one status line.

Messages (the model loading, what a step count is made of, an error, a cancel, results
waiting) are the bar's text rather than label rows of their own: a row appearing took
its height from the scrolling settings and pushed the Advanced header out of view at the
default window size. The bar's height never changes, so text coming and going moves
nothing; text too long for it is cut with an ellipsis and all of it is the tooltip, and
an error is drawn in a warning colour.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPaintEvent, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QProgressBar,
    QStyle,
    QStyleOptionProgressBar,
    QStylePainter,
    QWidget,
)

# Room left and right of the text so it never touches the bar's frame.
TEXT_PADDING = 6


def error_colour(palette: QPalette) -> QColor:
    """A red that reads on the bar's background in the dark and the light theme."""
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    return QColor(255, 120, 110) if dark else QColor(180, 20, 20)


class StatusLine(QProgressBar):
    """A progress bar whose text is any message, drawn even while it is busy (Qt draws no
    text on a busy bar) and cut to fit its width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextVisible(True)
        self._error = False

    def show_text(self, text: str, error: bool = False) -> None:
        """Show `text` as it is ('%' is not a placeholder here); `error` draws it in the
        warning colour."""
        self._error = error
        self.setFormat(text.replace("%", "%%"))
        self._update_tip()
        self.update()

    def full_text(self) -> str:
        return self.format().replace("%%", "%")

    def is_error(self) -> bool:
        return self._error

    def shown_text(self) -> str:
        """The text as drawn: all of it, or as much as fits and an ellipsis."""
        width = self.contentsRect().width() - 2 * TEXT_PADDING
        return self.fontMetrics().elidedText(self.full_text(), Qt.TextElideMode.ElideRight, width)

    def _update_tip(self) -> None:
        full = self.full_text()
        self.setToolTip(full if self.shown_text() != full else "")

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_tip()

    def paintEvent(self, _event: QPaintEvent) -> None:
        option = QStyleOptionProgressBar()
        self.initStyleOption(option)
        option.text = self.shown_text()
        option.textVisible = True
        if self._error:
            colour = error_colour(self.palette())
            option.palette.setColor(QPalette.ColorRole.Text, colour)
            option.palette.setColor(QPalette.ColorRole.WindowText, colour)
        QStylePainter(self).drawControl(QStyle.ControlElement.CE_ProgressBar, option)
