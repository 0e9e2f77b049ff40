"""Reordering layers as a new user does: dragging a row in the Layers list, Layer ▸ Raise,
Lower, To Top and To Bottom (Ctrl+], Ctrl+[, Ctrl+Shift+], Ctrl+Shift+[ as in Krita), and
the buttons under the list. Each move is one named undo step, and the moved layer stays
listed, selected and selectable."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QDrag, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QListWidget, QToolButton

LEFT, NO_MOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def listed(window) -> list[str]:
    """Layer names as the Layers list shows them (top first)."""
    lst = window.layers_panel.list
    return [lst.item(i).text() for i in range(lst.count())]


def stacked(window) -> list[str]:
    """Layer names in the document, top first (what the canvas draws)."""
    return [layer.name for layer in reversed(window.document.layers)]


def three_layers(window) -> None:
    window.actions.add_layer.trigger()
    window.actions.add_layer.trigger()
    assert listed(window) == stacked(window) == ["Layer 3", "Layer 2", "Background"]


def row_point(window, name: str) -> QPoint:
    lst = window.layers_panel.list
    row = listed(window).index(name)
    return lst.visualItemRect(lst.item(row)).center()


def click_row(window, name: str) -> None:
    QTest.mouseClick(window.layers_panel.list.viewport(), LEFT, NO_MOD, row_point(window, name))


@pytest.fixture
def platform_drag(monkeypatch):
    """What the desktop's drag-and-drop does once a drag starts (the offscreen platform
    drops every drag at once): the pointer goes to `target` on `widget`, the widget there
    gets enter, move and drop, and the drag ends with the action the drop accepted."""
    where: dict = {}

    def exec_(drag: QDrag, actions=Qt.DropAction.MoveAction, default=None) -> Qt.DropAction:
        widget, target = where["widget"], where["target"]
        args = (actions, drag.mimeData(), LEFT, NO_MOD)
        for event in (QDragEnterEvent(target, *args), QDragMoveEvent(target, *args)):
            QApplication.sendEvent(widget, event)
            if not event.isAccepted():
                return Qt.DropAction.IgnoreAction
        drop = QDropEvent(target.toPointF(), *args)
        QApplication.sendEvent(widget, drop)
        return drop.dropAction() if drop.isAccepted() else Qt.DropAction.IgnoreAction

    monkeypatch.setattr(QDrag, "exec", exec_)
    return where


def drag_row(window, name: str, onto: str, platform_drag: dict) -> None:
    """Press on a row, move the mouse past the drag distance, and let go over another."""
    viewport = window.layers_panel.list.viewport()
    start, target = row_point(window, name), row_point(window, onto)
    platform_drag.update(widget=viewport, target=target)
    QTest.mousePress(viewport, LEFT, NO_MOD, start)
    step = QApplication.startDragDistance() + 2
    for i in (1, 2, 3):
        QTest.mouseMove(viewport, start + QPoint(0, step * i // 3 + 1))
    QTest.mouseRelease(viewport, LEFT, NO_MOD, target)


def test_a_dragged_layer_stays_listed_and_selectable(window, platform_drag) -> None:
    three_layers(window)
    history = window.document.history
    steps = history.count()
    drag_row(window, "Layer 3", "Layer 2", platform_drag)

    assert stacked(window) == ["Layer 2", "Layer 3", "Background"]
    assert listed(window) == stacked(window), "the dragged layer vanished from the list"
    assert window.document.current_layer.name == "Layer 3"
    assert window.layers_panel.list.currentItem().text() == "Layer 3"
    # A drag is named for what it did, not as the menu's Lower (one step either way).
    assert history.count() == steps + 1 and history.undo_text() == "Reorder layer"
    assert window.history_panel.findChild(QListWidget, "historyList").currentItem().text() == (
        "Reorder layer"
    )
    # Every row can be chosen again.
    for name in ("Background", "Layer 3", "Layer 2"):
        click_row(window, name)
        assert window.document.current_layer.name == name
    window.undo_action.trigger()
    assert listed(window) == stacked(window) == ["Layer 3", "Layer 2", "Background"]


def test_layer_menu_and_krita_shortcuts_reorder(window, qtbot) -> None:
    three_layers(window)
    history = window.document.history
    layer_menu = next(
        a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Layer"
    )
    in_menu = set(layer_menu.actions())
    for name in ("raise_layer", "lower_layer", "layer_to_top", "layer_to_bottom"):
        assert getattr(window.actions, name) in in_menu

    click_row(window, "Background")
    focus = QApplication.focusWidget()
    qtbot.keyClick(focus, Qt.Key.Key_BracketRight, CTRL)
    assert listed(window) == stacked(window) == ["Layer 3", "Background", "Layer 2"]
    assert history.undo_text() == "Raise layer"
    qtbot.keyClick(focus, Qt.Key.Key_BracketRight, CTRL | SHIFT)
    assert listed(window) == stacked(window) == ["Background", "Layer 3", "Layer 2"]
    assert history.undo_text() == "Layer to top"
    qtbot.keyClick(focus, Qt.Key.Key_BracketLeft, CTRL)
    assert listed(window) == stacked(window) == ["Layer 3", "Background", "Layer 2"]
    assert history.undo_text() == "Lower layer"
    qtbot.keyClick(focus, Qt.Key.Key_BracketLeft, CTRL | SHIFT)
    assert listed(window) == stacked(window) == ["Layer 3", "Layer 2", "Background"]
    assert history.undo_text() == "Layer to bottom"
    assert window.layers_panel.list.currentItem().text() == "Background"
    # Already at the bottom: nothing moves, no step.
    steps = history.count()
    window.actions.lower_layer.trigger()
    window.actions.layer_to_bottom.trigger()
    assert history.count() == steps
    window.actions.layer_to_top.trigger()
    assert stacked(window)[0] == "Background" and history.count() == steps + 1
    window.undo_action.trigger()
    assert listed(window) == stacked(window) == ["Layer 3", "Layer 2", "Background"]


def test_raise_and_lower_buttons_under_the_list(window) -> None:
    three_layers(window)
    panel = window.layers_panel
    raise_button = panel.findChild(QToolButton, "layerButton_raise_layer")
    lower_button = panel.findChild(QToolButton, "layerButton_lower_layer")
    assert raise_button is not None and lower_button is not None
    assert raise_button.isVisible() and lower_button.isVisible()
    assert "Ctrl+]" in raise_button.toolTip() and "Ctrl+[" in lower_button.toolTip()
    click_row(window, "Layer 3")
    QTest.mouseClick(lower_button, LEFT)
    assert listed(window) == stacked(window) == ["Layer 2", "Layer 3", "Background"]
    QTest.mouseClick(lower_button, LEFT)
    assert listed(window) == stacked(window) == ["Layer 2", "Background", "Layer 3"]
    QTest.mouseClick(raise_button, LEFT)
    assert listed(window) == stacked(window) == ["Layer 2", "Layer 3", "Background"]
    assert window.document.history.undo_text() == "Raise layer"
    assert panel.list.currentItem().text() == "Layer 3"
