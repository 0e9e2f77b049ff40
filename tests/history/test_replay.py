"""Input pictures kept with history entries: stored once, replayed exactly, cleared, and
the v1 -> v2 migration; `overpaint history rerun` of img2img and inpaint entries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.app import main
from engine.history import schema
from engine.history.config import database_path
from engine.history.replay import MissingInputsError, recorded_job
from engine.history.store import HistoryStore
from engine.history.thumbnails import decode_thumbnail
from engine.request import Box, GenerationInputs
from tests.history.conftest import picture, request


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def _count(store: HistoryStore, table: str) -> int:
    return store._connect().execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _inputs(seed: int = 1) -> GenerationInputs:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (40, 48, 4), dtype=np.uint8)
    image[:5, :, 3] = 0  # transparent, with colour under it: kept exactly too
    mask = np.zeros((40, 48), np.uint8)
    mask[10:30, 12:40] = 255
    control = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    return GenerationInputs(image=image, mask=mask, controls=(None, control))


def test_inputs_are_kept_once_replayed_exactly_and_cleared(store: HistoryStore) -> None:
    from engine.control.spec import ControlSpec

    req = request(
        "a red lighthouse", mode="inpaint", region=Box(8, 4, 48, 40), canvas_width=64,
        canvas_height=64, controls=(ControlSpec("inpaint"), ControlSpec("scribble")),
    )  # fmt: skip
    inputs = _inputs()
    first = store.record(req, picture(size=48)[:40], inputs=inputs)
    second = store.record(req.replace(seed=1), picture(size=48)[:40], inputs=inputs)
    assert _count(store, "blobs") == 3  # image, mask, control: shared by both samples
    for entry_id in (first, second):
        job = recorded_job(store, store.get(entry_id))
        assert job.request == store.get(entry_id).request and job.base is None
        assert np.array_equal(job.inputs.image, inputs.image)
        assert np.array_equal(job.inputs.mask, inputs.mask)
        assert job.inputs.controls[0] is None
        assert np.array_equal(job.inputs.controls[1], inputs.controls[1])
    assert store.clear() and _count(store, "blobs") == _count(store, "entry_inputs") == 0


def test_a_cli_base_is_kept_and_its_crop_is_not_stored_twice(store: HistoryStore) -> None:
    from engine.jobs import image_composite

    yy, xx = np.mgrid[0:60, 0:80]
    base = np.dstack([xx * 3, yy * 4, np.full_like(xx, 90)]).astype(np.uint8)  # smooth
    region = Box(16, 8, 48, 40)
    crop = image_composite(base)(region)
    patch = np.zeros((40, 48, 4), np.uint8)
    patch[..., :3] = (0, 250, 0)
    patch[10:30, 10:30, 3] = 255  # the result covers a square of its region
    req = request("a green square", mode="img2img", region=region, canvas_width=80,
                  canvas_height=60)  # fmt: skip
    entry_id = store.record(
        req, patch, at=(region.x, region.y), inputs=GenerationInputs(image=crop), base=base
    )
    assert _count(store, "blobs") == 1  # the base; the crop is made from it
    job = recorded_job(store, store.get(entry_id))
    assert np.array_equal(job.base, base) and np.array_equal(job.inputs.image, crop)
    # The thumbnail is the whole written picture, not the patch.
    thumb = decode_thumbnail(store.thumbnail(entry_id))
    assert thumb.shape[:2] == (60, 80)
    assert thumb[25, 35, 1] > 200 and thumb[25, 35, 0] < 60  # the square, where it landed
    assert np.abs(thumb[50, 5, :3].astype(int) - base[50, 5]).max() <= 12  # the base


def test_a_missing_picture_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = HistoryStore(database_path())
    req = request("a cat", mode="inpaint", region=Box(0, 0, 48, 40), canvas_width=48,
                  canvas_height=40)  # fmt: skip
    entry_id = store.record(req, picture(size=48)[:40], inputs=_inputs())
    store.close()
    with sqlite3.connect(database_path()) as conn:  # foreign keys off: a picture lost
        conn.execute(
            "DELETE FROM blobs WHERE id = (SELECT blob FROM entry_inputs WHERE role = 'mask')"
        )
    store = HistoryStore(database_path())
    with pytest.raises(MissingInputsError) as lost:
        recorded_job(store, store.get(entry_id))
    store.close()
    sentence = (
        f"The mask of history entry {entry_id} is missing from the history, so it cannot "
        "be regenerated exactly."
    )
    assert str(lost.value) == sentence
    out = tmp_path / "again.png"
    assert main(["history", "rerun", str(entry_id), "--out", str(out)]) == 1
    assert capsys.readouterr().err.splitlines() == [f"error: {sentence}"]
    assert not out.exists()


def test_a_version_1_history_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:  # the file as the first release wrote it
        for sql in schema.MIGRATIONS[0]:
            conn.execute(sql)
        conn.execute(
            "INSERT INTO generations (created, request, prompt, negative_prompt, model, "
            "loras, seed, width, height, mode, path, kept) VALUES "
            "(1, ?, 'an old harbour', '', 'sd15', '', 5, 64, 64, 'img2img', NULL, 1)",
            (request("an old harbour", mode="img2img", seed=5).to_json(),),
        )
        conn.execute("PRAGMA user_version = 1")
    store = HistoryStore(path)
    (old,) = store.search("harbour")
    assert old.kept and old.seed == 5
    version = store._connect().execute("PRAGMA user_version").fetchone()[0]
    assert version == schema.SCHEMA_VERSION == 2
    with pytest.raises(MissingInputsError, match="recorded without its input pictures"):
        recorded_job(store, store.get(old.id))
    req = request("a new harbour", mode="img2img", region=Box(0, 0, 48, 40))
    new = store.record(req, picture(size=48)[:40], inputs=_inputs())
    assert np.array_equal(recorded_job(store, store.get(new)).inputs.mask, _inputs().mask)
    assert [h.id for h in store.search("harbour")] == [new, old.id]
    store.close()


@pytest.mark.parametrize("mode", ["img2img", "inpaint"])
def test_cli_entries_rerun_bit_identically(
    mode: str, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init, mask_png = tmp_path / "init.png", tmp_path / "mask.png"
    yy, xx = np.mgrid[0:96, 0:128]
    Image.fromarray(np.dstack([xx * 2, yy * 2, 255 - xx]).astype(np.uint8)).save(init)
    mask = np.zeros((96, 128), np.uint8)
    mask[30:60, 70:110] = 255
    Image.fromarray(mask).save(mask_png)
    out = tmp_path / "first.png"
    args = [mode, "--init-img", str(init), "--prompt", "a glass ball", "--model",
            str(tiny_model_dir), "--steps", "2", "--seed", "11", "--out", str(out)]  # fmt: skip
    if mode == "inpaint":
        args += ["--mask", str(mask_png)]
    assert main(args) == 0
    init.unlink()  # the history alone must be enough
    mask_png.unlink()
    capsys.readouterr()
    assert main(["history", "search", "glass", "--json"]) == 0
    again = tmp_path / "again.png"
    entry = capsys.readouterr().out.split('"id": ')[1].split(",")[0]
    assert main(["history", "rerun", entry, "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    # The thumbnail shows the whole written picture.
    store = HistoryStore(database_path())
    thumb = decode_thumbnail(store.thumbnail(int(entry)))
    store.close()
    assert thumb.shape[:2] == (96, 128)

    def blocks(a: np.ndarray) -> np.ndarray:  # 8x8 means: lossy WebP keeps these
        return a[..., :3].reshape(12, 8, 16, 8, 3).mean(axis=(1, 3))

    assert np.abs(blocks(thumb) - blocks(_pixels(out))).mean() < 3
