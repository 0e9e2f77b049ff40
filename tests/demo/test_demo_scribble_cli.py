"""The bundled demo scribble control from the command line: with the default model a
`--control scribble:IMAGE` uses it without naming it, and the shape lands on the lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.cli.commands import main as cli
from engine.demo.evaluate import read_picture
from engine.demo.evaluate_control import centre_distance, shape_kind
from engine.metadata import read_request

CENTRE = (0.68, 0.34)  # between "right" and "top": no caption names it


def _square_sketch(folder: Path) -> Path:
    sketch = Image.new("RGB", (128, 128), "black")
    cx, cy, r = CENTRE[0] * 128, CENTRE[1] * 128, 20
    ImageDraw.Draw(sketch).rectangle((cx - r, cy - r, cx + r, cy + r), outline="white", width=2)
    sketch.save(folder / "sketch.png")
    return folder / "sketch.png"


def test_scribble_on_the_command_line_places_the_shape(tmp_path: Path) -> None:
    _square_sketch(tmp_path)
    out = tmp_path / "out.png"
    args = ["txt2img", "--prompt", "a yellow square, purple background", "--seed", "4"]
    args += ["--no-watermark", "--no-history", "--out", str(out)]
    assert cli([*args, "--control", f"scribble:{tmp_path / 'sketch.png'}"]) == 0
    with Image.open(out) as im:
        picture = np.asarray(im.convert("RGB"))
    assert read_picture(picture).colour == "yellow"
    assert centre_distance(picture, CENTRE) <= 0.15
    request = read_request(out)
    assert request is not None and request.controls[0].model == "overpaint-demo-scribble"


def test_the_lines_win_over_a_prompt_naming_another_shape(tmp_path: Path) -> None:
    sketch = _square_sketch(tmp_path)
    args = ["txt2img", "--prompt", "a yellow circle, purple background", "--seed", "11"]
    args += ["--n-samples", "4", "--no-watermark", "--no-history"]

    def kinds(out: Path, *control: str) -> list[str | None]:
        assert cli([*args, "--out", str(out), *control]) == 0
        found = []
        for i in range(1, 5):
            with Image.open(out.with_name(f"{out.stem}-{i}.png")) as im:
                found.append(shape_kind(np.asarray(im.convert("RGB"))))
        return found

    # The model alone draws what the prompt says; the square's lines make it a square.
    assert kinds(tmp_path / "plain.png") == ["circle"] * 4
    assert kinds(tmp_path / "lines.png", "--control", f"scribble:{sketch}").count("square") >= 3
