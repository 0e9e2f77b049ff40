"""Journey: Edit mode on a tiny random FLUX.1 Kontext (built at test time), walked as a
user walks it: pick the model, choose Edit, type the instruction, select a rectangle,
mark a layer as the reference picture, press Generate and accept the result.

The result lands as a layer like any other job's; every pixel outside the selection is
bit-identical to before, and the reference's pixels never reach the edited picture. The
Generations dock replays the edit to the same pixels.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialogButtonBox

from editor.ui.generate.layer_role_dialogs import ReferenceLayerDialog
from tests.editor.ui.test_painting import drag

WAIT_MS = 240_000


def test_edit_a_selection_with_a_reference_on_a_tiny_kontext(window, qtbot, tiny_modern_dir):
    window.new_document(128, 96, fill=(235, 225, 200, 255))
    window.canvas.actual_size()
    doc = window.document
    window.set_tool("brush")  # a picture worth editing
    window.tool_options.set_foreground(QColor(40, 120, 60))
    window.tool_options.set_size(16)
    drag(qtbot, window, [(10, 70), (60, 40), (118, 70)])

    # A reference picture on a layer of its own, marked through the Layer menu.
    window.actions.add_layer.trigger()
    reference = doc.current_layer
    window.tool_options.set_foreground(QColor(200, 30, 160))
    drag(qtbot, window, [(100, 10), (120, 25)])
    window.actions.reference_layer.trigger()
    dialog = window.findChild(ReferenceLayerDialog)
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    assert reference.reference is not None

    panel = window.generation_panel
    panel.set_model(str(tiny_modern_dir("flux-kontext")))  # what the folder button does
    assert window.generation.edit_gate.offered()
    panel.set_mode("edit")
    panel.prompt_edit.setFocus()
    qtbot.keyClicks(panel.prompt_edit, "make the hill red")
    panel.steps_spin.setValue(2)

    window.set_tool("select_rect")
    drag(qtbot, window, [(30, 30), (90, 80)])
    assert doc.has_selection()
    selected = doc.selection > 0
    before = doc.composite_array()
    job = window.generation.prepare(panel.settings(), 1024)
    magenta = np.abs(job.inputs.image[..., :3].astype(int) - (200, 30, 160)).sum(axis=-1) < 40
    assert job.request.region.width > 100 and not magenta.any()  # the reference stays out

    qtbot.keyClick(window.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    result = window.candidates.candidates()[0].result
    assert result.request.mode == "edit" and result.request.prompt == "make the hill red"
    assert len(result.request.references) == 1
    assert "make the hill red" in result.parameters

    steps = doc.history.count()
    qtbot.mouseClick(window.candidates.accept_button, Qt.MouseButton.LeftButton)
    assert doc.history.count() == steps + 1
    after = doc.composite_array()
    assert np.array_equal(after[~selected], before[~selected])  # bit-identical outside
    assert not np.array_equal(after[selected], before[selected])
    assert doc.current_layer.name == "make the hill red"

    # The Generations dock replays the edit from the pictures the history kept (the
    # reference among them), to the same pixels, even after the reference is gone.
    doc.delete_layer(reference)
    window.generation.history.flush()
    dock = window.generations_panel
    dock.search_box.setText("hill")
    qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=10_000)
    dock.select(0)
    dock.actions["regenerate"].trigger()
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    replayed = window.candidates.current().result
    assert replayed.request.references == result.request.references
    assert (replayed.x, replayed.y) == (result.x, result.y)
    assert np.array_equal(replayed.rgba, result.rgba)
