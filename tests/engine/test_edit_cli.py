"""`overpaint edit` and its rerun, on a tiny FLUX.1 Kontext model built at test time:
only the masked part changes, the metadata names the instruction, the mode and each
reference's hash, and `rerun` replays the edit bit for bit from the generation history or
from the pictures given again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main
from engine.core.images import picture_hash, read_image
from engine.metadata import read_request


def _png(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1].startswith("error: ")
    return err[-1]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(4)
    mask = np.zeros((96, 128), np.uint8)
    mask[24:72, 32:96] = 255
    return {
        "init": _png(tmp_path / "in.png", rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)),
        "mask": _png(tmp_path / "mask.png", mask),
        "ref": _png(tmp_path / "hat.png", rng.integers(0, 256, (70, 60, 3), dtype=np.uint8)),
        "other": _png(tmp_path / "other.png", rng.integers(0, 256, (70, 60, 3), dtype=np.uint8)),
    }


def _edit_args(model: Path, files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "edit", "--init-img", str(files["init"]), "--prompt", "make it stormy",
        "--model", str(model), "--steps", "3", "--seed", "7", "--out", str(out), *extra,
    ]  # fmt: skip


def test_edit_a_masked_part_with_a_reference_and_rerun_it(
    tiny_modern_dir: Callable[[str], Path],
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = tiny_modern_dir("flux-kontext")
    out = tmp_path / "edited.png"
    extra = ("--mask", str(files["mask"]), "--reference", str(files["ref"]))
    assert main(_edit_args(model, files, out, *extra)) == 0
    before, after = _pixels(files["init"]), _pixels(out)
    outside = np.asarray(Image.open(files["mask"])) == 0
    assert np.array_equal(after[outside], before[outside])
    assert not np.array_equal(after[~outside], before[~outside])
    request = read_request(out)
    assert (request.mode, request.prompt) == ("edit", "make it stormy")
    assert request.guidance == 2.5  # Kontext's model card, as the window's panel starts
    (ref,) = request.references
    assert ref.image_hash == picture_hash(read_image(files["ref"]))
    with Image.open(out) as im:
        parameters = im.info["parameters"]
    assert parameters.startswith("make it stormy\n")
    assert "Mode: edit" in parameters and f'Reference 0: "Hash: {ref.image_hash}"' in parameters
    capsys.readouterr()

    # From the generation history: the input, the mask and the reference were kept.
    again = tmp_path / "again.png"
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    assert np.array_equal(_pixels(again), after)


def test_rerun_without_history_takes_the_references_in_order(
    tiny_modern_dir: Callable[[str], Path],
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = tiny_modern_dir("flux-kontext")
    out = tmp_path / "edited.png"
    extra = ("--mask", str(files["mask"]), "--reference", str(files["ref"]), "--no-history")
    assert main(_edit_args(model, files, out, *extra)) == 0
    capsys.readouterr()
    given = ["rerun", str(out), "--init-img", str(files["init"]), "--mask", str(files["mask"])]
    again = tmp_path / "again.png"
    assert main([*given, "--out", str(again)]) == 1
    assert "pass it with --reference-image in order" in _error_line(capsys)
    assert main([*given, "--reference-image", str(files["other"]), "--out", str(again)]) == 1
    assert "is not reference picture 1 of the recorded run" in _error_line(capsys)
    assert main([*given, "--reference-image", str(files["ref"]), "--out", str(again)]) == 0
    assert np.array_equal(_pixels(again), _pixels(out))


def test_whole_picture_edit_and_bad_edits(
    tiny_modern_dir: Callable[[str], Path],
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kontext = tiny_modern_dir("flux-kontext")
    out = tmp_path / "whole.png"
    assert main(_edit_args(kontext, files, out, "--no-history")) == 0
    assert _pixels(out).shape == (96, 128, 3)
    assert not np.array_equal(_pixels(out), _pixels(files["init"]))
    capsys.readouterr()
    assert main(_edit_args(tiny_modern_dir("flux"), files, out)) == 1
    assert _error_line(capsys) == (
        "error: tiny-flux cannot edit by instruction; pick a FLUX.1 Kontext, FLUX.2 Klein, "
        "Qwen-Image-Edit or Qwen-Image-Edit Plus model."
    )
    two = ("--mask", str(files["mask"]), "--reference", str(files["ref"]))
    assert main(_edit_args(kontext, files, out, *two, "--reference", str(files["other"]))) == 1
    assert "takes at most 1 reference picture, not 2" in _error_line(capsys)
    assert main(_edit_args(kontext, files, out, "--reference", str(tmp_path / "no.png"))) == 1
    assert "no.png" in _error_line(capsys)
