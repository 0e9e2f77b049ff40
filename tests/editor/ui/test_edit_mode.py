"""Edit mode in the Generate panel: offered only with a model that edits by instruction
(a tiny random FLUX.1 Kontext built at test time), the prompt becoming the instruction,
a refusal in one sentence otherwise, and the job it builds: the selection (or the whole
picture) to edit and the visible reference layers as its extra pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QRect, Qt

from editor.model.layer_roles import set_layer_reference
from editor.model.reference_role import ReferenceRole
from editor.ui.generate.edit_mode import INSTRUCTION_HINT, NOT_OFFERED
from engine.core.images import picture_hash
from tests.editor.ui.test_painting import open_at_100


def test_edit_is_offered_only_with_a_model_that_edits(
    window, tiny_model_dir: Path, tiny_modern_dir
) -> None:
    panel, gate = window.generation_panel, window.generation.edit_gate
    edit_index = panel.mode_combo.findData("edit")
    panel.set_model(str(tiny_model_dir))  # an SD 1.x model
    assert not gate.offered()
    assert panel.mode_combo.itemData(edit_index, Qt.ItemDataRole.ToolTipRole) == NOT_OFFERED
    panel.set_model(str(tiny_modern_dir("flux")))  # FLUX.1 dev draws, does not edit
    assert not gate.offered()
    panel.set_model(str(tiny_modern_dir("flux-kontext")))
    assert gate.offered()

    hint = panel.prompt_edit.placeholderText()
    panel.strength_spin.setValue(0.5)
    panel.set_mode("edit")
    assert panel.prompt_edit.placeholderText() == INSTRUCTION_HINT
    assert panel.strength_spin.value() == 1.0  # an edit repaints its selection from noise
    panel.set_mode("auto")
    assert panel.prompt_edit.placeholderText() == hint


def test_edit_with_a_model_that_cannot_is_refused_in_one_sentence(
    window, png_path: Path, tiny_model_dir: Path
) -> None:
    open_at_100(window, png_path)
    panel = window.generation_panel
    panel.set_model(str(tiny_model_dir))
    panel.set_mode("edit")  # a saved setting may hold it while the model cannot
    panel.prompt_edit.setPlainText("make it blue")
    errors: list[str] = []
    window.generation.error.connect(errors.append)
    steps = window.document.history.count()
    assert window.generation.generate() is None
    assert errors == [
        "Edit needs a model that edits by instruction (FLUX.1 Kontext, FLUX.2 Klein, "
        "Qwen-Image-Edit or Qwen-Image-Edit Plus); pick one, or choose another mode."
    ]
    assert window.document.history.count() == steps


def test_edit_job_is_the_selection_with_reference_layers_as_pictures(
    window, png_path: Path, tiny_modern_dir
) -> None:
    open_at_100(window, png_path)
    doc = window.document
    picture = doc.composite_array()
    ref_pixels = np.zeros((20, 30, 4), np.uint8)
    ref_pixels[..., 2], ref_pixels[..., 3] = 220, 255
    reference = doc.add_layer("hat", rgba=ref_pixels, x=5, y=5)
    set_layer_reference(doc, reference, ReferenceRole())
    hidden = doc.add_layer("unused", rgba=ref_pixels, x=50, y=50)
    set_layer_reference(doc, hidden, ReferenceRole())
    doc.set_layer_properties(hidden, visible=False)
    panel = window.generation_panel
    panel.set_model(str(tiny_modern_dir("flux-kontext")))
    panel.set_mode("edit")
    panel.prompt_edit.setPlainText("put a hat on it")

    whole = window.generation.prepare(panel.settings(), 1024)
    assert whole.request.mode == "edit" and whole.request.prompt == "put a hat on it"
    assert whole.inputs.mask is None and np.array_equal(whole.inputs.image, picture)

    doc.select_rect(QRect(40, 30, 50, 40))
    job = window.generation.prepare(panel.settings(), 1024)
    ctx = job.request.region
    assert job.request.mode == "edit" and job.region_source == "selection"
    assert np.array_equal(job.inputs.mask, doc.selection[ctx.y : ctx.bottom, ctx.x : ctx.right])
    assert np.array_equal(job.inputs.image, picture[ctx.y : ctx.bottom, ctx.x : ctx.right])
    (ref,) = job.inputs.references  # the visible one, at its own size
    assert np.array_equal(ref, ref_pixels)
    assert [r.image_hash for r in job.request.references] == [picture_hash(ref_pixels)]
