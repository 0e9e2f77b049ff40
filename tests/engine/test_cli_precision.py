"""`overpaint --precision`: the CPU precision a command asks for is the one its PNG records,
`rerun` and `history rerun` repeat it bit for bit, and bf16 on a processor without bf16
arithmetic says so once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine.core.precision as precision
from engine.cli.commands import main
from engine.history.cli import main as history_main
from engine.metadata import read_request


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def _parameters(path: Path) -> str:
    with Image.open(path) as im:
        return str(im.info["parameters"])


def _txt2img(model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "txt2img", "--prompt", "a red square", "--model", str(model), "--steps", "2",
        "--width", "64", "--height", "64", "--seed", "7", "--device", "cpu", "--out", str(out),
        *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("chosen", ["bf16", "fp32"])
def test_the_chosen_precision_is_recorded_and_rerun_bit_identically(
    chosen: str,
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    one_torch_thread: None,
) -> None:
    out = tmp_path / "out.png"
    assert main(_txt2img(tiny_model_dir, out, "--precision", chosen)) == 0
    assert read_request(out).precision == chosen
    assert f"Precision: {chosen}," in _parameters(out)

    again = tmp_path / "again.png"
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    assert read_request(again).precision == chosen
    assert np.array_equal(_pixels(again), _pixels(out))

    # The generation history replays the same precision.
    capsys.readouterr()
    assert history_main(["search", "red square"]) == 0
    entry = capsys.readouterr().out.splitlines()[0].split("\t")[0]
    replayed = tmp_path / "history.png"
    assert history_main(["rerun", entry, "--out", str(replayed)]) == 0
    assert read_request(replayed).precision == chosen
    assert np.array_equal(_pixels(replayed), _pixels(out))


def test_the_two_precisions_give_different_pictures(
    tiny_model_dir: Path, tmp_path: Path, one_torch_thread: None
) -> None:
    outs = {p: tmp_path / f"{p}.png" for p in ("fp32", "bf16")}
    for name, out in outs.items():
        assert main(_txt2img(tiny_model_dir, out, "--precision", name)) == 0
    assert not np.array_equal(_pixels(outs["fp32"]), _pixels(outs["bf16"]))


def test_bf16_without_bf16_hardware_warns_once(
    tiny_model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    one_torch_thread: None,
) -> None:
    # A processor whose flags list no bf16 arithmetic, and a fresh process's memory of it.
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=None: {"sse2", "avx2"})
    monkeypatch.setattr(precision, "_warned", set())
    out = tmp_path / "slow.png"
    args = _txt2img(tiny_model_dir, out, "--precision", "bf16", "--n-samples", "2")
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    assert err.count(f"warning: {precision.NO_BF16_HARDWARE}") == 1
    assert read_request(tmp_path / "slow-1.png").precision == "bf16"  # asked for, so used


def test_precision_takes_only_the_three_choices(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_txt2img(tiny_model_dir, tmp_path / "x.png", "--precision", "fp16")) == 2
    assert "invalid choice: 'fp16'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
