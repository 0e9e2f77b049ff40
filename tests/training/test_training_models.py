"""Which models `overpaint train` takes: LoRA training teaches a UNet (SD 1.x, SD 2.x,
SDXL); a transformer family's model, however it is stored or wherever it was found, is
refused in one sentence before any weights load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.tiny_split import write_split_beside_folder
from tests.training.stars import write_star_folder


def test_a_split_transformer_model_in_models_dir_is_refused_in_one_sentence(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from editor.app import main

    models = tmp_path / "models"
    write_split_beside_folder(tiny_modern_dir("z-image"), "z-image", models, "z_image_turbo_fp16")
    pictures = write_star_folder(tmp_path / "stars")
    out = tmp_path / "star.safetensors"
    args = ["train", "--images", str(pictures), "--concept", "star", "--out", str(out)]
    args += ["--model", "z_image_turbo_fp16", "--models-dir", str(models), "--steps", "1"]
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Z-Image" in err[0] and "SD 1" in err[0] and "SDXL" in err[0], err
    assert not out.exists()
