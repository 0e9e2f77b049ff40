"""Journey: a region layer and a scribble control layer, Generate, Accept, delete both,
then Generations ▸ Use parameters brings them back as one undo step, Generate makes the
same picture again, and Save As, a restart and reopen keep both roles.

Walked by hand under Xvfb first; this drives the same window through its menus, keys,
dialogs and the dock's own buttons, with the bundled demo model at its native size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QToolButton

from editor.model.control_role import ControlRole
from editor.model.region_role import RegionRole
from editor.ui.generate.control_layer_dialog import ControlLayerDialog
from editor.ui.generate.layer_role_dialogs import RegionPromptDialog
from editor.ui.layers_panel import BADGE_ROLE
from engine.demo.dataset import PALETTE
from tests.editor.ui.test_painting import drag
from tests.journeys.waiting import next_result

SIDE = 128  # the demo model's native size: the quickest picture it makes
Key, Mod = Qt.Key, Qt.KeyboardModifier


def menu_entry(window, menu: str, entry: str) -> QAction:
    """The action behind `menu` ▸ `entry` in the window's menu bar (texts without '&')."""
    bar = window.menuBar()
    top = next(a.menu() for a in bar.actions() if a.text().replace("&", "") == menu)
    return next(a for a in top.actions() if a.text().replace("&", "") == entry)


def press(qtbot, window, key: Qt.Key, modifiers=Mod.NoModifier) -> None:
    qtbot.keyClick(window.canvas, key, modifiers)


def activate(qtbot, window) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def click_ok(qtbot, window, dialog) -> None:
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    dialog.deleteLater()
    # The offscreen platform has no window manager to hand activation back to the
    # window once the dialog is gone; without it the window's shortcuts stay dead.
    activate(qtbot, window)


def paint_on_new_layer(qtbot, window, colour: QColor, size: int, points) -> object:
    press(qtbot, window, Key.Key_N, Mod.ControlModifier | Mod.ShiftModifier)  # New Layer
    press(qtbot, window, Key.Key_B)
    window.tool_options.set_foreground(colour)
    window.tool_options.set_size(size)
    drag(qtbot, window, points)
    layer = window.document.current_layer
    assert not layer.is_empty()
    return layer


def click_layer_row(qtbot, window, name: str) -> None:
    view = window.layers_panel.list
    (item,) = [view.item(r) for r in range(view.count()) if view.item(r).text() == name]
    rect = view.visualItemRect(item)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.document.current_layer.name == name


def layer_names(window) -> list[str]:
    view = window.layers_panel.list
    return [view.item(r).text() for r in range(view.count())]


def layer_rows(window) -> dict:
    """The layer list's rows by the name they show."""
    view = window.layers_panel.list
    return {view.item(r).text(): view.item(r) for r in range(view.count())}


def generate(qtbot, window):
    return next_result(
        qtbot, window, lambda: press(qtbot, window, Key.Key_Return, Mod.ControlModifier)
    )


def test_use_parameters_brings_back_the_role_layers_and_the_picture(
    window, qtbot, settings, tmp_path: Path
) -> None:
    from editor.ui.main_window import MainWindow

    window.new_document(SIDE, SIDE, fill=(*PALETTE["blue"], 255))
    window.canvas.actual_size()
    doc = window.document

    # A region: a red patch, Layer ▸ Region Prompt….
    region = paint_on_new_layer(
        qtbot, window, QColor(200, 40, 40), 12, [(20, 20), (60, 20), (60, 60), (20, 60)]
    )
    menu_entry(window, "Layer", "Region Prompt…").trigger()
    dialog = window.findChild(RegionPromptDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.keyClicks(dialog.prompt_edit, "a red circle")
    qtbot.keyClicks(dialog.negative_edit, "green")
    click_ok(qtbot, window, dialog)
    region_role = RegionRole("a red circle", "green")
    assert region.region_prompt == region_role

    # A scribble: white lines of a square, Layer ▸ Control Layer… as Scribble.
    corners = [(70, 70), (110, 70), (110, 110), (70, 110)]
    scribble = paint_on_new_layer(qtbot, window, QColor(255, 255, 255), 4, [*corners, corners[0]])
    menu_entry(window, "Layer", "Control Layer…").trigger()
    dialog = window.findChild(ControlLayerDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("scribble"))
    click_ok(qtbot, window, dialog)
    control_role = scribble.control
    assert isinstance(control_role, ControlRole) and control_role.kind == "scribble"
    lines = scribble.to_rgba(doc.rect())
    coverage = region.to_rgba(doc.rect())[..., 3]

    # Txt2img: Auto would refine the accepted picture the second time, not make it anew.
    panel = window.generation_panel
    panel.mode_combo.setCurrentIndex(panel.mode_combo.findData("txt2img"))
    panel.prompt_edit.setPlainText("a red square, blue background")
    panel.steps_spin.setValue(3)
    first = generate(qtbot, window)
    assert first.request.mode == "txt2img"
    assert first.request.controls[0].model == "overpaint-demo-scribble"
    assert [r.prompt for r in first.request.regions] == ["a red circle"]
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    accepted = doc.composite_array()

    # Both role layers gone, through the layer list and Layer ▸ Delete Layer.
    for name in (scribble.name, region.name):
        click_layer_row(qtbot, window, name)
        menu_entry(window, "Layer", "Delete Layer").trigger()
    assert scribble.name not in layer_names(window) and region.name not in layer_names(window)
    plain = layer_names(window)
    assert np.array_equal(doc.composite_array(), accepted)  # role layers never show

    # Ctrl+H, the entry's thumbnail, the dock's "Use parameters" button.
    press(qtbot, window, Key.Key_H, Mod.ControlModifier)
    dock = window.generations_panel
    qtbot.waitUntil(lambda: not window.generations_dock.visibleRegion().isEmpty())
    qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=10_000)
    assert dock.model.data(dock.model.index(0, 0)).startswith("★ ")  # accepted: kept
    rect = dock.view.visualRect(dock.model.index(0, 0))
    qtbot.mouseClick(dock.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    (use,) = [b for b in dock.findChildren(QToolButton) if b.text() == "Use parameters"]
    assert use.isEnabled()
    steps = window.history_panel.list.count()
    qtbot.mouseClick(use, Qt.MouseButton.LeftButton)

    added = (
        "The generation's controls and regions were added as a control layer and a region layer."
    )
    assert window.statusBar().currentMessage() == (
        f"Parameters copied to the Generate panel, seed locked. {added}"
    )
    assert dock.status.text() == added
    assert panel.seed_lock.isChecked() and panel.seed_spin.value() == first.seed
    entry = dock.model.hits[0].id
    control_name = f"Control 1 of generation {entry}"
    region_name = f"Region 1 of generation {entry}"

    def check_restored() -> None:
        layers = {layer.name: layer for layer in window.document.layers}
        back, rose = layers[control_name], layers[region_name]
        assert back.control == control_role
        assert np.array_equal(back.to_rgba(doc.rect()), lines)
        assert rose.region_prompt == region_role
        assert np.array_equal(rose.to_rgba(doc.rect())[..., 3], coverage)
        rows = layer_rows(window)
        assert rows[region_name].data(BADGE_ROLE) == "RGN"
        assert "Scribble control" in rows[control_name].toolTip()

    check_restored()
    assert window.history_panel.list.count() == steps + 1  # one undo step for both

    # One Ctrl+Z takes both away; Ctrl+Shift+Z and Ctrl+Y bring both back.
    press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
    assert layer_names(window) == plain
    press(qtbot, window, Key.Key_Z, Mod.ControlModifier | Mod.ShiftModifier)
    check_restored()
    press(qtbot, window, Key.Key_Z, Mod.ControlModifier)
    assert layer_names(window) == plain
    press(qtbot, window, Key.Key_Y, Mod.ControlModifier)
    check_restored()

    # The locked seed and the restored layers make the same picture again.
    again = generate(qtbot, window)
    assert again.request.controls == first.request.controls
    assert again.request.regions == first.request.regions
    assert again.seed == first.seed and np.array_equal(again.rgba, first.rgba)
    qtbot.mouseClick(window.candidates.discard_button, Qt.MouseButton.LeftButton)
    assert window.candidates.count() == 0

    # Save As, close (nothing left to ask about), a new window, reopen.
    path = tmp_path / "roles.ora"
    assert window.save_as(path) and path.is_file()
    asked: list[bool] = []
    window.ask_save_changes = lambda: asked.append(True) or "discard"
    assert window.close() and not asked

    restarted = MainWindow(settings)
    try:
        restarted.resize(1100, 800)
        restarted.show()
        activate(qtbot, restarted)
        assert restarted.open_path(path)
        reopened = {layer.name: layer for layer in restarted.document.layers}
        assert reopened[control_name].control == control_role
        assert np.array_equal(reopened[control_name].to_rgba(doc.rect()), lines)
        assert reopened[region_name].region_prompt == region_role
        rows = layer_rows(restarted)
        assert rows[region_name].data(BADGE_ROLE) == "RGN"
        assert '"a red circle"' in rows[region_name].toolTip()
        assert "Scribble control" in rows[control_name].toolTip()

        # The restarted panel keeps the locked seed: the reopened layers make it again.
        restarted.canvas.setFocus()
        reborn = generate(qtbot, restarted)
        assert reborn.request.controls == first.request.controls
        assert reborn.request.regions == first.request.regions
        assert np.array_equal(reborn.rgba, first.rgba)
    finally:
        restarted.ask_save_changes = lambda: "discard"
        restarted.close()
        restarted.deleteLater()
