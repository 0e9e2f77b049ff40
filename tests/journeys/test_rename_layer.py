"""Renaming a layer the way a new user looks for it: Layer ▸ Rename Layer… (F2, Krita's
key) opens the current layer's name for editing in the Layers list, even when the History
tab covers it, and the new name is one undo step. Found walking the window: renaming was
only a double-click on the row; the Layer menu had no entry and F2 did nothing."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit


def editor_open(window) -> QLineEdit | None:
    """The name editor open in the Layers list, if any."""
    focus = QApplication.focusWidget()
    lst = window.layers_panel.list
    if isinstance(focus, QLineEdit) and lst.viewport().isAncestorOf(focus):
        return focus
    return None


def rename_by_keys(window, qtbot, start, name: str) -> None:
    start()
    qtbot.waitUntil(lambda: editor_open(window) is not None)
    edit = editor_open(window)
    assert edit.selectedText() == edit.text(), "the old name is selected, ready to replace"
    qtbot.keyClicks(edit, name)
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    # The list's delegate takes the name in the next event-loop turn.
    qtbot.waitUntil(lambda: editor_open(window) is None)


def test_layer_menu_renames_the_current_layer_in_one_step(window, qtbot) -> None:
    window.actions.add_layer.trigger()
    layer = window.document.current_layer
    assert layer.name == "Layer 2"
    layer_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Layer")
    assert window.actions.rename_layer in layer_menu.actions()
    steps = window.document.history.count()

    rename_by_keys(window, qtbot, window.actions.rename_layer.trigger, "Sky")
    assert layer.name == "Sky" and window.layers_panel.list.item(0).text() == "Sky"
    assert window.document.history.count() == steps + 1
    assert window.document.history.undo_text() == "Rename layer"
    window.undo_action.trigger()
    assert layer.name == "Layer 2"


def test_f2_renames_even_when_the_history_tab_covers_the_layers(window, qtbot) -> None:
    window.actions.add_layer.trigger()
    window.actions.add_layer.trigger()
    window.history_dock.raise_()
    qtbot.waitUntil(lambda: window.layers_panel.list.visibleRegion().isEmpty())
    below = window.document.layers[1]
    window.document.set_current_layer(below)
    window.canvas.setFocus()

    rename_by_keys(window, qtbot, lambda: qtbot.keyClick(window.canvas, Qt.Key.Key_F2), "Trees")
    assert below.name == "Trees"
    assert [layer.name for layer in window.document.layers] == ["Background", "Trees", "Layer 3"]
    assert not window.layers_panel.list.visibleRegion().isEmpty()
