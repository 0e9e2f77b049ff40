"""Journeys: a region prompt and a reference layer, set through the Layer menu's dialogs
the way a user sets them.

A region layer keeps its prompt through Save As and reopen (the list shows its badge
again), its coverage reaches the generation the demo model runs, and the Generations dock
replays that generation with the kept mask; a reference layer's pixels never reach the
picture the model repaints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialogButtonBox

from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole
from editor.ui.generate.layer_role_dialogs import ReferenceLayerDialog, RegionPromptDialog
from editor.ui.layers_panel import BADGE_ROLE
from tests.editor.ui.test_painting import drag
from tests.journeys.waiting import WAIT_MS, next_result


def paint_on_new_layer(qtbot, window, colour: QColor, points) -> object:
    window.actions.add_layer.trigger()
    window.set_tool("brush")
    window.tool_options.set_foreground(colour)
    window.tool_options.set_size(14)
    drag(qtbot, window, points)
    return window.document.current_layer


def click_ok(qtbot, dialog) -> None:
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    dialog.deleteLater()


def test_region_prompt_survives_save_and_reopen_and_reaches_the_job(
    window, qtbot, tmp_path: Path
) -> None:
    window.new_document(128, 96, fill=(240, 240, 235, 255))
    window.canvas.actual_size()
    layer = paint_on_new_layer(
        qtbot, window, QColor(200, 40, 40), [(20, 20), (60, 20), (60, 60), (20, 60)]
    )

    window.actions.region_prompt.trigger()
    dialog = window.findChild(RegionPromptDialog)
    assert dialog is not None and dialog.isVisible()
    qtbot.keyClicks(dialog.prompt_edit, "a red circle")
    qtbot.keyClicks(dialog.negative_edit, "blue")
    click_ok(qtbot, dialog)
    role = RegionRole("a red circle", "blue")
    assert layer.region_prompt == role
    assert window.layers_panel.list.item(0).data(BADGE_ROLE) == "RGN"

    path = tmp_path / "regions.ora"
    assert window.save_as(path)
    window.new_document(32, 32, fill=None)
    assert window.open_path(path)
    doc = window.document
    reopened = next(lay for lay in doc.layers if lay.name == layer.name)
    assert reopened.region_prompt == role
    row = window.layers_panel.list.item(0)
    assert row.data(BADGE_ROLE) == "RGN" and '"a red circle"' in row.toolTip()

    # The region's coverage goes with the job; its red strokes are not painted in.
    panel = window.generation_panel
    panel.prompt_edit.setPlainText("a shape")
    panel.steps_spin.setValue(2)
    result = next_result(qtbot, window, window.actions.generate.trigger)
    ((prompt, negative),) = [(r.prompt, r.negative_prompt) for r in result.request.regions]
    assert (prompt, negative) == ("a red circle", "blue")
    assert len(result.request.regions[0].mask_hash) == 12
    # Without the strokes the picture is one flat colour: nothing to refine, txt2img.
    assert result.request.mode == "txt2img"

    # The Generations dock replays it with the region's mask the history kept, to the
    # same pixels, even with the region layer gone.
    doc.delete_layer(reopened)
    window.generation.candidates.clear()
    window.generation.history.flush()
    dock = window.generations_panel
    dock.search_box.setText("shape")
    qtbot.waitUntil(lambda: dock.model.rowCount() == 1, timeout=10_000)
    dock.select(0)
    dock.actions["regenerate"].trigger()
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    replayed = window.candidates.current().result
    assert replayed.request.regions == result.request.regions
    assert np.array_equal(replayed.rgba, result.rgba)


def test_a_reference_layer_never_reaches_the_picture_the_model_repaints(window, qtbot) -> None:
    window.new_document(128, 96, fill=(250, 250, 250, 255))
    window.canvas.actual_size()
    doc = window.document
    window.set_tool("brush")  # something on the picture to refine
    window.tool_options.set_foreground(QColor(30, 160, 60))
    drag(qtbot, window, [(10, 80), (110, 80)])
    picture = doc.composite_array()
    layer = paint_on_new_layer(qtbot, window, QColor(20, 40, 220), [(30, 30), (90, 60)])
    assert not np.array_equal(doc.composite_array(), picture)  # on screen it shows

    window.actions.reference_layer.trigger()
    dialog = window.findChild(ReferenceLayerDialog)
    assert dialog is not None and dialog.isVisible()
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("style"))
    dialog.strength_spin.setValue(0.7)
    click_ok(qtbot, dialog)
    assert layer.reference == ReferenceRole("style", 0.7)
    assert window.layers_panel.list.item(0).data(BADGE_ROLE) == "STY"

    job = window.generation.prepare(window.generation_panel.settings(), 512)
    assert job.request.mode == "img2img" and np.array_equal(job.inputs.image, picture)
    assert [r.kind for r in job.request.references] == ["style"]
    (reference,) = job.inputs.references
    assert (reference[..., 3] > 0).any() and reference.shape[0] < 96  # its own bounds
