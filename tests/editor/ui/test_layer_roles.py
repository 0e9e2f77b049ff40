"""Region prompt and reference layers in the window: the Layer menu's dialogs (one undo
step each, a badge and a tint per role), the refusal of an empty region, and what a job
receives: each visible region layer's alpha at the context box, each visible reference
layer's own picture, and neither painted into the picture the model repaints; a region
prompt, and a reference through a tiny random IP-Adapter, steer a real generation on a
tiny random SD model through the worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from editor.model.layer_roles import set_layer_reference
from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole
from editor.ui.generate.layer_role_dialogs import (
    RegionPromptDialog,
    edit_reference_layer,
    edit_region_prompt,
)
from editor.ui.layer_badges import REFERENCE_TINT, REGION_TINT
from editor.ui.layers_panel import BADGE_ROLE
from engine.core.images import picture_hash
from engine.reference.spec import REFERENCE_KINDS
from tests.editor.ui.test_generation import WAIT_MS, prepare
from tests.editor.ui.test_painting import drag, open_at_100
from tests.tiny_ip_adapter import build_tiny_adapter, build_tiny_encoder


def paint_patch(qtbot, window, colour: tuple[int, int, int] = (200, 30, 30)):
    """A new layer with a brush stroke: the layer to give a role."""
    window.actions.add_layer.trigger()
    window.set_tool("brush")
    window.tool_options.set_foreground(QColor(*colour))
    window.tool_options.set_size(12)
    drag(qtbot, window, [(40, 30), (100, 30), (100, 70), (40, 70)])
    layer = window.document.current_layer
    assert not layer.is_empty()
    return layer


def set_region(window, prompt: str, negative: str = "", painted: bool = False) -> None:
    dialog = edit_region_prompt(window)
    dialog.prompt_edit.setPlainText(prompt)
    dialog.negative_edit.setPlainText(negative)
    dialog.painted_check.setChecked(painted)
    dialog.accept()


def test_region_prompt_is_one_undo_step_with_badge_tint_and_tooltip(
    window, qtbot, png_path: Path
) -> None:
    open_at_100(window, png_path)
    layer = paint_patch(qtbot, window)
    row = window.layers_panel.list.item(0)
    plain_icon = row.icon().pixmap(40, 40).toImage()
    steps = window.document.history.count()

    window.actions.region_prompt.trigger()  # Layer ▸ Region Prompt…
    dialog = window.findChild(RegionPromptDialog, "regionPromptDialog")
    assert dialog.isVisible()
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled() and dialog.problem.text() == "A region needs a prompt of its own."
    assert not dialog.remove_button.isVisible()  # nothing to remove yet
    dialog.prompt_edit.setPlainText("a red rose")
    dialog.negative_edit.setPlainText("wilted")
    assert ok.isEnabled() and dialog.problem.text() == ""
    dialog.accept()

    assert layer.region_prompt == RegionRole("a red rose", "wilted")
    assert window.document.history.count() == steps + 1
    assert window.undo_action.text() == "&Undo Make region layer"
    row = window.layers_panel.list.item(0)
    assert row.background().color() == REGION_TINT
    assert row.data(BADGE_ROLE) == "RGN"
    assert row.icon().pixmap(40, 40).toImage() != plain_icon
    assert 'Region prompt: "a red rose" (not "wilted")' in row.toolTip()

    window.undo()
    assert layer.region_prompt is None
    row = window.layers_panel.list.item(0)
    assert row.background().style() == Qt.BrushStyle.NoBrush and row.data(BADGE_ROLE) is None
    window.redo()
    assert layer.region_prompt == RegionRole("a red rose", "wilted")

    # Reopened, the dialog shows the role and can take it away (one more step).
    dialog = edit_region_prompt(window)
    assert dialog.prompt_edit.toPlainText() == "a red rose" and dialog.remove_button.isVisible()
    dialog.remove_button.click()
    assert layer.region_prompt is None
    assert window.undo_action.text() == "&Undo Remove region prompt"


def test_an_empty_layer_cannot_be_a_region(window, png_path: Path) -> None:
    open_at_100(window, png_path)
    window.actions.add_layer.trigger()
    layer = window.document.current_layer
    steps = window.document.history.count()
    assert edit_region_prompt(window) is None
    assert window.statusBar().currentMessage() == (
        f'Layer "{layer.name}" has no pixels, so its region prompt covers nothing; '
        "paint where the prompt should apply first."
    )
    assert layer.region_prompt is None and window.document.history.count() == steps


def test_reference_layer_dialog_offers_each_kind_with_its_description(
    window, qtbot, png_path: Path
) -> None:
    open_at_100(window, png_path)
    layer = paint_patch(qtbot, window, (30, 30, 200))
    dialog = edit_reference_layer(window)
    kinds = [dialog.kind_combo.itemData(i) for i in range(dialog.kind_combo.count())]
    assert kinds == ["", *REFERENCE_KINDS]
    assert not dialog.prepared_check.isVisible()
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("style"))
    assert dialog.description.text() == REFERENCE_KINDS["style"]
    dialog.strength_spin.setValue(0.6)
    dialog.start_spin.setValue(0.2)
    dialog.accept()
    assert layer.reference == ReferenceRole("style", 0.6, 0.2, 1.0)
    assert window.undo_action.text() == "&Undo Make style layer"
    row = window.layers_panel.list.item(0)
    assert row.background().color() == REFERENCE_TINT and row.data(BADGE_ROLE) == "STY"
    assert "Style reference, strength 0.6, from 0.2 to 1 of the steps" in row.toolTip()

    dialog = edit_reference_layer(window)  # back to a normal layer
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData(""))
    dialog.accept()
    assert layer.reference is None and window.layers_panel.list.item(0).data(BADGE_ROLE) is None


def test_job_gets_region_masks_and_reference_pictures_not_their_pixels(
    window, qtbot, png_path: Path
) -> None:
    open_at_100(window, png_path)
    doc = window.document
    picture = doc.composite_array()
    region = paint_patch(qtbot, window)
    set_region(window, "a red rose")
    reference = paint_patch(qtbot, window, (30, 30, 200))
    edit_reference_layer(window).accept()  # the dialog's first kind: reference
    assert reference.reference == ReferenceRole("reference")

    job = window.generation.prepare(window.generation_panel.settings(), 512)
    ctx = job.request.region
    assert np.array_equal(job.inputs.image, picture)  # neither layer is painted in
    (mask,) = job.inputs.region_masks
    coverage = region.to_rgba(doc.rect())[..., 3]
    assert np.array_equal(mask, coverage[ctx.y : ctx.bottom, ctx.x : ctx.right])
    assert [(r.prompt, r.mask_hash) for r in job.request.regions] == [
        ("a red rose", picture_hash(mask))
    ]
    (ref,) = job.inputs.references
    full = reference.to_rgba(doc.rect())
    ys, xs = np.nonzero(full[..., 3])
    assert np.array_equal(ref, full[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    assert job.request.references[0].image_hash == picture_hash(ref)

    # "Also painted": the region layer is part of the picture again; hidden roles take
    # no part at all.
    doc.set_current_layer(region)
    set_region(window, "a red rose", painted=True)
    doc.set_layer_properties(reference, visible=False)
    job = window.generation.prepare(window.generation_panel.settings(), 512)
    assert not np.array_equal(job.inputs.image, picture)
    assert len(job.request.regions) == 1 and job.request.references == ()


def test_a_region_layer_emptied_later_is_refused_when_generating(
    window, qtbot, png_path: Path
) -> None:
    open_at_100(window, png_path)
    layer = paint_patch(qtbot, window)
    set_region(window, "a red rose")
    window.actions.clear.trigger()  # no selection: clears the whole layer
    assert not layer.pixels[..., 3].any()
    errors: list[str] = []
    window.generation.error.connect(errors.append)
    assert window.generation.generate() is None
    assert errors == [
        f'Layer "{layer.name}" has no pixels, so its region prompt covers nothing; '
        "paint where the prompt should apply first."
    ]


def test_a_region_prompt_steers_a_real_generation_and_a_hidden_one_takes_no_part(
    window, qtbot, png_path: Path, tiny_model_dir: Path
) -> None:
    open_at_100(window, png_path)
    doc = window.document
    layer = paint_patch(qtbot, window)
    set_region(window, "a small red boat", "blurry")
    prepare(window, tiny_model_dir, prompt="a field")
    window.generation_panel.seed_lock.setChecked(True)

    def generate():
        count = window.candidates.count()
        assert window.generate() is not None
        qtbot.waitUntil(lambda: window.candidates.count() == count + 1, timeout=WAIT_MS)
        return window.candidates.candidates()[-1].result

    steered = generate()
    assert [r.prompt for r in steered.request.regions] == ["a small red boat"]
    doc.set_layer_properties(layer, visible=False)  # hidden: no part in the job
    hidden = generate()
    doc.delete_layer(layer)
    none = generate()
    assert hidden.request.regions == () and none.request == hidden.request
    assert np.array_equal(hidden.rgba, none.rgba)
    assert np.abs(steered.rgba.astype(int) - none.rgba).mean() > 0.5


def test_a_reference_layer_steers_a_real_generation_through_a_tiny_ip_adapter(
    window, qtbot, png_path: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    open_at_100(window, png_path)
    doc = window.document
    layer = paint_patch(qtbot, window, (30, 30, 200))
    set_layer_reference(doc, layer, ReferenceRole("reference", 1.0))
    prepare(window, tiny_model_dir, prompt="a field", steps=2)
    errors: list[str] = []
    window.generation.error.connect(errors.append)

    # No adapter installed: one sentence, no result.
    assert window.generate() is not None
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert errors[0].startswith("Reference layers need an IP-Adapter for ")
    assert window.candidates.count() == 0

    models = tmp_path / "models"
    build_tiny_adapter(tiny_model_dir, models)
    build_tiny_encoder(models)
    window.settings.model_dirs = [models]

    def generate():
        count = window.candidates.count()
        assert window.generate() is not None
        qtbot.waitUntil(lambda: window.candidates.count() == count + 1, timeout=WAIT_MS)
        return window.candidates.candidates()[-1].result

    steered = generate()
    assert [r.kind for r in steered.request.references] == ["reference"]
    doc.set_layer_properties(layer, visible=False)  # hidden: no part in the job
    hidden = generate()
    doc.delete_layer(layer)
    none = generate()
    assert hidden.request.references == () and none.request == hidden.request
    assert np.array_equal(hidden.rgba, none.rgba)
    assert not np.array_equal(steered.rgba, none.rgba)


def test_the_live_dock_names_a_region_layer_among_what_steers_it(
    window, qtbot, png_path: Path
) -> None:
    open_at_100(window, png_path)
    layer = paint_patch(qtbot, window)
    steering = window.live.panel.steering_label
    window.live_dock.raise_()
    assert not steering.isVisible()  # an ordinary layer steers nothing
    set_region(window, "a red rose")
    assert steering.isVisible() and steering.text() == f"Steered by: Region prompt ({layer.name})"
    window.document.set_layer_properties(layer, visible=False)
    assert not steering.isVisible()
