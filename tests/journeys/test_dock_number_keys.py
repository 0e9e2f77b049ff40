"""A number box in a dock (the brush Size, the Generate dock's Steps) keeps only what a
number needs. Found walking the window: after a click on the Size box's arrow, or typing
a size and Return, E did not pick the eraser, ] did not grow the brush, Space did not
pan and Ctrl+Z undid nothing, because the box kept the keyboard and ate every key."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSpinBox

LEFT, NO_MOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier


def focus():
    return QApplication.focusWidget()


def click_up_arrow(spin) -> None:
    option = QStyleOptionSpinBox()
    spin.initStyleOption(option)
    arrow = spin.style().subControlRect(
        QStyle.ComplexControl.CC_SpinBox, option, QStyle.SubControl.SC_SpinBoxUp, spin
    )
    QTest.mouseClick(spin, LEFT, NO_MOD, arrow.center())


def type_into(qtbot, spin, text: str) -> None:
    QTest.mouseClick(spin, LEFT, NO_MOD, QPoint(8, spin.height() // 2))
    qtbot.keyClick(spin, Qt.Key.Key_A, CTRL)
    qtbot.keyClicks(spin, text)


def test_keys_after_clicking_the_brush_size_arrow(window, qtbot) -> None:
    window.actions.add_layer.trigger()
    layers = len(window.document.layers)
    spin = window.tool_options.size_spin
    size = spin.value()
    click_up_arrow(spin)
    assert focus() is spin and spin.value() == size + 1

    qtbot.keyClick(focus(), Qt.Key.Key_E)
    assert window.actions.tool_eraser.isChecked()
    qtbot.keyClick(focus(), Qt.Key.Key_BracketRight)
    assert spin.value() > size + 1
    view = window.canvas
    before = view.origin
    qtbot.keyPress(focus(), Qt.Key.Key_Space)
    QTest.mousePress(view, LEFT, NO_MOD, QPoint(200, 200))
    QTest.mouseMove(view, QPoint(220, 215))
    QTest.mouseRelease(view, LEFT, NO_MOD, QPoint(220, 215))
    qtbot.keyRelease(focus(), Qt.Key.Key_Space)
    moved = view.origin - before
    assert (moved.x(), moved.y()) == (20, 15)
    qtbot.keyClick(focus(), Qt.Key.Key_Z, CTRL)
    assert len(window.document.layers) == layers - 1, "Ctrl+Z did not undo Add layer"
    assert window.statusBar().currentMessage() == "Undid: Add layer"


def test_digits_still_type_and_return_gives_the_keys_back(window, qtbot) -> None:
    window.actions.add_layer.trigger()
    spin = window.tool_options.size_spin
    type_into(qtbot, spin, "64")
    assert spin.value() == 64 and focus() is spin
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == 64 and focus() is window.canvas
    qtbot.keyClick(focus(), Qt.Key.Key_E)
    assert window.actions.tool_eraser.isChecked()

    steps = window.generation_panel.steps_spin
    type_into(qtbot, steps, "12")
    qtbot.keyClick(steps, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    assert steps.value() == 12 and focus() is window.canvas
    qtbot.keyClick(focus(), Qt.Key.Key_Z, CTRL)
    assert window.statusBar().currentMessage() == "Undid: Add layer"


def test_typing_in_a_number_box_undoes_its_own_typing_first(window, qtbot) -> None:
    """Ctrl+Z while the box holds typed text takes back the typing, as in any text box;
    the picture's history is left alone."""
    window.actions.add_layer.trigger()
    layers = len(window.document.layers)
    spin = window.tool_options.size_spin
    type_into(qtbot, spin, "7")
    assert spin.value() == 7
    qtbot.keyClick(spin, Qt.Key.Key_Z, CTRL)
    assert len(window.document.layers) == layers
