"""The mouse wheel scrolls the panel under the pointer, not the field it passes over.

A spin box, combo box or slider takes the wheel only once the user has clicked into it
(it has the focus); otherwise the wheel scrolls the dock or dialog around it. Without
this, scrolling down the Generate dock changed Steps from 20 to 26 on its way past.

One application-wide event filter covers every window, dock and dialog, including the
fields made later (a LoRA's weight). It also gives these fields Qt.StrongFocus at polish
time: their default, WheelFocus, would let the wheel itself focus them first.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QSlider,
    QWidget,
)

FIELDS = (QAbstractSpinBox, QComboBox, QSlider)
GUARD_NAME = "wheelGuard"


def field_under(widget: QWidget) -> QWidget | None:
    """The field a wheel over `widget` would change: the widget itself, or the spin box or
    editable combo whose line edit it is."""
    if isinstance(widget, FIELDS):
        return widget
    parent = widget.parentWidget()
    return parent if isinstance(parent, (QAbstractSpinBox, QComboBox)) else None


def _scroll_area_viewport(widget: QWidget) -> QWidget | None:
    """The viewport of the innermost scroll area that shows `widget`."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea) and parent.viewport().isAncestorOf(widget):
            return parent.viewport()
        parent = parent.parentWidget()
    return None


class WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Polish:
            if isinstance(watched, FIELDS) and watched.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                watched.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            return False
        if kind != QEvent.Type.Wheel or not isinstance(watched, QWidget):
            return False
        field = field_under(watched)
        if field is None or field.hasFocus():
            return False
        # Handed to the scroll area directly rather than ignored: Qt passes an ignored
        # wheel on to the parents only for events from the window system.
        viewport = _scroll_area_viewport(field)
        if viewport is not None:
            assert isinstance(event, QWheelEvent)
            scroll = QWheelEvent(
                viewport.mapFromGlobal(event.globalPosition()),
                event.globalPosition(),
                event.pixelDelta(),
                event.angleDelta(),
                event.buttons(),
                event.modifiers(),
                event.phase(),
                event.inverted(),
                event.source(),
            )
            QCoreApplication.sendEvent(viewport, scroll)
        event.accept()
        return True


def install_wheel_guard(app: QCoreApplication | None = None) -> WheelGuard:
    """Install the guard on the application (once; later calls return the same one)."""
    app = app or QApplication.instance()
    guard = app.findChild(WheelGuard, GUARD_NAME)
    if guard is None:
        guard = WheelGuard(app)
        guard.setObjectName(GUARD_NAME)
        app.installEventFilter(guard)
    return guard
