"""`overpaint` engine subcommands: outputs, metadata, rerun, exit codes, error lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine.discovery
import engine.models
from engine.cli.commands import main
from engine.metadata import read_request, read_watermark_record
from engine.region import plan_region
from engine.request import Box
from tests.ci import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]


def _png(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def _gen_args(model: Path, out: Path, *extra: str, size: int = 128) -> list[str]:
    return [
        "txt2img", "--prompt", "a red square", "--model", str(model), "--steps", "3",
        "--width", str(size), "--height", str(size), "--seed", "5", "--out", str(out), *extra,
    ]  # fmt: skip


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1].startswith("error: ")
    return err[-1]


def test_txt2img_samples_metadata_watermark_and_bit_identical_rerun(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    # 256² is the smallest size the watermark is embedded at.
    assert main(_gen_args(tiny_model_dir, out, "--n-samples", "2", size=256)) == 0
    first, second = tmp_path / "out-1.png", tmp_path / "out-2.png"
    assert first.is_file() and second.is_file() and not out.exists()
    assert _pixels(first).shape == (256, 256, 4)
    assert [read_request(p).seed for p in (first, second)] == [5, 6]
    # An independent reader of the A1111 convention sees the real sample's settings.
    from sd_parsers import ParserManager

    (sampler,) = ParserManager().parse(second).samplers
    assert (sampler.name, sampler.parameters["seed"], sampler.parameters["steps"]) == (
        "Euler a",
        "6",
        "3",
    )
    assert "step 3/6" in capsys.readouterr().err  # progress goes to the terminal

    assert main(["watermark", str(second)]) == 0
    assert capsys.readouterr().out.strip() == "OVERPAINT"

    again = tmp_path / "again.png"
    assert main(["rerun", str(second), "--out", str(again)]) == 0
    assert np.array_equal(_pixels(again), _pixels(second))


def test_no_watermark_flag(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plain.png"
    assert main(_gen_args(tiny_model_dir, out, "--no-watermark", size=256)) == 0
    capsys.readouterr()
    assert main(["watermark", str(out)]) == 1
    assert "no watermark" in capsys.readouterr().out


def test_inpaint_keeps_outside_pixels_and_reruns(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
    mask = np.zeros((150, 200), np.uint8)
    mask[60:90, 120:160] = 255
    init = _png(tmp_path / "init.png", image)
    mask_png = _png(tmp_path / "mask.png", mask)
    out = tmp_path / "inpainted.png"
    args = ["inpaint", "--init-img", str(init), "--mask", str(mask_png), "--prompt", "a ball",
            "--model", str(tiny_model_dir), "--steps", "3", "--seed", "2", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    result = _pixels(out)[..., :3]
    assert result.shape == image.shape
    # The window's feather rule (a tenth of the mask's diagonal), not a fixed blur.
    assert read_request(out).mask_blur == plan_region(Box(120, 60, 40, 30), 200, 150).feather == 5
    far = np.ones((150, 200), bool)
    far[40:110, 100:180] = False  # mask plus a generous feather band
    assert np.array_equal(result[far], image[far])
    assert not np.array_equal(result[60:90, 120:160], image[60:90, 120:160])
    again = tmp_path / "again.png"
    rerun = [
        "rerun",
        str(out),
        "--init-img",
        str(init),
        "--mask",
        str(mask_png),
        "--out",
        str(again),
    ]
    assert main(rerun) == 0
    assert np.array_equal(_pixels(again), _pixels(out))
    # Without --init-img, the inputs the history kept replay it.
    assert main(["rerun", str(out), "--out", str(again)]) == 0
    assert np.array_equal(_pixels(again), _pixels(out))
    # The same settings on a picture the history never saw: rerun asks for that picture.
    other = _png(tmp_path / "other.png", rng.integers(0, 256, (150, 200, 3), dtype=np.uint8))
    unrecorded = tmp_path / "unrecorded.png"
    args[args.index(str(init))] = str(other)
    assert main([*args[:-1], str(unrecorded), "--no-history"]) == 0
    capsys.readouterr()
    assert main(["rerun", str(unrecorded), "--out", str(again)]) == 1
    assert "--init-img" in _error_line(capsys)


def test_inpaint_marks_only_the_generated_pixels_and_reruns_bit_identical(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (384, 512, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:384, 0:512]
    distance = np.hypot(xx - 256, yy - 192)
    mask = np.where(distance <= 140, 255, 0).astype(np.uint8)  # big enough for the mark
    init = _png(tmp_path / "init.png", image)
    mask_png = _png(tmp_path / "mask.png", mask)
    out = tmp_path / "marked.png"
    common = ["--init-img", str(init), "--mask", str(mask_png)]
    args = ["inpaint", *common, "--prompt", "a ball", "--model", str(tiny_model_dir),
            "--steps", "2", "--out", str(out)]  # fmt: skip
    assert main(args) == 0  # default settings: the mark is on
    capsys.readouterr()
    assert main(["watermark", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "OVERPAINT"

    # Only repainted pixels (the disc and its feather) changed, the mark included: the
    # corners of the box it was written in are the input's, bit for bit.
    feather = read_request(out).mask_blur
    marked = _pixels(out)[..., :3]
    untouched = distance > 140 + feather * 1.5  # Chebyshev feather within a disc's reach
    assert np.array_equal(marked[untouched], image[untouched])
    x, y, w, h = read_watermark_record(out)["box"]
    assert (x, y) == (256 - 140 - feather, max(192 - 140 - feather, 0)) and w == 281 + 2 * feather
    assert not np.array_equal(marked[distance <= 140], image[distance <= 140])

    again = tmp_path / "again.png"
    assert main(["rerun", str(out), *common, "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_a_generated_box_too_small_for_the_mark_is_left_unmarked_and_says_so(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (256, 288, 3), dtype=np.uint8)
    mask = np.zeros((256, 288), np.uint8)
    mask[100:140, 150:200] = 255
    init = _png(tmp_path / "init.png", image)
    mask_png = _png(tmp_path / "mask.png", mask)
    out = tmp_path / "small.png"
    args = ["inpaint", "--init-img", str(init), "--mask", str(mask_png), "--prompt", "a ball",
            "--model", str(tiny_model_dir), "--steps", "2", "--seed", "4", "--mask-blur", "6",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert read_request(out).mask_blur == 6  # an explicit --mask-blur wins
    far = np.ones((256, 288), bool)
    far[94:146, 144:206] = False  # the mask and its feather
    assert np.array_equal(_pixels(out)[..., :3][far], image[far])
    assert "too small" in read_watermark_record(out)["skipped"]
    capsys.readouterr()
    assert main(["watermark", str(out)]) == 1
    assert "too small to carry the watermark" in capsys.readouterr().out


def test_fill_needs_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.discovery, "BUNDLED_MODELS_DIR", tmp_path / "none")
    image = np.full((80, 80, 3), 90, np.uint8)
    image[30:50, 30:50] = (255, 0, 0)
    mask = np.zeros((80, 80), np.uint8)
    mask[28:52, 28:52] = 255
    out = tmp_path / "filled.png"
    args = ["fill", "--init-img", str(_png(tmp_path / "i.png", image)),
            "--mask", str(_png(tmp_path / "m.png", mask)), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    filled = _pixels(out)[..., :3]
    assert np.abs(filled[35:45, 35:45].astype(int) - 90).max() < 10  # red square removed
    assert np.array_equal(filled[:20], image[:20])


@pytest.mark.parametrize(
    "problem", ["mask size", "random bytes image", "missing model", "bad scheduler"]
)
def test_errors_exit_1_with_one_line(
    problem: str, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init = _png(tmp_path / "init.png", np.zeros((64, 64, 3), np.uint8))
    out = tmp_path / "o.png"
    if problem == "mask size":
        mask = _png(tmp_path / "m.png", np.full((32, 64), 255, np.uint8))
        args = ["inpaint", "--init-img", str(init), "--mask", str(mask), "--prompt", "x",
                "--model", str(tiny_model_dir), "--out", str(out)]  # fmt: skip
        needle = "same size"
    elif problem == "random bytes image":
        junk = tmp_path / "junk.png"
        junk.write_bytes(os.urandom(300))
        args = ["img2img", "--init-img", str(junk), "--prompt", "x", "--model", str(tiny_model_dir),
                "--out", str(out)]  # fmt: skip
        needle = "junk.png"
    elif problem == "missing model":
        args = _gen_args(tmp_path / "nope.safetensors", out)
        needle = "nope.safetensors"
    else:
        args = _gen_args(tiny_model_dir, out, "--scheduler", "Heun++")
        needle = "Unknown scheduler"
    assert main(args) == 1
    assert needle in _error_line(capsys)
    assert not out.exists()


def test_no_model_anywhere_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(engine.discovery, "BUNDLED_MODELS_DIR", tmp_path / "none")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    assert main(["txt2img", "--prompt", "x", "--out", str(tmp_path / "o.png")]) == 1
    assert "No model found" in _error_line(capsys)
    assert main(["models"]) == 0
    assert "no models found" in capsys.readouterr().err


def test_models_lists_name_family_path(
    tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--models-dir", str(tiny_model_dir.parent)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.split("\t")[:2] == ["tiny-sd", "sd1"] and line.endswith(str(tiny_model_dir))
        for line in lines
    )


def test_usage_errors_exit_2_and_debug_shows_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["txt2img", "--out", str(tmp_path / "o.png")]) == 2  # --prompt missing
    assert main(["inpaint", "--prompt", "x", "--steps", "many", "--out", "o.png"]) == 2
    capsys.readouterr()
    args = [
        "fill",
        "--init-img",
        str(tmp_path / "missing.png"),
        "--mask",
        "m.png",
        "--out",
        str(tmp_path / "o.png"),
    ]
    assert main(args) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert main([*args, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_exits_130_without_output(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "never.png"
    # 500 steps at 512²: tens of seconds, so the job is still running when the signal
    # lands even if this process waits its turn on a busy machine (at 128² in bf16 the
    # whole job once finished first, under a full suite).
    args = _gen_args(tiny_model_dir, out, size=512)
    args[args.index("--steps") + 1] = "500"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "editor.app", *args],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stderr.readline()
        assert line.startswith("step "), line  # denoising has begun
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 130
    # No partial picture (userdata/ holds the log file).
    assert [p.name for p in tmp_path.iterdir() if p.name != "userdata"] == []


def test_default_model_is_the_bundled_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (engine.models.DEMO_MODEL_DIR / "model_index.json").is_file():
        skip_or_fail("the demo model is not in this checkout")
    out = tmp_path / "demo.png"
    assert (
        main(
            [
                "txt2img",
                "--prompt",
                "a red square",
                "--steps",
                "2",
                "--seed",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    native = engine.models.resolve_model("").native_size
    assert _pixels(out).shape == (native, native, 4)
    assert read_request(out).model == "Overpaint demo (shapes)"  # rerun finds it by name
    capsys.readouterr()
    assert main(["models"]) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[0]
        .startswith("Overpaint demo (shapes)\tsd1\tbundled\t")
    )
