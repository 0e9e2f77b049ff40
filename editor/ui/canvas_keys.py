"""Space pans the canvas whatever dock was clicked last, as in Krita.

Qt gives a key to the focus widget first. Tool letters and [ ] are window shortcuts, which
win over the docks' lists, buttons and sliders; Space is no shortcut but a key held
during a drag, so after a click on a layer row it toggled that layer (issue 27), on a
button it pressed it. While a widget of the main window or one of its docks that takes
no text has focus, its Space presses and releases go to the canvas's pan instead; text
fields (the prompt, a layer being renamed, spin boxes) keep them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDockWidget,
    QKeySequenceEdit,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

if TYPE_CHECKING:
    from editor.ui.canvas_view import CanvasView

_SPACE_EVENTS = (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)


def takes_text(widget: QWidget) -> bool:
    """Whether typing into `widget` enters text (a space included)."""
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    if isinstance(widget, (QLineEdit, QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    return isinstance(widget, (QAbstractSpinBox, QKeySequenceEdit))


class CanvasKeys(QObject):
    """Watches the focus widget (only it: an application-wide filter would see every
    event) and hands its Space to `canvas`."""

    def __init__(self, window: QWidget, canvas: CanvasView) -> None:
        super().__init__(window)
        self._window, self._canvas = window, canvas
        app = QApplication.instance()
        app.focusChanged.connect(self._focus_changed)
        self._focus_changed(None, app.focusWidget())

    def routes(self, widget: QWidget | None) -> bool:
        """Whether `widget`'s Space goes to the canvas: a widget of the window or of one of
        its docks (floating too), not a dialog's, and not a text field."""
        if widget is None or widget is self._canvas or takes_text(widget):
            return False
        while widget is not None:
            if widget is self._window:
                return True
            if widget.isWindow() and not isinstance(widget, QDockWidget):
                return False  # a dialog or a menu: its keys are its own
            widget = widget.parentWidget()
        return False

    def _focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        if old is not None:
            old.removeEventFilter(self)
        if self.routes(new):
            new.installEventFilter(self)
        elif new is not self._canvas:
            # The Space let go out of our sight (a text field, another window) must not
            # leave the canvas panning; a click on the canvas keeps it held.
            self._canvas.hold_space(False)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _SPACE_EVENTS and event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._canvas.hold_space(event.type() == QEvent.Type.KeyPress)
            return True  # auto-repeats too: each would toggle the row again
        return False
