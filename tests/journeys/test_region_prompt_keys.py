"""Journey: two region prompts typed and confirmed from the keyboard, then generated.

Walking the window under Xvfb, a user typed "a red circle" in Layer ▸ Region Prompt…,
pressed Return (a new line: the box is multi-line) and then Ctrl+Return, the Generate
panel's key, which did nothing; and reopening the dialog to change a prompt put the
cursor before the old words, so what was typed went in front of them. Ctrl+Return now
confirms the dialog and typing goes after the old prompt. The two regions then give the
demo model's picture a red left half and a blue right half on a green background.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from editor.model.region_role import RegionRole
from editor.ui.generate.layer_role_dialogs import RegionPromptDialog
from editor.ui.layers_panel import BADGE_ROLE
from tests.editor.ui.test_painting import drag
from tests.journeys.waiting import next_result

WAIT_MS = 180_000
CTRL = Qt.KeyboardModifier.ControlModifier


def open_region_dialog(window) -> RegionPromptDialog:
    window.actions.region_prompt.trigger()
    dialogs = [d for d in window.findChildren(RegionPromptDialog) if d.isVisible()]
    assert len(dialogs) == 1
    return dialogs[0]


def paint_column(qtbot, window, x0: int, x1: int) -> object:
    window.actions.add_layer.trigger()
    window.set_tool("brush")
    window.tool_options.set_foreground(QColor(0, 0, 0))
    window.tool_options.set_size(30)
    points = [(x, y) for y in range(28, 104, 12) for x in (x0, x1)]
    drag(qtbot, window, points)
    return window.document.current_layer


def type_region(qtbot, window, prompt: str) -> object:
    layer = window.document.current_layer
    dialog = open_region_dialog(window)
    qtbot.keyClicks(dialog.prompt_edit, prompt)
    qtbot.keyClick(dialog.prompt_edit, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    dialog.deleteLater()
    assert layer.region_prompt == RegionRole(prompt)
    return layer


def test_region_prompts_confirmed_with_ctrl_return_steer_the_picture(window, qtbot) -> None:
    window.new_document(128, 128, fill=(255, 255, 255, 255))
    window.canvas.actual_size()
    left = paint_column(qtbot, window, 24, 40)

    # Return is a new line; Ctrl+Return with no prompt yet is refused in the dialog.
    dialog = open_region_dialog(window)
    qtbot.keyClick(dialog.prompt_edit, Qt.Key.Key_Return, CTRL)
    assert dialog.isVisible() and dialog.problem.text() == "A region needs a prompt of its own."
    qtbot.keyClicks(dialog.prompt_edit, "a red")
    qtbot.keyClick(dialog.prompt_edit, Qt.Key.Key_Return)
    assert dialog.isVisible()
    qtbot.keyClick(dialog.prompt_edit, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    dialog.deleteLater()
    assert left.region_prompt == RegionRole("a red")  # the trailing new line is dropped

    # Changing it: the words typed go after the old prompt.
    dialog = open_region_dialog(window)
    qtbot.keyClicks(dialog.prompt_edit, " circle")
    qtbot.keyClick(dialog.prompt_edit, Qt.Key.Key_Enter, CTRL)  # the keypad's Enter too
    qtbot.waitUntil(lambda: not dialog.isVisible())
    dialog.deleteLater()
    assert left.region_prompt == RegionRole("a red circle")

    paint_column(qtbot, window, 88, 104)
    type_region(qtbot, window, "a blue square")
    badges = [window.layers_panel.list.item(row).data(BADGE_ROLE) for row in (0, 1)]
    assert badges == ["RGN", "RGN"]

    panel = window.generation_panel
    panel.prompt_edit.setPlainText("green background")
    panel.seed_spin.setValue(7)
    result = next_result(qtbot, window, window.actions.generate.trigger, WAIT_MS)
    assert [r.prompt for r in result.request.regions] == ["a red circle", "a blue square"]
    rgb = result.rgba[..., :3].astype(int)
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    blue = (rgb[..., 2] > 150) & (rgb[..., 0] < 90) & (rgb[..., 1] < 120)
    green = (rgb[..., 1] > 120) & (rgb[..., 0] < 90) & (rgb[..., 2] < 90)
    half = rgb.shape[1] // 2
    # Each colour lies in its own half, and the corners are the root prompt's green.
    assert red[:, :half].sum() > 400 and red[:, half:].sum() < 40
    assert blue[:, half:].sum() > 400 and blue[:, :half].sum() < 40
    assert green[:12, :12].mean() > 0.9 and green[-12:, -12:].mean() > 0.9
    assert result.request.mode == "txt2img"  # the strokes only mark the regions
