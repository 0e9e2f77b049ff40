"""A reference layer limited to a region layer, in the window: the Reference Layer dialog's
Region choice (one undo step, shown in the layer's tooltip, following the region layer's
rename, a hidden one listed marked hidden), the region layer's coverage at the context box
as the job's reference mask, the one-sentence refusals (a hidden region layer, two of that
name, a region with nothing in the repainted area), the choice kept through an .ora save
and reopen, and a real generation with the demo model and a tiny random IP-Adapter whose
pixels outside the region are those of the job without the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.io.project import load_ora, save_ora
from editor.model.layer_roles import layer_reference_sources
from editor.model.reference_role import ReferenceRole
from editor.ui.generate.layer_role_dialogs import WHOLE_PICTURE, edit_reference_layer
from engine.core.images import picture_hash
from engine.jobs import JobError
from engine.models import DEMO_MODEL_DIR
from tests.editor.ui.conftest import gradient_rgba
from tests.editor.ui.test_demo_scribble import _generate as generate
from tests.editor.ui.test_generation import WAIT_MS, prepare
from tests.editor.ui.test_layer_roles import paint_patch, set_region
from tests.editor.ui.test_painting import open_at_100
from tests.tiny_ip_adapter import build_tiny_ip_models


def _limit(window, region: str) -> None:
    """The current layer becomes a reference limited to `region` through the dialog."""
    dialog = edit_reference_layer(window)
    dialog.region_combo.setCurrentIndex(dialog.region_combo.findData(region))
    dialog.accept()


def _coverage(layer, doc, box) -> np.ndarray:
    return layer.to_rgba(doc.rect())[..., 3][box.y : box.bottom, box.x : box.right]


def _region_and_reference(qtbot, window, limit: bool = True):
    """A region layer named "Rose" and a reference layer above it (limited to it)."""
    region = paint_patch(qtbot, window)
    set_region(window, "a red rose")
    window.document.set_layer_properties(region, name="Rose")
    reference = paint_patch(qtbot, window, (30, 30, 200))
    if limit:
        _limit(window, "Rose")
    return region, reference


def test_the_region_choice_is_one_undo_step_and_shown_on_the_layer(
    window, qtbot, png_path: Path
) -> None:
    open_at_100(window, png_path)
    region, reference = _region_and_reference(qtbot, window, limit=False)
    dialog = edit_reference_layer(window)
    combo = dialog.region_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [WHOLE_PICTURE, "Rose"]
    assert combo.currentText() == WHOLE_PICTURE
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(""))
    assert not combo.isEnabled()  # a normal layer has no region
    dialog.reject()

    steps = window.document.history.count()
    _limit(window, "Rose")
    assert reference.reference == ReferenceRole("reference", region="Rose")
    assert window.document.history.count() == steps + 1
    row = window.layers_panel.list.item(0)
    assert 'Acts only where region layer "Rose" has pixels.' in row.toolTip()

    dialog = edit_reference_layer(window)  # reopened: shows the region, back to everywhere
    assert dialog.region_combo.currentText() == "Rose"
    dialog.reject()
    _limit(window, "")
    assert reference.reference == ReferenceRole("reference")
    assert window.undo_action.text() == "&Undo Reference settings"
    assert "Acts only" not in window.layers_panel.list.item(0).toolTip()
    window.undo()
    assert reference.reference == ReferenceRole("reference", region="Rose")

    # Renamed in the Layers list, the region keeps its references: one step for both.
    steps = window.document.history.index()
    window.layers_panel.list.item(1).setText("Tulip")
    assert (region.name, reference.reference.region) == ("Tulip", "Tulip")
    assert window.document.history.index() == steps + 1
    window.undo()
    assert (region.name, reference.reference.region) == ("Rose", "Rose")
    window.undo()
    assert reference.reference is None


def test_the_job_gets_the_regions_coverage_as_the_references_mask_also_after_reopening(
    window, qtbot, png_path: Path, tmp_path: Path
) -> None:
    open_at_100(window, png_path)
    doc = window.document
    region, reference = _region_and_reference(qtbot, window)

    job = window.generation.prepare(window.generation_panel.settings(), 512)
    ctx = job.request.region
    coverage = _coverage(region, doc, ctx)
    (mask,) = job.inputs.reference_masks
    assert np.array_equal(mask, coverage) and 0 < coverage.mean() < 255
    (spec,) = job.request.references
    assert spec.mask_hash == picture_hash(coverage) and spec.image_hash

    path = tmp_path / "regions.ora"
    save_ora(doc, path)
    back = load_ora(path)
    assert [layer.reference for layer in back.layers] == [layer.reference for layer in doc.layers]
    (source,) = layer_reference_sources(back)
    assert np.array_equal(source.region(ctx), coverage)


def test_a_hidden_region_or_one_outside_the_repainted_area_is_one_sentence(
    window, qtbot, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"  # room for a context box far from the region
    Image.fromarray(gradient_rgba(400, 300)).save(big)
    open_at_100(window, big)
    doc = window.document
    region, reference = _region_and_reference(qtbot, window)
    settings = window.generation_panel.settings()

    doc.set_layer_properties(region, visible=False)
    with pytest.raises(JobError) as hidden:
        window.generation.prepare(settings, 512)
    assert str(hidden.value) == (
        f'Reference layer "{reference.name}" is limited to the region layer "Rose", which is '
        "not a visible region layer; show it, or choose another region for the reference "
        "(Layer ▸ Reference Layer…)."
    )
    dialog = edit_reference_layer(window)  # still listed (hidden for a while), and marked
    combo = dialog.region_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [WHOLE_PICTURE, "Rose (hidden)"]
    assert combo.currentData() == "Rose"
    dialog.accept()
    assert reference.reference.region == "Rose"  # OK keeps the hidden region
    doc.set_layer_properties(region, visible=True)
    dialog = edit_reference_layer(window)
    assert dialog.region_combo.currentText() == "Rose"  # shown again: no mark
    dialog.reject()
    twin = doc.duplicate_layer(region)  # "Rose copy", renamed "Rose" too
    doc.set_layer_properties(twin, name="Rose")
    with pytest.raises(JobError) as twice:
        window.generation.prepare(settings, 512)
    assert str(twice.value) == (
        '2 region layers are named "Rose"; rename all but one so that reference layer '
        f'"{reference.name}" knows which region it is limited to.'
    )
    doc.delete_layer(twin)

    corner = np.zeros((doc.height, doc.width), np.uint8)
    corner[-16:, -16:] = 255
    assert not region.to_rgba(doc.rect())[-150:, -150:, 3].any()  # the rose is far away
    doc.set_selection(corner)
    errors: list[str] = []
    window.generation.error.connect(errors.append)
    assert window.generation.generate() is None
    assert errors == [
        f'The region layer "Rose" that reference layer "{reference.name}" is limited to covers '
        "nothing of the area being generated; extend the region there, or let the reference "
        "cover the whole picture."
    ]


def test_outside_its_region_a_reference_leaves_the_demo_models_pixels_as_they_are(
    window, qtbot, png_path: Path, tmp_path: Path
) -> None:
    open_at_100(window, png_path)
    doc = window.document
    region, reference = _region_and_reference(qtbot, window)
    prepare(window, DEMO_MODEL_DIR, prompt="a red circle, blue background", steps=4)
    window.generation_panel.seed_lock.setChecked(True)
    window.settings.model_dirs = [build_tiny_ip_models(DEMO_MODEL_DIR, tmp_path / "models")]
    said = []
    assert window.generate() is not None
    window.generation.client.progress.connect(
        # The bar's "Step 3/6 — 2 s left · …": what it says beside the steps.
        lambda *a: said.append(
            (a[2], window.generation_panel.progress_bar.format().partition(" · ")[2])
        )
    )
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    steered = window.candidates.candidates()[-1].result
    assert [r.mask_hash != "" for r in steered.request.references] == [True]
    # img2img at strength 0.75 runs 3 of the 4 steps, twice: the bar counts to 6.
    assert set(said) == {
        (6, "2 runs (a reference limited to a region) × 3 of 4 steps (strength 0.75)")
    }
    doc.set_layer_properties(reference, visible=False)  # the reference switched off
    without = generate(qtbot, window)
    assert without.request.references == ()
    ctx = steered.request.region
    assert ctx == without.request.region
    coverage = _coverage(region, doc, ctx)
    outside, inside = coverage == 0, coverage == 255
    assert outside.any() and inside.any()
    assert np.array_equal(steered.rgba[outside], without.rgba[outside])
    assert np.abs(steered.rgba[inside].astype(int) - without.rgba[inside]).mean() > 1.0
