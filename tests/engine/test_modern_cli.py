"""`overpaint txt2img`, `img2img`, `inpaint` and `edit` for every transformer family, with
the model as ComfyUI users keep it: split files in a models folder (--models-dir), the
transformer a Q8_0 GGUF for half the families and plain safetensors for the rest, the
configuration and tokenizers borrowed from the family's diffusers folder beside them (an
installed starter). Each mode writes its picture and records its mode; the inpaint keeps
pixels beyond its feather bit-identical, and `rerun` replays it bit for bit.

The engine-level tests (test_modern_families, test_split_loading, test_edit_mode) check the
pixels of each load in depth; this walks the command line a user types.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.cli.commands import main
from engine.core.paths import user_models_dir
from engine.metadata import read_request
from tests.engine.test_edit_cli import _pixels, _png
from tests.tiny_split import write_gguf, write_split, write_split_beside_folder

FAMILIES = (
    "flux",
    "flux-fill",
    "flux-kontext",
    "flux2-klein",
    "sd3",
    "qwen-image",
    "qwen-image-edit",
    "z-image",
    "chroma",
)
EDITS = ("flux-kontext", "flux2-klein", "qwen-image-edit")
H, W = 64, 96


def _split_model(folder: Path, family: str, models: Path, load: str) -> str:
    """The family's diffusers folder installed in the user's models folder, and the same
    model as split files in a ComfyUI models/ folder; the split model's name."""
    shutil.copytree(folder, user_models_dir() / f"tiny-{family}")
    name = f"{family}-dev"
    transformer = write_split(folder, family, models, name)
    if load == "split":
        return name
    write_gguf(transformer, models / "unet" / f"{name}-Q8_0.gguf")
    transformer.unlink()
    return f"{name}-Q8_0"


def _walk_modes(
    modes: tuple[str, ...], model: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run each of `modes` on one picture (and mask) with `model`'s arguments; check each
    output, then rerun the last."""
    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    init = _png(tmp_path / "in.png", picture)
    mask = np.zeros((H, W), np.uint8)
    mask[20:44, 30:66] = 255
    mask_png = _png(tmp_path / "mask.png", mask)
    common = ["--prompt", "a red square", *model, "--steps", "2", "--seed", "6"]
    common += ["--no-watermark"]  # Qwen-Image: NaN at 1 step
    given = {
        "txt2img": ["--width", str(W), "--height", str(H)],
        "img2img": ["--init-img", str(init)],
        "inpaint": ["--init-img", str(init), "--mask", str(mask_png)],
        "edit": ["--init-img", str(init), "--mask", str(mask_png)],
    }
    for mode in modes:
        out = tmp_path / f"{mode}.png"
        capsys.readouterr()
        code = main([mode, *common, *given[mode], "--out", str(out)])
        assert code == 0, (mode, capsys.readouterr().err)
        recorded = read_request(out)
        assert recorded is not None and recorded.mode == mode
        result = _pixels(out)
        assert result.shape == (H, W, 3)
        assert not np.array_equal(result, picture), mode
        if mode in ("inpaint", "edit"):
            far = np.ones((H, W), bool)
            far[8:56, 18:78] = False  # the mask and a generous feather band
            np.testing.assert_array_equal(result[far], picture[far])
    again, last = tmp_path / "again.png", tmp_path / f"{modes[-1]}.png"
    rerun = ["rerun", str(last), *model[2:]]  # --models-dir, if any
    assert main([*rerun, "--out", str(again)]) == 0, capsys.readouterr().err
    assert np.array_equal(_pixels(again), _pixels(last))


@pytest.mark.parametrize("family", FAMILIES)
def test_each_mode_from_the_command_line(
    family: str,
    tiny_modern_dir: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    modes = ("inpaint",) if family == "flux-fill" else ("txt2img", "img2img", "inpaint")
    modes += ("edit",) if family in EDITS else ()
    _walk_modes(modes, ["--model", str(tiny_modern_dir(family))], tmp_path, capsys)


# Split files load at the family's native size (1024): a job's region is scaled up to it,
# which the tiny Z-Image and SD 3.5 cannot hold (64 positions a side), and which costs
# seconds per job; two families stand for the rest (test_split_loading loads them all).
@pytest.mark.parametrize(
    ("family", "load", "modes"),
    [
        ("chroma", "split", ("txt2img", "img2img", "inpaint")),
        ("flux", "gguf", ("txt2img", "img2img", "inpaint")),
        ("flux-kontext", "gguf", ("edit",)),
    ],
)
def test_split_and_gguf_models_from_the_command_line(
    family: str,
    load: str,
    modes: tuple[str, ...],
    tiny_modern_dir: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    models = tmp_path / "ComfyUI" / "models"
    name = _split_model(tiny_modern_dir(family), family, models, load)
    model = ["--model", name, "--models-dir", str(models)]
    _walk_modes(modes, model, tmp_path, capsys)
    assert read_request(tmp_path / f"{modes[-1]}.png").model == name


def test_flux_fill_refuses_txt2img_from_the_command_line_in_one_sentence(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["txt2img", "--prompt", "a cat", "--model", str(tiny_modern_dir("flux-fill"))]
    args += ["--steps", "2", "--width", "64", "--height", "64", "--out", str(tmp_path / "x.png")]
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1].startswith("error: ") and "can only inpaint or outpaint" in err[-1], err
    assert not (tmp_path / "x.png").exists()


def test_split_files_borrow_the_configuration_of_a_folder_in_models_dir(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    write_split_beside_folder(tiny_modern_dir("z-image"), "z-image", models, "z_image_turbo_fp16")
    args = ["txt2img", "--prompt", "a cat", "--model", "z_image_turbo_fp16", "--steps", "2"]
    args += ["--models-dir", str(models), "--width", "64", "--height", "64"]
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "x.png")]) == 0, capsys.readouterr().err


def test_steps_and_guidance_not_given_are_the_models_own(
    tiny_modern_dir: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As the window's panel starts from: a turbo model's few steps without CFG, FLUX
    dev's distilled guidance at its card's steps; what is given wins."""
    turbo = tmp_path / "z-image-turbo"
    shutil.copytree(tiny_modern_dir("z-image"), turbo)
    size = ["--width", "32", "--height", "32", "--no-history", "--prompt", "a cat"]
    for model, extra, expected in (
        (turbo, [], (8, 0.0)),
        (tiny_modern_dir("flux"), ["--steps", "2"], (2, 3.5)),
        (tiny_modern_dir("flux"), ["--steps", "2", "--guidance", "5"], (2, 5.0)),
    ):
        out = tmp_path / "out.png"
        args = ["txt2img", "--model", str(model), *size, *extra, "--out", str(out)]
        assert main(args) == 0, capsys.readouterr().err
        recorded = read_request(out)
        assert recorded is not None and (recorded.steps, recorded.guidance) == expected


def test_another_mode_keeps_an_fp8_transformer_in_fp8(
    tiny_modern_dir: Callable[[str], Path],
) -> None:
    """The img2img pipeline of a model whose transformer is stored in fp8 (as on a GPU)
    shares its modules as they are: no full-precision copy of the transformer."""
    import torch

    from engine.local.loading import choose_device, derive_pipeline, load_pipeline
    from engine.local.split_files import keep_fp8
    from engine.models import inspect_model

    info = inspect_model(tiny_modern_dir("flux"))
    base = load_pipeline(info, choose_device("flux", {}, "fp32"))
    keep_fp8(base.transformer, torch.float32)
    pipe = derive_pipeline(base, "img2img", info)
    assert type(pipe).__name__ == "FluxImg2ImgPipeline" and pipe.transformer is base.transformer
    assert pipe.transformer.transformer_blocks[0].attn.to_q.weight.dtype == torch.float8_e4m3fn
    assert pipe.vae.dtype == torch.float32 and pipe.text_encoder.dtype == torch.float32
