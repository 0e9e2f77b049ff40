"""`overpaint txt2img` and `rerun` with a FLUX.1 GGUF transformer and split files from a
ComfyUI models folder (--models-dir), the configuration from a Hugging Face cache
snapshot of the reference repository; a missing part is one error line."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.commands import main
from engine.metadata import read_request
from tests.tiny_split import write_gguf, write_split


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def test_gguf_split_model_from_the_command_line_and_its_rerun(
    tiny_modern_dir: Callable[[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hub = tmp_path / "hub" / "models--black-forest-labs--FLUX.1-schnell" / "snapshots" / "a"
    shutil.copytree(tiny_modern_dir("flux-schnell"), hub)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    models = tmp_path / "ComfyUI" / "models"
    transformer = write_split(tiny_modern_dir("flux"), "flux", models, "flux1-dev")
    write_gguf(transformer, models / "unet" / "flux1-dev-Q8_0.gguf")
    transformer.unlink()
    out, again = tmp_path / "out.png", tmp_path / "again.png"
    args = ["--prompt", "a red square", "--steps", "2", "--width", "64", "--height", "64"]
    args += ["--seed", "4", "--models-dir", str(models), "--no-watermark"]
    assert main(["txt2img", "--model", "flux1-dev-Q8_0", *args, "--out", str(out)]) == 0
    assert _pixels(out).shape == (64, 64, 4)
    assert read_request(out).model == "flux1-dev-Q8_0"
    rerun = ["rerun", str(out), "--out", str(again), "--models-dir", str(models)]
    assert main(rerun) == 0
    assert np.array_equal(_pixels(out), _pixels(again))

    (models / "vae" / "ae.safetensors").unlink()
    capsys.readouterr()
    assert main(["txt2img", "--model", str(models / "unet" / "flux1-dev-Q8_0.gguf"), *args,
                 "--out", str(tmp_path / "x.png")]) == 1  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    missing = (
        "flux1-dev-Q8_0.gguf is a FLUX.1 transformer without its VAE (ae.safetensors); "
        f"Overpaint looked in {models / 'unet' / 'vae'}, {models / 'vae'}: put the file there."
    )
    assert err[-1] == f"error: {missing}"
    # `overpaint models` lists what it found and notes what keeps a file from a model.
    assert main(["models", "--models-dir", str(models)]) == 0
    assert f"note: {missing}" in capsys.readouterr().err.splitlines()
