"""The tools dock shows the chosen tool's own options, as Krita and GIMP do: the brush
rows for the painting tools, the selection modes (and the wand's tolerance) for the
selection tools, nothing of the brush for Move. '[' and ']' size the brush only where
there is one."""

from __future__ import annotations

from PySide6.QtCore import Qt

Key = Qt.Key

BRUSH = ["size", "hardness", "opacity", "spacing", "smoothing", "pressure"]


def pick(window, qtbot, tool: str) -> None:
    getattr(window.actions, f"tool_{tool}").trigger()
    assert window.tools.name == tool


def test_each_tool_shows_its_own_options(window, qtbot) -> None:
    options = window.tool_options
    for tool in ("brush", "eraser", "mask", "mask_eraser"):
        pick(window, qtbot, tool)
        assert options.shown_rows() == BRUSH
        assert options.size_spin.isVisible() and options.hardness_spin.isVisible()
        assert not options.selection_row.isVisible()
    pick(window, qtbot, "fill")
    assert options.shown_rows() == ["opacity"] and options.opacity_spin.isVisible()
    assert not options.size_spin.isVisible()
    for tool in ("select_rect", "select_ellipse", "lasso", "wand", "select_object"):
        pick(window, qtbot, tool)
        assert options.shown_rows() == []
        assert not options.size_spin.isVisible() and not options.opacity_spin.isVisible()
        assert not options.pressure_size_check.isVisible()
        assert options.selection_row.isVisible(), tool
        assert options.selection_mode_label.text() == "Selection: Replace"
        assert window.select_object.wand_options.isVisible() == (tool == "wand")
    for tool in ("move", "picker", "frame"):
        pick(window, qtbot, tool)
        assert options.shown_rows() == []
        assert not options.size_spin.isVisible() and not options.selection_row.isVisible()
    # The colours stay for every tool.
    assert options.fg_button.isVisible() and options.bg_button.isVisible()
    pick(window, qtbot, "brush")
    assert options.size_spin.isVisible() and options.pressure_size_check.isVisible()


def test_bracket_keys_size_the_brush_only_where_it_applies(window, qtbot) -> None:
    view = window.canvas
    view.setFocus()
    a = window.actions
    window.tool_options.set_size(20)
    qtbot.keyClick(view, Key.Key_L)  # the lasso
    assert window.tools.name == "lasso"
    assert not a.brush_bigger.isEnabled() and not a.brush_smaller.isEnabled()
    qtbot.keyClick(view, Key.Key_BracketRight)
    qtbot.keyClick(view, Key.Key_BracketRight)
    assert window.tool_options.size == 20 and view.brush_size == 20
    qtbot.keyClick(view, Key.Key_E)  # the eraser has a brush: the keys work again
    assert a.brush_bigger.isEnabled() and a.brush_smaller.isEnabled()
    qtbot.keyClick(view, Key.Key_BracketRight)
    assert window.tool_options.size > 20 and view.brush_size == window.tool_options.size
