"""Journey: Layer ▸ Control Layer… and Layer ▸ Reference Layer… say what their step range
is. Found walking the window: the two 0–1 boxes were labelled "From step" and "To step",
so "From step 0.20" read as a step number; they are fractions of the steps, as the command
line's START:END and the README have them, and are labelled so (the layer list's tooltip
too). The saved file keeps the same fractions as before."""

from __future__ import annotations

import zipfile
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QFormLayout, QLabel

from editor.model.control_role import ControlRole
from editor.model.reference_role import ReferenceRole
from editor.ui.generate.control_layer_dialog import ControlLayerDialog
from editor.ui.generate.layer_role_dialogs import ReferenceLayerDialog
from tests.editor.ui.test_layer_roles import paint_patch
from tests.editor.ui.test_painting import open_at_100


def _labels(dialog: ControlLayerDialog) -> tuple[str, str]:
    form = dialog.layout()
    assert isinstance(form, QFormLayout)
    start, end = form.labelForField(dialog.start_spin), form.labelForField(dialog.end_spin)
    assert isinstance(start, QLabel) and isinstance(end, QLabel)
    return start.text(), end.text()


def _set_and_ok(qtbot, dialog: ControlLayerDialog, kind: str, start: str, end: str) -> None:
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(kind))
    for spin, text in ((dialog.start_spin, start), (dialog.end_spin, end)):
        spin.selectAll()
        qtbot.keyClicks(spin, text)  # typed, as a user does
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    dialog.deleteLater()


def test_the_step_range_is_labelled_as_fractions_of_the_steps(
    window, qtbot, png_path: Path, tmp_path: Path
) -> None:
    open_at_100(window, png_path)
    sketch = paint_patch(qtbot, window, (20, 20, 20))
    window.actions.control_layer.trigger()
    dialog = window.findChild(ControlLayerDialog, "controlLayerDialog")
    assert dialog is not None and dialog.isVisible()
    assert _labels(dialog) == ("Start (fraction of the steps)", "End (fraction of the steps)")
    assert "fraction of the steps" in dialog.start_spin.toolTip()
    _set_and_ok(qtbot, dialog, "scribble", "0.2", "0.8")
    assert sketch.control == ControlRole("scribble", 1.0, 0.2, 0.8)
    row = window.layers_panel.list.item(0)
    assert "Scribble control, strength 1, from 0.2 to 0.8 of the steps: " in row.toolTip()

    picture = paint_patch(qtbot, window, (30, 30, 200))
    window.actions.reference_layer.trigger()
    dialog = window.findChild(ReferenceLayerDialog, "referenceLayerDialog")
    assert dialog is not None and dialog.isVisible()
    assert _labels(dialog) == ("Start (fraction of the steps)", "End (fraction of the steps)")
    _set_and_ok(qtbot, dialog, "style", "0.25", "1")
    assert picture.reference == ReferenceRole("style", 1.0, 0.25, 1.0)
    assert "from 0.25 to 1 of the steps" in window.layers_panel.list.item(0).toolTip()

    # The file keeps the fractions as it always has.
    path = tmp_path / "roles.ora"
    assert window.save_as(path)
    stack = zipfile.ZipFile(path).read("stack.xml").decode()
    assert 'overpaint-control-start="0.2"' in stack and 'overpaint-control-end="0.8"' in stack
    assert 'overpaint-reference-start="0.25"' in stack
    assert 'overpaint-reference-end="1"' in stack
