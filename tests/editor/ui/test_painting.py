"""Pointer input on the real canvas widget: strokes, mask, undo/redo, shortcuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor

from tests.editor.ui.conftest import gradient_rgba
from tests.editor.ui.test_window import widget_pixel

Key, Mod = Qt.Key, Qt.KeyboardModifier


def to_widget(window, x: float, y: float) -> QPoint:
    return window.canvas.canvas_to_widget(QPointF(x, y)).toPoint()


def drag(qtbot, window, points: list[tuple[float, float]], modifier=Mod.NoModifier) -> None:
    view = window.canvas
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, modifier, to_widget(window, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(view, to_widget(window, *p))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, modifier, to_widget(window, *points[-1]))


def open_at_100(window, png_path: Path) -> None:
    assert window.open_path(png_path)
    window.canvas.actual_size()


def test_stroke_lands_where_drawn_and_undo_restores(window, qtbot, png_path: Path) -> None:
    open_at_100(window, png_path)
    layer = window.document.current_layer
    before = layer.to_rgba()
    window.set_tool("brush")
    window.tool_options.set_foreground(QColor(255, 0, 0))
    window.tool_options.set_size(10)
    window.tool_options.hardness_spin.setValue(100)
    drag(qtbot, window, [(40, 40), (70, 40), (100, 40)])

    after = layer.to_rgba()
    assert tuple(after[40, 70]) == (255, 0, 0, 255)
    assert tuple(after[40, 42]) == (255, 0, 0, 255)
    changed = np.argwhere((after != before).any(axis=2))
    ys, xs = changed[:, 0], changed[:, 1]
    assert ys.min() >= 34 and ys.max() <= 46 and xs.min() >= 34 and xs.max() <= 106
    # The widget repainted the stroke's rectangle.
    assert widget_pixel(window, 70, 40) == (255, 0, 0)
    assert window.undo_action.text() == "&Undo Brush stroke"
    assert window.windowTitle() == "picture.png* — Overpaint"

    qtbot.keyClick(window.canvas, Key.Key_Z, Mod.ControlModifier)
    assert np.array_equal(layer.to_rgba(), before)
    assert widget_pixel(window, 70, 40) == tuple(int(v) for v in gradient_rgba()[40, 70, :3])
    assert window.redo_action.text() == "&Redo Brush stroke"
    assert window.windowTitle() == "picture.png — Overpaint"
    qtbot.keyClick(window.canvas, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)
    assert np.array_equal(layer.to_rgba(), after)
    qtbot.keyClick(window.canvas, Key.Key_Z, Mod.ControlModifier)
    qtbot.keyClick(window.canvas, Key.Key_Y, Mod.ControlModifier)
    assert np.array_equal(layer.to_rgba(), after)


def test_strokes_map_correctly_when_zoomed_and_panned(window, qtbot, png_path: Path) -> None:
    assert window.open_path(png_path)
    view = window.canvas
    view.set_zoom(3.0, QPointF(50, 50))
    view.pan_by(-37, 11)
    window.tool_options.set_foreground(QColor(0, 0, 255))
    window.tool_options.set_size(4)
    window.tool_options.hardness_spin.setValue(100)
    layer = window.document.current_layer
    drag(qtbot, window, [(120.5, 90.5), (121, 90.5)])
    rgba = layer.to_rgba()
    assert tuple(rgba[90, 120]) == (0, 0, 255, 255)
    painted = np.argwhere((rgba != gradient_rgba()).any(axis=2))
    assert np.abs(painted - [90, 120]).max() <= 3


def test_mask_brush_paints_mask_overlay_and_toggle(window, qtbot, png_path: Path) -> None:
    open_at_100(window, png_path)
    qtbot.keyClick(window.canvas, Key.Key_M)
    assert window.tools.name == "mask" and window.actions.tool_mask.isChecked()
    window.tool_options.set_size(16)
    layer_before = window.document.current_layer.to_rgba()
    drag(qtbot, window, [(60, 60), (90, 60)])
    mask = window.document.mask
    assert mask[60, 75] == 255 and mask[10, 10] == 0
    assert np.array_equal(window.document.current_layer.to_rgba(), layer_before)
    original = tuple(int(v) for v in gradient_rgba()[60, 75, :3])
    assert widget_pixel(window, 75, 60) != original  # tinted
    qtbot.keyClick(window.canvas, Key.Key_M, Mod.AltModifier)  # hide the mask
    assert widget_pixel(window, 75, 60) == original
    assert window.undo_action.text() == "&Undo Paint mask"


def test_tool_and_brush_shortcuts(window, qtbot) -> None:
    view = window.canvas
    view.setFocus()
    for key, name in ((Key.Key_E, "eraser"), (Key.Key_V, "move"), (Key.Key_M, "mask"),
                      (Key.Key_B, "brush")):  # fmt: skip
        qtbot.keyClick(view, key)
        assert window.tools.name == name
    window.tool_options.set_size(20)
    qtbot.keyClick(view, Key.Key_BracketRight)
    assert window.tool_options.size > 20 and view.brush_size == window.tool_options.size
    qtbot.keyClick(view, Key.Key_BracketLeft)
    qtbot.keyClick(view, Key.Key_BracketLeft)
    assert window.tool_options.size < 20
    fg, bg = window.tool_options.foreground, window.tool_options.background
    qtbot.keyClick(view, Key.Key_X)
    assert (window.tool_options.foreground, window.tool_options.background) == (bg, fg)
    assert window.tools.brush_settings.color == (bg.red(), bg.green(), bg.blue())


def test_file_shortcuts_trigger_their_actions(window, qtbot) -> None:
    fired = []
    for name in ("open", "save", "save_as", "export", "generate", "cancel"):
        action = getattr(window.actions, name)
        action.triggered.disconnect()
        action.triggered.connect(lambda _c=False, n=name: fired.append(n))
    view = window.canvas
    C, S = Mod.ControlModifier, Mod.ShiftModifier
    qtbot.keyClick(view, Key.Key_O, C)
    qtbot.keyClick(view, Key.Key_S, C)
    qtbot.keyClick(view, Key.Key_S, C | S)
    qtbot.keyClick(view, Key.Key_E, C | S)
    qtbot.keyClick(view, Key.Key_Return, C)
    qtbot.keyClick(view, Key.Key_Escape)
    assert fired == ["open", "save", "save_as", "export", "generate", "cancel"]


def test_alt_click_picks_colour(window, qtbot, png_path: Path) -> None:
    open_at_100(window, png_path)
    drag(qtbot, window, [(30, 20)], Mod.AltModifier)
    r, g, b = (int(v) for v in gradient_rgba()[20, 30, :3])
    assert window.tool_options.foreground == QColor(r, g, b)
    assert window.document.history.count() == 0


def test_rectangle_selection_then_copy(window, qtbot, png_path: Path) -> None:
    open_at_100(window, png_path)
    qtbot.keyClick(window.canvas, Key.Key_R)
    drag(qtbot, window, [(10, 20), (50, 60)])
    assert window.document.selection_bbox() is not None
    box = window.document.selection_bbox()
    assert (box.x(), box.y(), box.width(), box.height()) == (10, 20, 40, 40)
    assert window.copy(merged=True)
    from PySide6.QtWidgets import QApplication

    image = QApplication.clipboard().image()
    assert (image.width(), image.height()) == (40, 40)
    assert window.paste()
    pasted = window.document.current_layer
    assert (pasted.x, pasted.y, pasted.name) == (10, 20, "Pasted")
    assert np.array_equal(pasted.to_rgba(), gradient_rgba()[20:60, 10:50])


def tablet(window, kind, x: float, y: float, pressure: float) -> bool:
    """Send a QTabletEvent to the canvas; True if the canvas accepted it."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
    from PySide6.QtWidgets import QApplication

    pen = QPointingDevice(
        "test stylus", 7, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen,
        QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3,
    )  # fmt: skip
    pos = window.canvas.canvas_to_widget(QPointF(x, y))
    button = Qt.MouseButton.LeftButton
    event = QTabletEvent(
        getattr(QEvent.Type, kind), pen, pos, window.canvas.mapToGlobal(pos), pressure,
        0.0, 0.0, 0.0, 0.0, 0.0, Mod.NoModifier, button,
        Qt.MouseButton.NoButton if kind == "TabletRelease" else button,
    )  # fmt: skip
    QApplication.sendEvent(window.canvas, event)
    return event.isAccepted()


def painted_width(rgba: np.ndarray, before: np.ndarray, row: int, x0: int, x1: int) -> int:
    return int((rgba[row, x0:x1] != before[row, x0:x1]).any(axis=1).sum())


def test_tablet_pressure_reaches_the_brush(window, png_path: Path) -> None:
    open_at_100(window, png_path)
    window.tool_options.set_size(20)
    window.tool_options.hardness_spin.setValue(100)
    layer = window.document.current_layer
    before = layer.to_rgba()
    for x, pressure in ((40, 0.2), (110, 1.0)):
        assert tablet(window, "TabletPress", x, 60, pressure)
        assert tablet(window, "TabletMove", x + 0.2, 60, pressure)
        assert tablet(window, "TabletRelease", x + 0.2, 60, pressure)
    rgba = layer.to_rgba()
    light = painted_width(rgba, before, 60, 20, 70)
    firm = painted_width(rgba, before, 60, 85, 140)
    assert 3 <= light <= 8 and 18 <= firm <= 22
    assert window.document.history.texts() == ["Brush stroke", "Brush stroke"]


def test_stroke_repaints_only_its_rectangle(window, qtbot, png_path: Path) -> None:
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    class PaintSpy(QObject):
        rects: list = []

        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                self.rects.append(event.rect())
            return False

    open_at_100(window, png_path)
    view = window.canvas
    view.show_brush_outline = False
    spy = PaintSpy()
    view.installEventFilter(spy)
    # Repaints still pending from opening the picture are whole-view ones: let them run
    # (they are posted events), then count only what the stroke paints.
    QApplication.processEvents()
    spy.rects.clear()
    window.tool_options.set_size(6)
    drag(qtbot, window, [(40, 40), (44, 40)])
    qtbot.waitUntil(lambda: bool(spy.rects))
    whole = view.width() * view.height()
    assert all(r.width() * r.height() < whole / 50 for r in spy.rects), spy.rects
    spy.rects.clear()
    view.zoom_in()  # a zoom repaints everything: the spy does see big repaints
    qtbot.waitUntil(lambda: bool(spy.rects))
    assert max(r.width() * r.height() for r in spy.rects) == whole
    view.removeEventFilter(spy)


def test_typing_a_prompt_is_not_taken_by_tool_shortcuts(window, qtbot) -> None:
    fired = []
    window.actions.generate.triggered.disconnect()
    window.actions.generate.triggered.connect(lambda: fired.append("generate"))
    edit = window.generation_panel.prompt_edit
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    qtbot.keyClicks(edit, "move a box")  # m, v, b, e, x are all tool shortcuts
    assert edit.toPlainText() == "move a box"
    assert window.tools.name == "brush"
    qtbot.keyClick(edit, Key.Key_Return, Mod.ControlModifier)
    assert fired == ["generate"]
    assert edit.toPlainText() == "move a box"


def test_frame_tool_sets_and_shows_the_generation_frame(window, qtbot, png_path: Path) -> None:
    open_at_100(window, png_path)
    qtbot.keyClick(window.canvas, Key.Key_F)
    drag(qtbot, window, [(20, 30), (120, 100)])
    frame = window.document.generation_frame
    assert (frame.x, frame.y, frame.width, frame.height) == (20, 30, 100, 70)
    shown = window.canvas.frame_rect()
    assert (shown.x(), shown.y(), shown.width(), shown.height()) == (20, 30, 100, 70)
    assert window.undo_action.text().startswith("&Undo ")
    window.actions.clear_frame.trigger()
    assert window.document.generation_frame is None and window.canvas.frame_rect() is None
    window.undo()
    assert window.document.generation_frame == frame
    window.undo()
    assert window.document.generation_frame is None


def test_brush_options_reach_the_shared_brush_settings(window, png_path: Path) -> None:
    open_at_100(window, png_path)
    o, s = window.tool_options, window.tools.brush_settings
    o.spacing_spin.setValue(25)
    o.smoothing_spin.setValue(50)
    o.opacity_spin.setValue(40)
    o.pressure_size_check.setChecked(False)
    o.pressure_opacity_check.setChecked(True)
    assert (s.spacing, s.smoothing, s.opacity) == (0.25, 0.5, 0.4)
    assert (s.pressure_size, s.pressure_opacity) == (False, True)
    # With pressure on opacity, a light pen paints a lighter dab than a firm one.
    o.opacity_spin.setValue(100)
    o.hardness_spin.setValue(100)
    o.set_size(10)
    o.set_foreground(QColor(0, 0, 0))
    layer = window.document.current_layer
    for x, pressure in ((40, 0.3), (110, 1.0)):
        tablet(window, "TabletPress", x, 60, pressure)
        tablet(window, "TabletRelease", x, 60, pressure)
    rgba = layer.to_rgba().astype(int)
    base = gradient_rgba().astype(int)
    light = np.abs(rgba[60, 40, :3] - base[60, 40, :3]).sum()
    firm = np.abs(rgba[60, 110, :3] - base[60, 110, :3]).sum()
    assert 0 < light < firm


def test_no_two_actions_share_a_shortcut(window) -> None:
    from collections import Counter

    from PySide6.QtGui import QAction

    keys = Counter(
        seq.toString()
        for action in window.findChildren(QAction)
        for seq in action.shortcuts()
        if not seq.isEmpty()
    )
    assert keys["Ctrl+Z"] == keys["Ctrl+Y"] == keys["B"] == 1
    assert [k for k, n in keys.items() if n > 1] == []
