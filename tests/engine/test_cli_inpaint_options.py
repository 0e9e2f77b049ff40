"""`overpaint inpaint` with the seamless-inpainting flags: recorded, replayed, refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main
from engine.metadata import PARAMETERS_KEY, read_request
from tests.seamless_scenes import band_mask, disc_mask, disc_picture, removal_error

BACKGROUND = (0, 128, 128)


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    picture, truth = disc_picture(BACKGROUND)
    Image.fromarray(picture[..., :3]).save(tmp_path / "in.png")
    Image.fromarray(disc_mask()).save(tmp_path / "mask.png")
    return tmp_path / "in.png", tmp_path / "mask.png", picture, truth


def _args(init: Path, mask: Path, out: Path, *extra: str) -> list[str]:
    return ["inpaint", "--init-img", str(init), "--mask", str(mask), "--prompt", "",
            "--seed", "4", "--steps", "12", "--scheduler", "DPM++ 2M", "--no-watermark",
            "--out", str(out), *extra]  # fmt: skip


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_flags_are_recorded_and_rerun_replays_them(files, tmp_path: Path) -> None:
    init, mask, picture, truth = files
    out = tmp_path / "out.png"
    flags = ("--inpaint-mode", "remove", "--grow", "6", "--mask-blur", "12", "--context", "40",
             "--no-color-match")  # fmt: skip
    assert main(_args(init, mask, out, *flags)) == 0
    request = read_request(out)
    assert (request.inpaint_mode, request.grow, request.mask_blur, request.context) == (
        "remove", 6, 12, "40")  # fmt: skip
    assert request.color_match is False and request.soft_edges is True
    assert request.strength == pytest.approx(0.3)  # remove's default strength
    with Image.open(out) as im:
        text = im.info[PARAMETERS_KEY]
    for field in ("Inpaint mode: remove", "Mask grow: 6", "Mask blur: 12", "Inpaint context: 40",
                  "Color match: off", "Soft inpainting: on"):  # fmt: skip
        assert field in text
    result = _pixels(out)
    assert max(removal_error(result, truth, disc_mask())) <= 3.0
    # Beyond the grown mask and its feather the picture is untouched, bit for bit.
    far = band_mask(disc_mask(), -1000, -(6 + 12 + 1))
    assert np.array_equal(result[far], picture[..., :3][far])

    again = tmp_path / "again.png"
    rerun = ["rerun", str(out), "--init-img", str(init), "--mask", str(mask), "--out", str(again)]
    assert main(rerun) == 0
    assert again.read_bytes() == out.read_bytes()


def test_auto_names_its_choice_and_hard_edges_turn_the_feather_off(files, tmp_path: Path) -> None:
    init, mask, _, _ = files
    out = tmp_path / "out.png"
    assert main(_args(init, mask, out, "--hard-edges")) == 0
    request = read_request(out)
    assert request.inpaint_mode == "remove"  # no prompt: auto removes
    assert request.soft_edges is False and request.mask_blur == 0
    outside = disc_mask() == 0
    assert np.array_equal(_pixels(out)[outside], _pixels(init)[outside])


@pytest.mark.parametrize(
    "flags", [("--inpaint-mode", "erase"), ("--context", "everything"), ("--context", "-5")]
)
def test_unknown_values_are_usage_errors(files, tmp_path, flags, capsys) -> None:
    init, mask, _, _ = files
    out = tmp_path / "out.png"
    assert main(_args(init, mask, out, *flags)) == 2
    err = capsys.readouterr().err
    assert "usage:" in err and flags[0] in err
    assert not out.exists()
