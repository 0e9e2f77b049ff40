"""Journey: set every layer attribute a user can set, Save As, reopen: all of it is back.

Found by walking the window: a layer marked Scribble came back as a paint layer after
Save As and reopen. The comparison walks every attribute a Layer has (its ``vars``), so an
attribute added later that the save path forgets fails here too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialogButtonBox

from editor.model.control_role import ControlRole
from editor.ui.generate.control_layer_dialog import ControlLayerDialog
from tests.editor.ui.test_painting import drag

# Attributes that are not the layer's content: identity within one process.
NOT_SAVED = {"uid", "pixels"}


def layer_state(layer) -> dict:
    state = {k: v for k, v in vars(layer).items() if k not in NOT_SAVED}
    state["rgba"] = layer.to_rgba().tobytes()
    state["size"] = (layer.width, layer.height)
    return state


def mark_control_with_dialog(qtbot, window, role: ControlRole) -> None:
    window.actions.control_layer.trigger()
    dialog = window.findChild(ControlLayerDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(role.kind))
    dialog.strength_spin.setValue(role.strength)
    dialog.start_spin.setValue(role.start)
    dialog.end_spin.setValue(role.end)
    dialog.prepared_check.setChecked(role.prepared)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    dialog.deleteLater()


def test_every_layer_attribute_survives_save_as_and_reopen(window, qtbot, tmp_path: Path):
    window.new_document(96, 64, fill=(250, 240, 220, 255))
    window.canvas.actual_size()
    doc = window.document
    panel = window.layers_panel

    # The background: renamed in the list, multiply at 60 %, alpha locked.
    background = doc.current_layer
    panel.list.item(0).setText("Paper")
    panel.blend_combo.setCurrentIndex(panel.blend_combo.findData("multiply"))
    panel.opacity_slider.setValue(60)
    panel.alpha_lock_check.setChecked(True)

    # A sketch on a new layer: moved, marked as a control, then hidden.
    window.actions.add_layer.trigger()
    sketch = doc.current_layer
    window.set_tool("brush")
    window.tool_options.set_foreground(QColor(20, 20, 200))
    window.tool_options.set_size(5)
    drag(qtbot, window, [(20, 20), (60, 20), (60, 45)])
    assert not sketch.is_empty()
    doc.set_layer_offset(sketch, sketch.x + 7, sketch.y - 3)
    role = ControlRole("scribble", 0.75, 0.1, 0.8, prepared=True)
    mark_control_with_dialog(qtbot, window, role)
    panel.list.item(0).setCheckState(Qt.CheckState.Unchecked)

    # An accepted result carries the generation's parameters.
    result_pixels = np.full((16, 24, 4), (200, 30, 30, 255), np.uint8)
    result = doc.accept_patch(
        result_pixels, 40, 30, "a red square", {"parameters": "a red square\nSteps: 4, Seed: 7"}
    )
    doc.set_current_layer(sketch)

    assert background.name == "Paper" and background.blend_mode == "multiply"
    assert background.opacity == 0.6 and background.alpha_locked
    assert sketch.control == role and not sketch.visible
    assert result.metadata["parameters"].startswith("a red square")
    before = [layer_state(layer) for layer in doc.layers]

    first = tmp_path / "first.ora"
    assert window.save_as(first)
    second = tmp_path / "second.ora"
    assert window.save_as(second)  # Save As of a project that was saved already
    assert window.path == second

    window.new_document(32, 32, fill=None)
    assert window.open_path(second)
    after = [layer_state(layer) for layer in window.document.layers]
    for saved, reopened in zip(before, after, strict=True):
        assert reopened == saved, reopened["name"]
    assert window.document.current_layer.name == sketch.name
    assert np.array_equal(window.document.composite_array(), doc.composite_array())
    # The layer list shows the role again (badge tooltip) after the reopen.
    assert "Scribble control" in window.layers_panel.list.item(1).toolTip()
