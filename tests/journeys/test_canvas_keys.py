"""Canvas keys work whatever dock was clicked last, as in Krita: Space pans (it never
toggles a layer), tool letters pick tools, [ and ] size the brush. Text fields, such as
the prompt box, still get what is typed."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QListWidget

LEFT, NO_MOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


def click_layer_row(window, row: int) -> None:
    lst = window.layers_panel.list
    QTest.mouseClick(lst.viewport(), LEFT, NO_MOD, lst.visualItemRect(lst.item(row)).center())


def focus():
    return QApplication.focusWidget()


def test_space_after_clicking_a_layer_pans_and_hides_nothing(window, qtbot) -> None:
    window.actions.add_layer.trigger()
    history = window.document.history
    steps = history.count()
    click_layer_row(window, 0)
    layer = window.document.current_layer
    assert focus() is window.layers_panel.list and layer.name == "Layer 2"

    view = window.canvas
    before = view.origin
    qtbot.keyPress(focus(), Qt.Key.Key_Space)
    qtbot.keyPress(focus(), Qt.Key.Key_Space, delay=-1)  # the key held: auto-repeat
    QTest.mousePress(view, LEFT, NO_MOD, QPoint(200, 200))
    QTest.mouseMove(view, QPoint(230, 210))
    QTest.mouseRelease(view, LEFT, NO_MOD, QPoint(230, 210))
    qtbot.keyRelease(focus(), Qt.Key.Key_Space)

    assert layer.visible and window.layers_panel.list.item(0).checkState() == Qt.CheckState.Checked
    assert history.count() == steps, f"Space added {history.undo_text()!r}"
    moved = view.origin - before
    assert (moved.x(), moved.y()) == (30, 10)
    # Space let go: the next drag paints again instead of panning.
    QTest.mousePress(view, LEFT, NO_MOD, QPoint(200, 200))
    QTest.mouseMove(view, QPoint(240, 200))
    QTest.mouseRelease(view, LEFT, NO_MOD, QPoint(240, 200))
    assert view.origin == before + moved and history.count() == steps + 1


def test_space_never_toggles_or_presses_a_dock_widget(window, qtbot) -> None:
    click_layer_row(window, 0)
    qtbot.keyPress(focus(), Qt.Key.Key_Space)
    assert window.canvas.cursor().shape() == Qt.CursorShape.OpenHandCursor
    qtbot.keyRelease(focus(), Qt.Key.Key_Space)
    assert window.canvas.cursor().shape() != Qt.CursorShape.OpenHandCursor
    assert window.document.current_layer.visible
    # A checkbox clicked last (Lock alpha: one step) is not ticked again by Space.
    lock = window.layers_panel.alpha_lock_check
    QTest.mouseClick(lock, LEFT, NO_MOD, QPoint(8, lock.height() // 2))
    assert focus() is lock and lock.isChecked()
    steps = window.document.history.count()
    qtbot.keyClick(lock, Qt.Key.Key_Space)
    assert lock.isChecked() and window.document.current_layer.alpha_locked
    assert window.document.history.count() == steps


def test_tool_letters_and_brush_size_after_clicking_a_dock(window, qtbot) -> None:
    click_layer_row(window, 0)
    list_widget = focus()
    assert list_widget is window.layers_panel.list
    qtbot.keyClick(list_widget, Qt.Key.Key_E)
    assert window.actions.tool_eraser.isChecked()
    qtbot.keyClick(list_widget, Qt.Key.Key_B)
    assert window.actions.tool_brush.isChecked()
    size = window.tool_options.size
    qtbot.keyClick(list_widget, Qt.Key.Key_BracketRight)
    assert window.tool_options.size > size
    qtbot.keyClick(list_widget, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(list_widget, Qt.Key.Key_BracketLeft)
    assert window.tool_options.size < size
    # The History list too.
    window.history_dock.raise_()
    history_list = window.history_panel.findChild(QListWidget, "historyList")
    qtbot.waitUntil(history_list.isVisible)
    history_list.setFocus()
    qtbot.keyClick(focus(), Qt.Key.Key_M)
    assert window.actions.tool_mask.isChecked()


def test_typing_in_the_prompt_still_types(window, qtbot) -> None:
    prompt = window.generation_panel.prompt_edit
    QTest.mouseClick(prompt.viewport(), LEFT, NO_MOD, QPoint(10, 10))
    assert focus() is prompt
    before = window.canvas.origin
    qtbot.keyClicks(prompt, "a bee [x]")
    assert prompt.toPlainText() == "a bee [x]"
    assert window.actions.tool_brush.isChecked() and window.canvas.origin == before
    assert window.canvas.cursor().shape() != Qt.CursorShape.OpenHandCursor
