"""`--control` / `--control-model` on the command line, and `rerun` with controls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main
from engine.metadata import read_parameters
from tests.tiny_controls import build_tiny_controlnet

ARGS = ["--prompt", "a shape", "--steps", "3", "--width", "128", "--height", "128", "--seed", "4"]


@pytest.fixture(scope="module")
def models_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-controls")
    build_tiny_controlnet(tiny_model_dir, root / "controlnet" / "tiny_scribble")
    return root


@pytest.fixture()
def sketch(tmp_path: Path) -> Path:
    # A dark drawing on white, at another size than the output: inverted and resized.
    img = np.full((200, 200, 3), 255, np.uint8)
    img[40:160, 40:48] = 0
    img[40:48, 40:160] = 0
    Image.fromarray(img).save(tmp_path / "sketch.png")
    return tmp_path / "sketch.png"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


def test_control_changes_the_picture_and_rerun_needs_it(
    capsys, tmp_path: Path, tiny_model_dir: Path, models_dir: Path, sketch: Path
) -> None:
    common = [*ARGS, "--model", tiny_model_dir, "--models-dir", models_dir, "--no-history"]
    plain, guided, again = tmp_path / "plain.png", tmp_path / "guided.png", tmp_path / "again.png"
    assert _run(capsys, "txt2img", *common, "--out", plain)[0] == 0
    code, _out, err = _run(
        capsys, "txt2img", *common, "--control", f"scribble:{sketch}:0.9:0:0.8", "--out", guided
    )
    assert code == 0, err
    assert np.abs(_pixels(guided) - _pixels(plain)).mean() > 1.0
    params = read_parameters(guided)
    assert 'ControlNet 0: "Module: scribble, Model: tiny_scribble, Weight: 0.9, ' in params
    assert "Guidance Start: 0, Guidance End: 0.8" in params

    code, _out, err = _run(capsys, "rerun", guided, "--out", again, "--models-dir", models_dir)
    assert code == 1 and not again.exists()
    assert err.count("\n") == 1 and err.startswith("error: The recorded run used a scribble")
    code, _out, err = _run(
        capsys, "rerun", guided, "--out", again, "--models-dir", models_dir,
        "--control-image", sketch,
    )  # fmt: skip
    assert code == 0, err
    assert np.array_equal(_pixels(again), _pixels(guided))


@pytest.mark.parametrize(
    ("control", "extra", "message"),
    [
        ("scribble:{missing}", [], "does not exist"),
        ("doodle:{sketch}", [], "unknown control kind 'doodle'"),
        ("pose:{sketch}", [], "No pose control model is installed"),
        ("scribble:{sketch}:5", [], "strength must be between 0 and 2"),
        ("scribble:{sketch}", ["--control-model", "scribble:{bogus}"], "not a ControlNet"),
    ],
)
def test_control_errors_are_one_line_and_write_nothing(
    capsys, tmp_path: Path, tiny_model_dir: Path, models_dir: Path, sketch: Path,
    control: str, extra: list[str], message: str,
) -> None:  # fmt: skip
    import torch
    from safetensors.torch import save_file

    bogus = tmp_path / "bogus.safetensors"  # a valid safetensors file, not a control model
    save_file({"vae.decoder.weight": torch.zeros(2)}, str(bogus))
    names = {"missing": tmp_path / "nope.png", "sketch": sketch, "bogus": bogus}
    out = tmp_path / "out.png"
    argv = [
        "txt2img", *ARGS, "--model", tiny_model_dir, "--models-dir", models_dir, "--no-history",
        "--control", control.format(**names), *[e.format(**names) for e in extra], "--out", out,
    ]  # fmt: skip
    code, _out, err = _run(capsys, *argv)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert not out.exists()
