"""Where Generations ▸ Use parameters puts the layers it restores on a picture of another
size than the entry's, and how the Layers dock draws them (and every layer): as they lie
on the picture.

The entry is a real command-line run of the bundled demo model with a region and a
scribble control in the bottom right of a 128×128 picture.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QRect
from PySide6.QtGui import QImage

from editor.model.layer_roles import reference_picture
from editor.ui.layers_panel import THUMB
from engine.cli.commands import main as cli
from engine.core.images import picture_hash
from engine.history.config import database_path
from engine.history.store import HistoryStore
from engine.models import DEMO_MODEL_DIR
from engine.reference.spec import ReferenceSpec
from engine.request import GenerationInputs
from tests.editor.ui.test_generations_dock import _hits, _use

COPIED = "Parameters copied to the Generate panel, seed locked."
ADDED = "The generation's controls and regions were added as a control layer and a region layer."
REGION = QRect(72, 80, 48, 40)  # the recorded region's rectangle on the 128×128 picture
LINE = QRect(70, 90, 40, 4)  # the scribble's line


def _entry(tmp_path: Path) -> int:
    mask = np.zeros((128, 128), np.uint8)
    mask[REGION.y() : REGION.bottom() + 1, REGION.x() : REGION.right() + 1] = 255
    Image.fromarray(mask).save(tmp_path / "region.png")
    lines = np.zeros((128, 128, 4), np.uint8)
    lines[LINE.y() : LINE.bottom() + 1, LINE.x() : LINE.right() + 1] = 255
    Image.fromarray(lines).save(tmp_path / "lines.png")
    assert cli(["txt2img", "--prompt", "green background", "--model", str(DEMO_MODEL_DIR),
                "--region", f"{tmp_path / 'region.png'}:a red circle",
                "--control", f"scribble:{tmp_path / 'lines.png'}", "--steps", "2",
                "--width", "128", "--height", "128", "--seed", "5",
                "--out", str(tmp_path / "out.png")]) == 0  # fmt: skip
    (entry_id,) = [hit.id for hit in _hits("green background")]
    return entry_id


def _restored(doc) -> tuple:
    (rose,) = [layer for layer in doc.layers if layer.region_prompt is not None]
    (back,) = [layer for layer in doc.layers if layer.control is not None]
    return rose, back


def _row_icon(window, layer) -> QImage:
    view = window.layers_panel.list
    (row,) = [r for r in range(view.count()) if view.item(r).text() == layer.name]
    return view.item(row).icon().pixmap(THUMB, THUMB).toImage()


def test_restored_layers_are_scaled_onto_a_picture_they_would_lie_off(
    window, qtbot, tmp_path: Path
) -> None:
    entry_id = _entry(tmp_path)

    # The entry's size: where they were, pixel for pixel, and no word about the size.
    window.new_document(128, 128)
    doc = window.document
    assert _use(qtbot, window, entry_id) == f"{COPIED} {ADDED}"
    rose, back = _restored(doc)
    assert rose.bounds() == REGION and back.bounds() == LINE
    coverage = rose.to_rgba(doc.rect())[..., 3]
    assert (
        coverage[REGION.y() : REGION.bottom() + 1, REGION.x() : REGION.right() + 1] == 255
    ).all()
    assert coverage.sum() == 255 * REGION.width() * REGION.height()
    at_size = (rose.to_rgba(), back.to_rgba())

    # Half the size: the recorded places lie wholly off it. They are scaled with the
    # picture, onto the same part of it, in one undo step, and the status says so.
    window.new_document(64, 64)
    doc = window.document
    steps = doc.history.count()
    assert _use(qtbot, window, entry_id) == (
        f"{COPIED} {ADDED} It ran on a 128×128 picture and this one is 64×64, so they were "
        "scaled to lie over the same part of this one."
    )
    assert window.generations_panel.status.text().endswith("same part of this one.")
    rose, back = _restored(doc)
    assert rose.bounds() == QRect(36, 40, 24, 20) and back.bounds() == QRect(35, 45, 20, 2)
    assert doc.rect().contains(rose.bounds()) and doc.rect().contains(back.bounds())
    assert (rose.to_rgba()[..., 3] == 255).all() and (back.to_rgba() == 255).all()
    assert doc.history.count() == steps + 1
    window.undo_action.trigger()
    assert not any(layer.region_prompt or layer.control for layer in doc.layers)
    window.redo_action.trigger()

    # Found there again, scaled alike: not added twice.
    count = len(doc.layers)
    assert _use(qtbot, window, entry_id) == (
        f"{COPIED} Its control and region layers are already on the picture."
    )
    assert len(doc.layers) == count

    # A picture Image ▸ Scale made of the entry's: the layers it scaled are the ones
    # Use parameters makes, so they are found on it.
    window.new_document(128, 128)
    doc = window.document
    _use(qtbot, window, entry_id)
    doc.scale_image(96, 96)
    count = len(doc.layers)
    assert _use(qtbot, window, entry_id) == (
        f"{COPIED} Its control and region layers are already on the picture."
    )
    assert len(doc.layers) == count

    # The canvas grown on the right (another shape, the box still on it): they keep their
    # places, over what they were over, and the status says where they are.
    window.new_document(160, 128)
    doc = window.document
    assert _use(qtbot, window, entry_id) == (
        f"{COPIED} {ADDED} It ran on a 128×128 picture and this one is 160×128, so they are "
        "where they were on that picture."
    )
    rose, back = _restored(doc)
    assert rose.bounds() == REGION and back.bounds() == LINE
    assert np.array_equal(rose.to_rgba(), at_size[0])
    assert np.array_equal(back.to_rgba(), at_size[1])

    # Cut at the bottom (another shape, the region would hang off it): scaled onto it.
    window.new_document(128, 96)
    doc = window.document
    assert _use(qtbot, window, entry_id).endswith(
        "It ran on a 128×128 picture and this one is 128×96, so they were scaled to lie over "
        "the same part of this one."
    )
    rose, back = _restored(doc)
    assert rose.bounds() == QRect(72, 60, 48, 30) and back.bounds() == QRect(70, 68, 40, 3)
    assert doc.rect().contains(rose.bounds()) and doc.rect().contains(back.bounds())


def test_a_reference_larger_than_the_picture_is_scaled_down_to_fit(
    window, qtbot, tmp_path: Path
) -> None:
    entry_id = _entry(tmp_path)
    yy, xx = np.mgrid[0:100, 0:200]
    picture = np.dstack([xx, yy * 2, 255 - xx, np.full_like(xx, 255)]).astype(np.uint8)
    store = HistoryStore(database_path())
    try:
        request = dataclasses.replace(
            store.get(entry_id).request,
            controls=(),
            regions=(),
            references=(ReferenceSpec(image_hash=picture_hash(picture)),),
        )
        with_reference = store.record(request, None, inputs=GenerationInputs(references=(picture,)))
    finally:
        store.close()

    # On a picture it fits on, the reference picture is the recorded one.
    window.new_document(256, 256)
    doc = window.document
    assert _use(qtbot, window, with_reference) == (
        f"{COPIED} The generation's references were added as a reference layer."
    )
    assert np.array_equal(reference_picture(doc, doc.current_layer), picture)

    # Larger than the picture, it is scaled down to fit, whole, rather than cut.
    window.new_document(128, 128)
    doc = window.document
    assert _use(qtbot, window, with_reference) == (
        f"{COPIED} The generation's references were added as a reference layer. "
        "Reference 1 was scaled down to fit on this picture."
    )
    layer = doc.current_layer
    assert layer.bounds() == QRect(0, 0, 128, 64)
    assert reference_picture(doc, layer).shape == (64, 128, 4)
    # Found there again: not added twice.
    count = len(doc.layers)
    assert _use(qtbot, window, with_reference) == (
        f"{COPIED} Its reference layer is already on the picture."
    )
    assert len(doc.layers) == count


def test_thumbnails_show_each_layer_where_it_lies_on_the_picture(
    window, qtbot, tmp_path: Path
) -> None:
    entry_id = _entry(tmp_path)
    window.new_document(128, 128)
    doc = window.document
    _use(qtbot, window, entry_id)
    rose, _back = _restored(doc)

    # The restored region and a twin that covers the whole picture with the same pixels
    # and role look the same in the list: as on the picture, not blown up to the tile.
    twin = doc.add_layer(
        "twin",
        rose.to_rgba(doc.rect()),
        region_prompt=rose.region_prompt,
        opacity=rose.opacity,
    )
    assert twin.bounds() == doc.rect()
    restored_icon = _row_icon(window, rose)
    assert restored_icon == _row_icon(window, twin)
    scale = THUMB / 128
    inside = restored_icon.pixelColor(
        round((REGION.x() + 4) * scale), round((REGION.y() + 2) * scale)
    )
    outside = restored_icon.pixelColor(round(20 * scale), round(20 * scale))
    assert inside.red() < 200 and inside.blue() > inside.green()  # the region's colour
    assert outside.red() == outside.green() == outside.blue() >= 204  # the checkerboard

    # A patch at the top left shows there; moved (hidden, so no pixel of the picture
    # changes) its thumbnail follows; moved off the picture, it shows nothing.
    patch = np.zeros((32, 32, 4), np.uint8)
    patch[..., 0], patch[..., 3] = 255, 255
    layer = doc.add_layer("patch", patch)
    icon = _row_icon(window, layer)
    assert icon.pixelColor(4, 4).getRgb()[:3] == (255, 0, 0)
    assert icon.pixelColor(THUMB - 4, THUMB - 4).getRgb()[:3] != (255, 0, 0)
    doc.set_layer_properties(layer, visible=False)
    doc.set_layer_offset(layer, 96, 96)
    moved = _row_icon(window, layer)
    assert moved.pixelColor(THUMB - 4, THUMB - 4).getRgb()[:3] == (255, 0, 0)
    assert moved.pixelColor(4, 4).getRgb()[:3] != (255, 0, 0)
    doc.set_layer_offset(layer, 200, 0)
    off = _row_icon(window, layer)
    assert not any(
        off.pixelColor(x, y).getRgb()[:3] == (255, 0, 0) for x in range(THUMB) for y in range(THUMB)
    )
