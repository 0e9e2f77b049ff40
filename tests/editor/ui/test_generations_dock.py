"""The generation history in the real window: every sample recorded, Accept marks it
kept, and the Generations dock's actions regenerate, fill the panel, add layers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QRect

from editor.model.control_layers import set_layer_control
from editor.model.control_role import ControlRole
from editor.model.layer_roles import reference_picture, set_layer_reference
from editor.model.reference_role import ReferenceRole
from editor.model.region_role import RegionRole
from editor.ui.generations.restored_layers import stored_inputs
from engine.cli.commands import main as cli
from engine.core.images import picture_hash
from engine.history.config import database_path
from engine.history.store import HistoryStore
from engine.models import DEMO_MODEL_DIR
from engine.request import GenerationInputs
from tests.editor.ui.test_control_layers import paint_scribble
from tests.editor.ui.test_demo_scribble import _generate as generate
from tests.editor.ui.test_generation import prepare
from tests.editor.ui.test_layer_roles import paint_patch, set_region
from tests.editor.ui.test_painting import open_at_100
from tests.tiny_ip_adapter import build_tiny_ip_models

WAIT_MS = 120_000


def _hits(query: str):
    store = HistoryStore(database_path())
    try:
        return store.search(query)
    finally:
        store.close()


def test_samples_are_recorded_kept_on_accept_and_regenerated_as_layers(
    window, qtbot, tiny_model_dir
):
    panel = window.generation_panel
    panel.set_model(str(tiny_model_dir))
    panel.set_mode("txt2img")
    panel.prompt_edit.setPlainText("a lighthouse at dusk")
    panel.steps_spin.setValue(2)
    panel.samples_spin.setValue(2)
    window.generate()
    qtbot.waitUntil(lambda: window.candidates.count() == 2, timeout=WAIT_MS)
    window.generation.history.flush()
    hits = _hits("lighthous*")
    assert len(hits) == 2 and not any(h.kept for h in hits)

    layer = window.accept_candidate()
    window.generation.history.flush()
    assert sorted(h.kept for h in _hits("lighthouse")) == [False, True]
    accepted = window.document.current_layer.to_rgba(window.document.rect())

    # The dock finds it; "Add as layer" for an entry without a file regenerates it exactly.
    dock = window.generations_panel
    dock.search_box.setText("lighthouse")
    qtbot.waitUntil(lambda: dock.model.rowCount() == 2, timeout=5000)
    kept_row = next(r for r in range(2) if dock.model.hits[r].kept)
    dock.select(kept_row)
    layers = len(window.document.layers)
    dock.actions["layer"].trigger()
    qtbot.waitUntil(lambda: len(window.document.layers) == layers + 1, timeout=WAIT_MS)
    again = window.document.current_layer.to_rgba(window.document.rect())
    assert np.array_equal(again, accepted) and layer is not None

    dock.actions["use"].trigger()
    assert panel.prompt_edit.toPlainText() == "a lighthouse at dusk"


def test_the_cli_records_unless_told_not_to(tiny_model_dir: Path, tmp_path: Path) -> None:
    base = ["txt2img", "--prompt", "a quiet harbour", "--model", str(tiny_model_dir),
            "--steps", "2", "--width", "64", "--height", "64", "--seed", "3"]  # fmt: skip
    assert cli([*base, "--out", str(tmp_path / "a.png")]) == 0
    assert cli([*base, "--no-history", "--out", str(tmp_path / "b.png")]) == 0
    hits = _hits("harbour")
    assert len(hits) == 1 and hits[0].kept and hits[0].path == str(tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as im:
        assert im.size == (64, 64)


def test_an_inpaint_entry_replays_exactly_on_a_changed_picture(
    window, qtbot, tiny_model_dir: Path, tmp_path: Path
) -> None:
    import dataclasses

    from PySide6.QtCore import QRect

    from editor.app import main as app_main
    from engine.cli.common import output_picture
    from engine.history.thumbnails import decode_thumbnail
    from engine.jobs import image_composite
    from tests.editor.ui.test_generation import prepare

    yy, xx = np.mgrid[0:150, 0:200]
    picture = np.dstack([xx, yy, 255 - xx]).astype(np.uint8)  # smooth: thumbnails keep it
    first, other = tmp_path / "first.png", tmp_path / "other.png"
    Image.fromarray(picture).save(first)
    Image.fromarray(np.full_like(picture, 128)).save(other)
    mask = np.zeros((150, 200), np.uint8)
    mask[50:85, 110:170] = 255
    assert window.open_path(first)
    window.document.set_mask(mask)
    prepare(window, tiny_model_dir, prompt="a glass ball", steps=2)
    window.generation_panel.set_mode("inpaint")
    assert window.generate() is not None
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    result = window.candidates.current().result
    region = result.request.region
    layer = window.accept_candidate()
    box = QRect(result.x, result.y, result.rgba.shape[1], result.rgba.shape[0])
    accepted = layer.to_rgba(box)
    window.generation.history.flush()
    (hit,) = _hits("glass")

    # The thumbnail is the whole picture with the result on it, not the patch.
    store = HistoryStore(database_path())
    thumb = decode_thumbnail(store.thumbnail(hit.id)).astype(int)
    store.close()
    assert thumb.shape[:2] == (75, 100)  # 200 x 150 halved
    halved = picture.reshape(75, 2, 100, 2, 3).mean(axis=(1, 3))
    assert np.abs(thumb[5:20, 5:40, :3] - halved[5:20, 5:40]).mean() < 4

    # `history rerun` writes the result laid on the input crop it ran on, bit for bit.
    again = tmp_path / "again.png"
    assert app_main(["history", "rerun", str(hit.id), "--out", str(again)]) == 0
    moved = dataclasses.replace(result, x=result.x - region.x, y=result.y - region.y)
    expected = output_picture(moved, image_composite(picture)(region))
    with Image.open(again) as im:
        assert np.array_equal(np.asarray(im), expected)

    # On another picture, Regenerate and Add as layer use the recorded pixels.
    window.ask_save_changes = lambda: "discard"
    assert window.open_path(other)
    dock = window.generations_panel
    dock.search_box.setText("glass")
    qtbot.waitUntil(lambda: dock.model.rowCount() >= 1, timeout=5000)
    dock.select([h.id for h in dock.model.hits].index(hit.id))
    dock.actions["regenerate"].trigger()
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    replayed = window.candidates.current().result
    assert (replayed.x, replayed.y) == (result.x, result.y)
    assert np.array_equal(replayed.rgba, result.rgba)
    window.generation.candidates.clear()
    layers = len(window.document.layers)
    dock.actions["layer"].trigger()  # no file: regenerated and added
    qtbot.waitUntil(lambda: len(window.document.layers) == layers + 1, timeout=WAIT_MS)
    assert np.array_equal(window.document.current_layer.to_rgba(box), accepted)


def _recorded_without_pictures(entry_id: int) -> int:
    """Entry `entry_id`'s request recorded again, without its input pictures."""
    store = HistoryStore(database_path())
    try:
        return store.record(store.get(entry_id).request, None)
    finally:
        store.close()


def _use(qtbot, window, entry_id: int) -> str:
    """Use parameters on history entry `entry_id` from the dock; the status bar's words."""
    dock = window.generations_panel
    dock.refresh()
    qtbot.waitUntil(lambda: entry_id in [hit.id for hit in dock.model.hits], timeout=5000)
    rows = [hit.id for hit in dock.model.hits]
    dock.select(rows.index(entry_id))
    dock.actions["use"].trigger()
    return window.statusBar().currentMessage()


def test_use_parameters_brings_the_reference_layers_back(window, qtbot, png_path, tmp_path):
    open_at_100(window, png_path)
    doc = window.document
    region = paint_patch(qtbot, window)
    set_region(window, "a red rose")
    doc.set_layer_properties(region, name="Rose")
    reference = paint_patch(qtbot, window, (30, 30, 200))
    role = ReferenceRole("reference", 0.6, 0.1, 0.9, region="Rose")
    set_layer_reference(doc, reference, role)
    picture = reference_picture(doc, reference)
    coverage = region.to_rgba(doc.rect())[..., 3]
    prepare(window, DEMO_MODEL_DIR, prompt="a red circle, blue background", steps=2)
    window.settings.model_dirs = [build_tiny_ip_models(DEMO_MODEL_DIR, tmp_path / "models")]
    assert window.generate() is not None
    qtbot.waitUntil(lambda: window.candidates.count() == 1, timeout=WAIT_MS)
    window.generation.history.flush()
    (entry_id,) = [hit.id for hit in _hits("red circle")]

    # Gone from the picture, the reference comes back as it was, region included: one step.
    doc.delete_layer(reference)
    steps = doc.history.count()
    said = _use(qtbot, window, entry_id)
    assert said == (
        "Parameters copied to the Generate panel, seed locked. "
        "The generation's references were added as a reference layer. "
        "Its region layer is already on the picture."
    )
    back = doc.current_layer
    assert back.name == f"Reference 1 of generation {entry_id}"
    assert back.reference == role
    assert np.array_equal(reference_picture(doc, back), picture)
    assert doc.history.count() == steps + 1
    assert window.undo_action.text() == "&Undo Restore reference layers"

    # On the picture already, it is not added twice, and the status says it is there.
    layers = len(doc.layers)
    assert _use(qtbot, window, entry_id) == (
        "Parameters copied to the Generate panel, seed locked. "
        "Its region and reference layers are already on the picture."
    )
    assert len(doc.layers) == layers

    # Its weight, step range and region changed since, the same picture is not added
    # beside it: it is given the recorded settings back, in one step that Ctrl+Z undoes.
    changed = ReferenceRole("reference", 0.3, 0.0, 1.0)
    set_layer_reference(doc, back, changed)
    steps = doc.history.count()
    said = _use(qtbot, window, entry_id)
    assert said == (
        "Parameters copied to the Generate panel, seed locked. The generation's reference "
        f'settings were restored on "Reference 1 of generation {entry_id}". '
        "Its region layer is already on the picture."
    )
    assert len(doc.layers) == layers and back.reference == role
    assert doc.history.count() == steps + 1
    assert window.undo_action.text() == "&Undo Restore reference settings"
    window.undo_action.trigger()
    assert back.reference == changed and len(doc.layers) == layers
    window.redo_action.trigger()
    assert back.reference == role

    # Without its region layer, the region comes back too and the reference is limited
    # to it again.
    doc.delete_layer(back)
    doc.delete_layer(region)
    said = _use(qtbot, window, entry_id)
    assert said.endswith(
        "The generation's regions and references were added as a region layer and a "
        "reference layer."
    )
    (rose,) = [layer for layer in doc.layers if layer.region_prompt is not None]
    assert rose.name == f"Region 1 of generation {entry_id}"
    assert rose.region_prompt == RegionRole("a red rose")
    assert np.array_equal(rose.to_rgba(doc.rect())[..., 3], coverage)
    assert doc.current_layer.reference == dataclasses.replace(role, region=rose.name)
    assert window.undo_action.text() == "&Undo Restore region and reference layers"

    # An entry that kept the reference's picture but not the region's mask: the reference
    # acts on the whole picture, and both are said.
    store = HistoryStore(database_path())
    try:
        request = store.get(entry_id).request
        assert request.references[0].image_hash == picture_hash(picture)
        ctx = request.region
        mask = np.ascontiguousarray(coverage[ctx.y : ctx.bottom, ctx.x : ctx.right])
        inputs = GenerationInputs(references=(picture,), reference_masks=(mask,))
        partial = store.record(request, None, inputs=inputs)
    finally:
        store.close()
    doc.delete_layer(doc.current_layer)
    doc.delete_layer(rose)
    said = _use(qtbot, window, partial)
    assert said == (
        "Parameters copied to the Generate panel, seed locked. "
        "The generation's references were added as a reference layer. "
        "The generation's regions were not restored: its region mask was not kept; give a "
        "layer the region prompt again (Layer ▸ Region Prompt…). "
        "Reference 1 was limited to a region that no one region layer here matches, so it "
        "now acts on the whole picture; choose its region again (Layer ▸ Reference Layer…)."
    )
    assert doc.current_layer.reference == ReferenceRole("reference", 0.6, 0.1, 0.9)

    # An entry recorded without its pictures says what to do instead.
    bare = _recorded_without_pictures(entry_id)
    layers = len(doc.layers)
    said = _use(qtbot, window, bare)
    assert len(doc.layers) == layers
    assert said.endswith(
        "The generation's regions and references were not restored: its region mask and "
        "reference picture were not kept; give a layer the region prompt again (Layer ▸ "
        "Region Prompt…) and add the picture as a Reference layer again (Layer ▸ Reference "
        "Layer…)."
    )
    assert window.generations_panel.status.text() == said.split("locked. ")[1]


def test_use_parameters_brings_the_control_and_region_layers_back(window, qtbot, png_path):
    open_at_100(window, png_path)
    doc = window.document
    scribble = paint_scribble(qtbot, window)
    control = ControlRole("scribble", 0.8, 0.1, 0.9)
    set_layer_control(doc, scribble, control)
    region = paint_patch(qtbot, window)
    set_region(window, "a red rose", "wilted")
    lines, coverage = scribble.to_rgba(doc.rect()), region.to_rgba(doc.rect())[..., 3]
    prepare(window, DEMO_MODEL_DIR, prompt="a red circle, blue background", steps=2)
    first = generate(qtbot, window)
    assert first.request.controls[0].model == "overpaint-demo-scribble"
    window.generation.history.flush()
    (entry_id,) = [hit.id for hit in _hits("red circle")]

    # Gone from the picture, both come back where they were, with their roles: one step.
    doc.delete_layer(scribble)
    doc.delete_layer(region)
    steps = doc.history.count()
    said = _use(qtbot, window, entry_id)
    assert said == (
        "Parameters copied to the Generate panel, seed locked. The generation's controls "
        "and regions were added as a control layer and a region layer."
    )
    layers = {layer.name: layer for layer in doc.layers}
    back = layers[f"Control 1 of generation {entry_id}"]
    rose = layers[f"Region 1 of generation {entry_id}"]
    assert back.control == control and np.array_equal(back.to_rgba(doc.rect()), lines)
    assert rose.region_prompt == RegionRole("a red rose", "wilted")
    assert np.array_equal(rose.to_rgba(doc.rect())[..., 3], coverage)
    assert doc.history.count() == steps + 1
    assert window.undo_action.text() == "&Undo Restore control and region layers"
    window.undo()
    assert back not in doc.layers and rose not in doc.layers
    window.redo()

    # Generate makes the entry's picture again, through the same control and region.
    again = generate(qtbot, window)
    assert again.request.controls == first.request.controls
    assert again.request.regions == first.request.regions
    assert np.array_equal(again.rgba, first.rgba)

    # On the picture already, they are not added twice, and the status says they are
    # there (not a bare "copied", as if they had been forgotten).
    count = len(doc.layers)
    assert _use(qtbot, window, entry_id) == (
        "Parameters copied to the Generate panel, seed locked. "
        "Its control and region layers are already on the picture."
    )
    assert window.generations_panel.status.text() == (
        "Its control and region layers are already on the picture."
    )
    assert len(doc.layers) == count

    # With their strength, step range and prompt changed since, the same layers are given
    # the recorded settings back (not twins beside them; a region keeps being painted in,
    # which the entry does not record), in one step, and Generate makes the picture again.
    set_layer_control(doc, back, ControlRole("scribble", 0.5))
    doc.set_current_layer(rose)
    set_region(window, "a white rose", "", painted=True)
    steps = doc.history.count()
    said = _use(qtbot, window, entry_id)
    assert said == (
        "Parameters copied to the Generate panel, seed locked. The generation's control and "
        f'region settings were restored on "Control 1 of generation {entry_id}" and '
        f'"Region 1 of generation {entry_id}".'
    )
    assert len(doc.layers) == count and back.control == control
    assert rose.region_prompt == RegionRole("a red rose", "wilted", painted=True)
    assert doc.history.count() == steps + 1
    assert window.undo_action.text() == "&Undo Restore control and region settings"
    window.undo_action.trigger()
    assert back.control == ControlRole("scribble", 0.5)
    assert rose.region_prompt == RegionRole("a white rose", painted=True)
    window.redo_action.trigger()
    set_region(window, "a red rose", "wilted")  # not painted in, as it was generated
    again = generate(qtbot, window)
    assert again.request.controls == first.request.controls
    assert np.array_equal(again.rgba, first.rgba)

    # A second control of the same picture in the entry is a layer of its own.
    set_layer_control(doc, back, ControlRole("scribble", 0.5))
    store = HistoryStore(database_path())
    try:
        recorded = store.get(entry_id)
        request = dataclasses.replace(recorded.request, controls=recorded.request.controls * 2)
        inputs = stored_inputs(store, recorded)
        twice = store.record(
            request, None, inputs=dataclasses.replace(inputs, controls=inputs.controls * 2)
        )
    finally:
        store.close()
    said = _use(qtbot, window, twice)
    assert said.endswith(
        "The generation's controls were added as a control layer. The generation's control "
        f'settings were restored on "Control 1 of generation {entry_id}". '
        "Its region layer is already on the picture."
    )
    assert len(doc.layers) == count + 1 and back.control == control
    assert doc.current_layer.control == control

    # An entry recorded without its pictures says what to do instead.
    bare = _recorded_without_pictures(entry_id)
    count = len(doc.layers)
    said = _use(qtbot, window, bare)
    assert len(doc.layers) == count
    assert said.endswith(
        "The generation's controls and regions were not restored: its control image and "
        "region mask were not kept; mark a layer as a control again (Layer ▸ Control "
        "Layer…) and give a layer the region prompt again (Layer ▸ Region Prompt…)."
    )


def test_use_parameters_places_a_command_line_region_and_says_when_the_size_differs(
    window, qtbot, tmp_path: Path
) -> None:
    # A command-line txt2img records no canvas box: its region mask covers its own output.
    mask = np.zeros((128, 128), np.uint8)
    mask[16:64, 8:56] = 255
    Image.fromarray(mask).save(tmp_path / "left.png")
    assert cli(["txt2img", "--prompt", "green background", "--model", str(DEMO_MODEL_DIR),
                "--region", f"{tmp_path / 'left.png'}:a red circle", "--steps", "2",
                "--width", "128", "--height", "128", "--seed", "5",
                "--out", str(tmp_path / "out.png")]) == 0  # fmt: skip
    (entry_id,) = [hit.id for hit in _hits("green background")]

    window.new_document(128, 128)
    doc = window.document
    assert _use(qtbot, window, entry_id).endswith(
        "The generation's regions were added as a region layer."
    )
    (circle,) = [layer for layer in doc.layers if layer.region_prompt is not None]
    assert np.array_equal(circle.to_rgba(doc.rect())[..., 3] > 0, mask > 0)
    assert circle.region_prompt == RegionRole("a red circle")
    count = len(doc.layers)
    assert _use(qtbot, window, entry_id) == (
        "Parameters copied to the Generate panel, seed locked. "
        "Its region layer is already on the picture."
    )
    assert len(doc.layers) == count

    # On a picture of another size the status says so, and how they were placed (here
    # scaled with the picture: tests/editor/ui/test_restored_layer_places.py has each case).
    window.new_document(64, 64)
    said = _use(qtbot, window, entry_id)
    assert said.endswith(
        "The generation's regions were added as a region layer. It ran on a 128×128 "
        "picture and this one is 64×64, so they were scaled to lie over the same part of "
        "this one."
    )
    (half,) = [layer for layer in window.document.layers if layer.region_prompt is not None]
    assert half.bounds() == QRect(4, 8, 24, 24)
