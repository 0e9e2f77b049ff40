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
