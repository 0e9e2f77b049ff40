"""`overpaint history search|show|rerun|clear` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.app import main
from engine.history.config import database_path
from engine.history.recorder import record_cli_results
from engine.history.store import HistoryStore
from tests.history.conftest import picture, request


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.fixture
def user_store() -> HistoryStore:
    store = HistoryStore(database_path())  # the per-user file, in the test's data folder
    yield store
    store.close()


def test_search_exit_codes_and_lines(
    user_store: HistoryStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "search", "lighthouse"]) == 1  # no file yet: like grep
    assert capsys.readouterr() == ("", "")
    out = tmp_path / "kept.png"
    out.write_bytes(b"x")
    kept = user_store.record(request("a red\nlighthouse"), picture(), path=out, kept=True)
    gone = user_store.record(request("a blue lighthouse"), picture(), path=tmp_path / "gone.png")
    plain = user_store.record(request("a lighthouse", mode="img2img"), picture())
    assert main(["history", "search", "nothing-like-it"]) == 1
    assert capsys.readouterr() == ("", "")

    assert main(["history", "search", "lightho*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {int(line.split("\t")[0]): line.split("\t") for line in lines}
    assert set(rows) == {kept, gone, plain} and all(len(r) == 4 for r in rows.values())
    assert rows[kept][2:] == [str(out), "a red lighthouse"]  # one line per hit
    assert rows[gone][2] == f"{tmp_path / 'gone.png'} (missing)"
    assert rows[plain][2] == "-"

    assert main(["history", "search", "lighthouse", "--limit", "1", "--mode", "img2img"]) == 0
    assert capsys.readouterr().out.split("\t")[0] == str(plain)
    assert main(["history", "search", "lighthouse", "--json", "--kept"]) == 0
    (hit,) = json.loads(capsys.readouterr().out)
    assert (hit["id"], hit["path"], hit["exists"], hit["kept"]) == (kept, str(out), True, True)


def test_show_prints_parameters_and_request(
    user_store: HistoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    req = request("a lighthouse", negative_prompt="fog", seed=9, steps=12, model="tiny")
    entry_id = user_store.record(req, picture(size=64))
    assert main(["history", "show", str(entry_id)]) == 0
    text = capsys.readouterr().out
    params, _, request_json = text.partition("\n\n")
    assert params.splitlines()[:2] == ["a lighthouse", "Negative prompt: fog"]
    assert "Steps: 12" in params and "Seed: 9" in params and "Size: 64x64" in params
    assert json.loads(request_json) == json.loads(req.to_json())
    assert main(["history", "show", "999"]) == 1
    assert capsys.readouterr().err.strip() == "error: There is no history entry 999."
    assert main(["history", "show", "x"]) == 2  # usage


def test_rerun_without_its_pictures_says_so(
    user_store: HistoryStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An inpaint entry recorded without its inputs (as before they were kept).
    entry_id = user_store.record(request("a cat", mode="inpaint"), picture())
    out = tmp_path / "again.png"
    assert main(["history", "rerun", str(entry_id), "--out", str(out)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: History entry {entry_id} (inpaint) was recorded without its input pictures, "
        "so it cannot be regenerated; use its parameters on the picture instead."
    ]
    assert not out.exists()
    assert main(["history", "clear"]) == 2  # needs --yes
    assert main(["history", "clear", "--yes"]) == 0
    assert user_store.count() == 0


def test_rerun_txt2img_is_bit_identical(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli.common import write_results
    from engine.local.engine import Engine
    from engine.request import GenerationInputs, GenerationRequest

    req = GenerationRequest(
        mode="txt2img", prompt="a red square", model=str(tiny_model_dir), steps=2,
        width=64, height=64, seed=7, n_samples=2,
    )  # fmt: skip
    results = Engine().run(req, GenerationInputs())
    paths = write_results(results, tmp_path / "out.png")
    assert record_cli_results(results, paths) is None  # the CLI's hook, no warning
    capsys.readouterr()
    assert main(["history", "search", "square"]) == 0
    lines = capsys.readouterr().out.splitlines()
    second = next(line for line in lines if line.split("\t")[2] == str(paths[1]))
    again = tmp_path / "again.png"
    assert main(["history", "rerun", second.split("\t")[0], "--out", str(again)]) == 0
    assert capsys.readouterr().out.strip() == str(again)
    assert np.array_equal(_pixels(again), _pixels(paths[1]))  # seed 8, its own sample
    assert not np.array_equal(_pixels(again), _pixels(paths[0]))
    store = HistoryStore(database_path())
    assert store.count() == 3  # the rerun is recorded too
    store.close()
