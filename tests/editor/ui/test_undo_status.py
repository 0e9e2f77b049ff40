"""Undo and Redo say in the status bar which step went or came back, as Krita and
Photoshop do; with nothing to undo, the status is left alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from tests.editor.ui.test_painting import drag, open_at_100

Key, Mod = Qt.Key, Qt.KeyboardModifier


def test_undo_and_redo_name_their_step_in_the_status_bar(window, qtbot, png_path: Path) -> None:
    open_at_100(window, png_path)
    status = window.statusBar()
    layer = window.document.current_layer
    before = layer.to_rgba()
    window.set_tool("brush")
    drag(qtbot, window, [(40, 40), (80, 40)])
    painted = layer.to_rgba()

    qtbot.keyClick(window.canvas, Key.Key_Z, Mod.ControlModifier)
    assert np.array_equal(layer.to_rgba(), before)
    assert status.currentMessage() == "Undid: Brush stroke"

    qtbot.keyClick(window.canvas, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)
    assert np.array_equal(layer.to_rgba(), painted)
    assert status.currentMessage() == "Redid: Brush stroke"

    status.showMessage("Ready")
    qtbot.keyClick(window.canvas, Key.Key_Y, Mod.ControlModifier)  # nothing left to redo
    assert status.currentMessage() == "Ready"


def _click_history_row(window, qtbot, row: int) -> None:
    history = window.history_panel.list
    rect = history.visualItemRect(history.item(row))
    qtbot.mouseClick(history.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    # The list is rebuilt once the jump is over, the steps now undone greyed out.
    def greyed() -> list[bool]:
        return [
            history.item(i).foreground().style() != Qt.BrushStyle.NoBrush
            for i in range(history.count())
        ]

    qtbot.waitUntil(
        lambda: (
            history.currentRow() == row and greyed() == [i > row for i in range(history.count())]
        )
    )


def test_a_jump_in_the_history_dock_says_how_many_steps_went(window, qtbot, png_path: Path) -> None:
    open_at_100(window, png_path)
    doc = window.document
    qtbot.keyClick(window.canvas, Key.Key_N, Mod.ControlModifier | Mod.ShiftModifier)
    qtbot.keyClick(window.canvas, Key.Key_N, Mod.ControlModifier | Mod.ShiftModifier)
    qtbot.keyClick(window.canvas, Key.Key_A, Mod.ControlModifier)
    assert len(doc.layers) == 3 and doc.has_selection()
    window.history_dock.raise_()
    history = window.history_panel.list
    qtbot.waitUntil(history.isVisible)
    status = window.statusBar()

    _click_history_row(window, qtbot, 1)  # just after the first new layer
    assert status.currentMessage() == "Undid 2 steps: back to Add layer"
    assert len(doc.layers) == 2 and not doc.has_selection()

    _click_history_row(window, qtbot, 0)  # one step, named as Ctrl+Z names it
    assert status.currentMessage() == "Undid: Add layer"
    assert len(doc.layers) == 1

    _click_history_row(window, qtbot, 3)
    assert status.currentMessage() == "Redid 3 steps: up to Select all"
    assert len(doc.layers) == 3 and doc.has_selection()

    status.showMessage("Ready")
    _click_history_row(window, qtbot, 3)  # the row it stands at: nothing moves
    assert status.currentMessage() == "Ready"
    assert len(doc.layers) == 3
