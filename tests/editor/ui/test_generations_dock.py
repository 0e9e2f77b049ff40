"""The generation history in the real window: every sample recorded, Accept marks it
kept, and the Generations dock's actions regenerate, fill the panel, add layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.cli.commands import main as cli
from engine.history.config import database_path
from engine.history.store import HistoryStore

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
