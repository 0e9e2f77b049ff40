"""The bundled demo reference adapter from the command line: with the default model and
an EMPTY prompt, `--reference IMAGE` alone says what to draw, without naming the adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.cli.commands import main as cli
from engine.demo.dataset import PALETTE
from engine.demo.evaluate import read_picture
from engine.metadata import read_request


def _red_circle(folder: Path) -> Path:
    picture = Image.new("RGB", (128, 128), PALETTE["blue"])
    # Off every named place and of a size the dataset never draws: the adapter carries
    # what the picture shows, not where.
    cx, cy, r = 0.7 * 128, 0.32 * 128, 22
    ImageDraw.Draw(picture).ellipse((cx - r, cy - r, cx + r, cy + r), fill=PALETTE["red"])
    picture.save(folder / "red-circle.png")
    return folder / "red-circle.png"


def _readings(out: Path, count: int) -> list[tuple]:
    found = []
    for i in range(1, count + 1):
        with Image.open(out.with_name(f"{out.stem}-{i}.png")) as im:
            reading = read_picture(np.asarray(im.convert("RGB")))
        found.append((reading.colour, reading.kind, reading.background))
    return found


def test_a_red_circle_reference_and_no_prompt_give_a_red_circle(tmp_path: Path) -> None:
    reference = _red_circle(tmp_path)
    args = ["txt2img", "--prompt", "", "--seed", "3", "--n-samples", "3"]
    args += ["--no-watermark", "--no-history"]

    assert cli([*args, "--out", str(tmp_path / "plain.png")]) == 0
    plain = _readings(tmp_path / "plain.png", 3)
    assert plain.count(("red", "circle", "blue")) <= 1  # an empty prompt alone: anything

    out = tmp_path / "steered.png"
    assert cli([*args, "--out", str(out), "--reference", str(reference)]) == 0
    assert _readings(out, 3) == [("red", "circle", "blue")] * 3
    request = read_request(out.with_name("steered-1.png"))
    assert request is not None and request.references[0].model == "overpaint-demo-reference"
