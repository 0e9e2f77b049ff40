"""`overpaint upscale`: sizes, upscaler choice, refine, metadata, exit codes and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.app import main as app_main
from engine.cli.commands import main
from engine.metadata import read_parameters, read_request
from tests.bench.upscale import bench_picture


@pytest.fixture(scope="module")
def upscaler_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_upscaler import build_tiny_upscaler_folder

    return build_tiny_upscaler_folder(tmp_path_factory.mktemp("up") / "tiny-x4")


@pytest.fixture()
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    Image.fromarray(bench_picture(48)[:32]).save(path)
    return path


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_scale_with_lanczos_through_the_app_entry_point(
    picture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    args = ["upscale", "--init-img", str(picture), "--scale", "4", "--upscaler", "lanczos",
            "--no-watermark", "--out", str(out)]  # fmt: skip
    assert app_main(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(picture) as im:
        expected = np.asarray(im.convert("RGB").resize((192, 128), Image.Resampling.LANCZOS))
    assert np.array_equal(_pixels(out), expected)
    text = read_parameters(out)
    assert "Upscaler: Lanczos" in text and "Upscale: 48x32 to 192x128" in text
    assert read_request(out) is None  # not a generation `rerun` could replay


def test_size_with_the_x4_upscaler_and_a_refine(
    picture: Path, upscaler_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    up = tmp_path / "up.png"
    base = ["upscale", "--init-img", str(picture), "--width", "80", "--upscaler",
            str(upscaler_dir), "--steps", "2", "--seed", "7", "--no-watermark"]  # fmt: skip
    assert main([*base, "--out", str(up)]) == 0
    assert _pixels(up).shape == (53, 80, 3)  # the height follows the aspect ratio
    assert "Upscaler: tiny-x4" in read_parameters(up)
    assert "step 2/2" in capsys.readouterr().err  # tiles x steps on the terminal

    refined = tmp_path / "refined.png"
    args = ["upscale", "--init-img", str(picture), "--width", "256", "--height", "256",
            "--upscaler", "lanczos", "--refine-strength", "0.5", "--steps", "4", "--seed", "7",
            "--out", str(refined)]  # fmt: skip
    assert main(args) == 0
    text = read_parameters(refined)
    assert "Denoising strength: 0.5" in text and "Refine tiles: 9 of 128x128" in text
    assert _pixels(refined).shape == (256, 256, 3)
    # Marked by default (256² is the smallest size the watermark is embedded at).
    assert main(["watermark", str(refined)]) == 0
    assert capsys.readouterr().out.strip().endswith("OVERPAINT")


@pytest.mark.parametrize(
    "extra",
    [["--scale", "3"], ["--scale", "2", "--width", "100"], []],
)
def test_usage_errors_exit_2(picture: Path, tmp_path: Path, extra: list[str]) -> None:
    args = ["upscale", "--init-img", str(picture), *extra, "--out", str(tmp_path / "o.png")]
    assert main(args) == 2
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scale", "2", "--refine-strength", "1.5"], "--refine-strength must be between"),
        (["--scale", "2", "--upscaler", "/nonexistent/x4"], "No upscaler named"),
        (["--width", "99999"], "each side must be between 1 and 16384"),
    ],
)
def test_bad_values_give_one_error_line(
    picture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
    message: str,
) -> None:  # fmt: skip
    out = tmp_path / "o.png"
    assert main(["upscale", "--init-img", str(picture), *extra, "--out", str(out)]) == 1
    line = _error_line(capsys)
    assert line.startswith("error: ") and message in line
    assert not out.exists()


def test_missing_picture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["upscale", "--init-img", str(tmp_path / "nope.png"), "--scale", "2",
            "--out", str(tmp_path / "o.png")]  # fmt: skip
    assert main(args) == 1
    assert "nope.png" in _error_line(capsys)
