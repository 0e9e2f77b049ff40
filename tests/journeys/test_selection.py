"""Selections as a new user meets them: a lasso is a limit that a generation keeps to (and
Del after it leaves nothing behind outside), and the modifier keys add, subtract and
intersect as in Krita and GIMP, with the operation named while the keys are held.

Everything is real: the start-up canvas, the selection tools chosen by their keys, drags
on the canvas viewport, Generate by its action with the bundled demo model.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication

from tests.editor.ui.test_painting import drag

Key, Mod = Qt.Key, Qt.KeyboardModifier
WAIT_MS = 120_000


def _widget(window, x: float, y: float) -> QPoint:
    return window.canvas.canvas_to_widget(QPointF(x, y)).toPoint()


def test_a_lasso_selection_keeps_the_generation_inside_it_and_del_leaves_no_fringe(window, qtbot):
    doc = window.document
    before = doc.composite_array()
    assert (before == 255).all()  # the white start-up canvas
    qtbot.keyClick(window.canvas, Key.Key_L)
    assert window.tools.name == "lasso"
    lasso = [(300, 260), (520, 240), (720, 300), (740, 520), (560, 700), (330, 640), (280, 430)]
    drag(qtbot, window, [*lasso, lasso[0]])
    selection = doc.selection.copy()
    outside = selection == 0
    assert doc.has_selection() and outside.mean() > 0.6

    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a large red circle, blue background")
    panel.steps_spin.setValue(4)
    window.actions.generate.trigger()
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    result = window.candidates.current().result
    assert result.request.mode == "inpaint" and result.request.mask_blur >= 16
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    after = doc.composite_array()
    inside = selection == 255
    assert (after[inside] != before[inside]).any(axis=1).mean() > 0.5  # it drew there
    # Not one pixel outside the marching ants changed, not even faintly.
    changed = (after != before).any(axis=2)
    assert not changed[outside].any(), f"{changed[outside].sum()} pixels changed outside"

    layer = doc.current_layer
    assert layer.name.startswith("a large red circle")
    qtbot.keyClick(window.canvas, Key.Key_Delete)
    assert window.undo_action.text() == "&Undo Clear"
    alpha = np.zeros(selection.shape, np.uint8)
    alpha[layer.y : layer.y + layer.height, layer.x : layer.x + layer.width] = layer.to_rgba()[
        ..., 3
    ]
    # Del clears the selection; no fringe of the result is left around it.
    assert alpha[outside].max() == 0
    cleared = doc.composite_array().astype(int)
    assert np.abs(cleared - before).max() <= 2  # only the antialiased edge, barely


def _status(window) -> str:
    return window.statusBar().currentMessage()


FLAGS = {Key.Key_Shift: Mod.ShiftModifier, Key.Key_Alt: Mod.AltModifier,
         Key.Key_Control: Mod.ControlModifier}  # fmt: skip


def _hold(qtbot, window, *keys: Key) -> None:
    """Press and keep down modifier keys, as X11 reports them (each press carries the
    keys already down)."""
    mods = Mod.NoModifier
    for key in keys:
        qtbot.keyPress(window.canvas, key, mods)
        mods |= FLAGS[key]
    QApplication.processEvents()


def _let_go(qtbot, window, *keys: Key) -> None:
    mods = Mod.NoModifier
    for key in keys:
        mods |= FLAGS[key]
    for key in reversed(keys):
        qtbot.keyRelease(window.canvas, key, mods)
        mods &= ~FLAGS[key]
    QApplication.processEvents()


def _selected(doc, x: int, y: int) -> bool:
    return bool(doc.selection[y, x] == 255)


def test_shift_adds_alt_subtracts_shift_alt_intersects_and_ctrl_subtracts_too(window, qtbot):
    doc = window.document
    options = window.tool_options
    qtbot.keyClick(window.canvas, Key.Key_R)
    assert window.tools.name == "select_rect"
    assert options.selection_mode_label.isVisible()
    assert "Replace" in options.selection_mode_label.text()
    # The keys are written where a user looks for them.
    assert "Shift" in options.selection_mode_label.toolTip()
    assert "Alt" in options.selection_mode_label.toolTip()

    drag(qtbot, window, [(100, 100), (300, 300)])
    assert _selected(doc, 200, 200) and not _selected(doc, 400, 200)

    _hold(qtbot, window, Key.Key_Shift)
    assert "Add" in _status(window) and "Add" in options.selection_mode_label.text()
    drag(qtbot, window, [(250, 150), (450, 250)], Mod.ShiftModifier)
    _let_go(qtbot, window, Key.Key_Shift)
    assert "Add" not in _status(window) and "Replace" in options.selection_mode_label.text()
    assert _selected(doc, 200, 200) and _selected(doc, 400, 200)

    _hold(qtbot, window, Key.Key_Alt)
    assert "Subtract" in _status(window) and "Subtract" in options.selection_mode_label.text()
    drag(qtbot, window, [(150, 150), (220, 220)], Mod.AltModifier)
    _let_go(qtbot, window, Key.Key_Alt)
    assert not _selected(doc, 180, 180)  # a hole, not a new selection
    assert _selected(doc, 120, 120) and _selected(doc, 400, 200)

    _hold(qtbot, window, Key.Key_Shift, Key.Key_Alt)
    assert "Intersect" in _status(window)
    assert "Intersect" in options.selection_mode_label.text()
    drag(qtbot, window, [(110, 110), (420, 260)], Mod.ShiftModifier | Mod.AltModifier)
    _let_go(qtbot, window, Key.Key_Shift, Key.Key_Alt)
    assert _selected(doc, 400, 200) and _selected(doc, 120, 120)
    assert not _selected(doc, 200, 280) and not _selected(doc, 440, 200)  # cut away

    # Ctrl subtracts too, where the window manager takes Alt+drag.
    _hold(qtbot, window, Key.Key_Control)
    assert "Subtract" in _status(window)
    drag(qtbot, window, [(380, 150), (460, 300)], Mod.ControlModifier)
    _let_go(qtbot, window, Key.Key_Control)
    assert not _selected(doc, 400, 200) and _selected(doc, 120, 120)
    assert "Replace" in options.selection_mode_label.text()

    qtbot.keyClick(window.canvas, Key.Key_B)  # a paint tool: no selection operation shown
    assert not options.selection_mode_label.isVisible()
