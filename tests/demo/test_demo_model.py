"""The shipped demo model, end to end: CLI and worker at native and 2x size, meaning, inpaint.

These run the real trained weights from resources/models/overpaint-demo on CPU and read
the pictures back with the same pixel statistics the quality script uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main as cli
from engine.core.paths import RESOURCES
from engine.demo.dataset import PALETTE, Scene, Shape, render
from engine.demo.evaluate import FOREGROUND_DISTANCE, read_picture
from engine.metadata import read_request
from engine.models import resolve_model
from engine.request import GenerationInputs, GenerationRequest

DEMO = RESOURCES / "models" / "overpaint-demo"


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _txt2img(out: Path, prompt: str, *extra: str) -> np.ndarray:
    args = ["txt2img", "--prompt", prompt, "--seed", "11", "--no-watermark", "--out", str(out)]
    assert cli([*args, *extra]) == 0
    return _rgb(out)


def test_demo_is_the_default_model_and_small() -> None:
    info = resolve_model("")  # the test's user folders are empty: the bundled model wins
    assert info.path == DEMO and info.name == "Overpaint demo (shapes)"
    assert info.native_size == 128 and info.kind == "bundled"
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total <= 30_000_000


def test_cli_native_size_draws_the_red_shape_asked_for(tmp_path: Path) -> None:
    img = _txt2img(tmp_path / "red.png", "a large red circle in the centre, blue background")
    assert img.shape == (128, 128, 3)  # the model's native size by default
    reading = read_picture(img)
    assert reading.background == "blue" and reading.colour == "red"
    assert reading.position == "centre" and reading.blobs == 1
    # The shape region is red-dominant, the rest is not.
    shape = np.linalg.norm(img.astype(float) - PALETTE["blue"], axis=2) > FOREGROUND_DISTANCE
    r, g, b = (img[shape].astype(float).mean(axis=0)).tolist()
    assert r > 150 and r > 2 * g and r > 2 * b
    assert img[~shape][:, 0].mean() < 100
    # Another colour word changes the colour, not the layout.
    green_png = tmp_path / "g.png"
    green = read_picture(_txt2img(green_png, "a large green circle in the centre", "--steps", "12"))
    assert green.colour == "green" and green.position == "centre"


def test_cli_double_size_draws_one_shape_not_a_pattern(tmp_path: Path) -> None:
    prompt = "a small yellow square on the left, purple background"
    img = _txt2img(
        tmp_path / "big.png", prompt, "--width", "256", "--height", "256", "--steps", "12"
    )
    assert img.shape == (256, 256, 3)
    reading = read_picture(img)
    assert reading.blobs == 1
    assert (reading.colour, reading.position, reading.background) == ("yellow", "left", "purple")


def test_worker_generates_native_and_double_size(qtbot) -> None:
    from engine.worker import EngineClient

    client = EngineClient()
    results: dict[int, list] = {}
    client.finished.connect(lambda job, res: results.__setitem__(job, res))
    failures: list[str] = []
    client.failed.connect(lambda job, message: failures.append(message))
    try:
        jobs = {}
        for size in (128, 256):
            request = GenerationRequest(
                mode="txt2img",
                prompt="a large white triangle at the top, black background",
                seed=4,
                steps=12,
                width=size,
                height=size,
                watermark=False,
            )
            with qtbot.waitSignal(client.finished, timeout=120_000):
                jobs[size] = client.submit(request, GenerationInputs())
    finally:
        assert client.shutdown(30_000)
    assert not failures
    for size, job in jobs.items():
        (result,) = results[job]
        assert result.rgba.shape == (size, size, 4)
        reading = read_picture(np.ascontiguousarray(result.rgba[..., :3]))
        assert (reading.colour, reading.kind, reading.position) == ("white", "triangle", "top")
        assert reading.background == "black" and reading.blobs == 1


@pytest.mark.parametrize("strength", ["1.0"])
def test_inpaint_follows_the_new_prompt_only_inside_the_mask(tmp_path: Path, strength: str) -> None:
    scene = Scene("white", (Shape("circle", "red", "left", "small"),))
    original = render(scene, 128, 128, np.random.default_rng(0))
    mask = np.zeros((128, 128), np.uint8)
    mask[:, 64:] = 255
    Image.fromarray(original).save(tmp_path / "init.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "inpainted.png"
    args = ["inpaint", "--init-img", str(tmp_path / "init.png"), "--mask",
            str(tmp_path / "mask.png"), "--prompt", "a large blue square on the right",
            "--strength", "1.0", "--seed", "3", "--no-watermark", "--out", str(out)]  # fmt: skip
    assert cli(args) == 0
    result = _rgb(out)
    # Outside the mask and its feather band the pixels are the original's, bit for bit.
    edge = 64 - read_request(out).mask_blur
    assert 32 < edge < 64
    assert np.array_equal(result[:, :edge], original[:, :edge])
    right = read_picture(np.ascontiguousarray(result[:, 64:]))
    assert right.colour == "blue" and right.background == "white"
    left = read_picture(np.ascontiguousarray(result[:, :64]))
    assert left.colour == "red"
