"""Space pans the canvas whatever dock was clicked last, as in Krita.

Qt gives a key to the focus widget first. Tool letters and [ ] are window shortcuts, which
win over the docks' lists, buttons and sliders; Space is no shortcut but a key held
during a drag, so after a click on a layer row it toggled that layer (issue 27), on a
button it pressed it. While a widget of the main window or one of its docks that takes
no text has focus, its Space presses and releases go to the canvas's pan instead; text
fields (the prompt, a layer being renamed) keep them.

A number box of the window (the brush Size, the Generate dock's Steps) takes only what a
number needs: a line edit claims every printable key and the undo keys ahead of the
window's shortcuts, so after a click on its arrow E, ], Space and Ctrl+Z did nothing.
Other printable keys go to the window's shortcuts, Space pans, the undo keys undo the
picture unless the box has typing of its own to take back, and Return or Enter keeps
the number and hands the keyboard to the canvas, as Krita and GIMP do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QKeySequenceEdit,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QTextEdit,
    QWidget,
)

if TYPE_CHECKING:
    from editor.ui.canvas_view import CanvasView

_SPACE_EVENTS = (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)
_NUMBER_CHARS = set("0123456789+-.,")
_RETURN_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
_PLAIN = (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)


def takes_text(widget: QWidget) -> bool:
    """Whether typing into `widget` enters text (a space included)."""
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    if isinstance(widget, (QLineEdit, QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    return isinstance(widget, (QAbstractSpinBox, QKeySequenceEdit))


def number_box(widget: QObject) -> bool:
    """A spin box of plain numbers (not a date or time editor, which takes text)."""
    return isinstance(widget, (QSpinBox, QDoubleSpinBox))


def _number_keeps(box: QAbstractSpinBox, event: QKeyEvent) -> bool:
    """Whether the number box `box` should keep the shortcut key `event` for itself."""
    edit = box.findChild(QLineEdit)
    if event.matches(QKeySequence.StandardKey.Undo):
        return edit is not None and edit.isUndoAvailable()
    if event.matches(QKeySequence.StandardKey.Redo):
        return edit is not None and edit.isRedoAvailable()
    text = event.text()
    plain = event.modifiers() & ~Qt.KeyboardModifier.ShiftModifier in _PLAIN
    if plain and len(text) == 1 and text.isprintable():
        return text in _NUMBER_CHARS or text == box.locale().decimalPoint()
    return True  # editing keys (Backspace, Del, arrows, Ctrl+A, Ctrl+C...)


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
        if widget is None or widget is self._canvas:
            return False
        if takes_text(widget) and not number_box(widget):
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
        kind = event.type()
        if kind in _SPACE_EVENTS and event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._canvas.hold_space(kind == QEvent.Type.KeyPress)
            return True  # auto-repeats too: each would toggle the row again
        if not number_box(watched):
            return False
        if kind == QEvent.Type.ShortcutOverride:
            # Left unaccepted, the override lets the window's shortcut have the key.
            return not _number_keeps(watched, event)
        if kind == QEvent.Type.KeyPress and event.key() in _RETURN_KEYS:
            if event.modifiers() in _PLAIN:
                # Losing the focus makes the box take what was typed, as Return does.
                self._canvas.setFocus(Qt.FocusReason.OtherFocusReason)
                return True
        return False
