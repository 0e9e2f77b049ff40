"""Model discovery and family detection from safetensors headers (no torch needed)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import engine.discovery as discovery
from engine.core.errors import ModelError
from engine.models import discover_models, inspect_model, inspect_single_file, resolve_model
from tests.engine.sd_layout import family_tensors, write_fake_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_bundled_or_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "BUNDLED_MODELS_DIR", tmp_path / "bundled")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


@pytest.mark.parametrize(
    ("family", "native"),
    [
        ("sd1", 512),
        ("sd1-inpaint", 512),
        ("sd2", 512),
        ("sdxl", 1024),
        ("sdxl-inpaint", 1024),
    ],
)
def test_family_from_tensor_names_and_shapes(family: str, native: int, tmp_path: Path) -> None:
    path = write_fake_checkpoint(tmp_path / f"{family}.safetensors", family_tensors(family))
    info = inspect_single_file(path)
    assert (info.family, info.native_size, info.kind, info.name) == (
        family,
        native,
        "single-file",
        family,
    )


def test_sd2_768_v_from_name_or_sidecar_yaml(tmp_path: Path) -> None:
    shapes = family_tensors("sd2")
    assert (
        inspect_single_file(
            write_fake_checkpoint(tmp_path / "v2-1_768-ema-pruned.safetensors", shapes)
        ).family
        == "sd2-v"
    )
    assert (
        inspect_single_file(
            write_fake_checkpoint(tmp_path / "v2-1_512-base.safetensors", shapes)
        ).family
        == "sd2"
    )
    plain = write_fake_checkpoint(tmp_path / "mystery.safetensors", shapes)
    assert inspect_single_file(plain).family == "sd2"
    (tmp_path / "mystery.yaml").write_text('model:\n  params:\n    parameterization: "v"\n')
    info = inspect_single_file(plain)
    assert (info.family, info.native_size) == ("sd2-v", 768)


@pytest.mark.parametrize(
    ("shapes", "needle"),
    [
        (family_tensors("sdxl-refiner"), "refiner"),
        ({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": [4, 320]}, "LoRA"),
        (
            {
                "conv_in.weight": [320, 4, 3, 3],
                "down_blocks.0.resnets.0.conv1.weight": [320, 320, 3, 3],
            },
            "only part",
        ),
        ({"model.weight": [10, 10]}, "not a Stable Diffusion checkpoint"),
        (
            {
                **family_tensors("sd1"),
                "model.diffusion_model.input_blocks.0.0.weight": [320, 8, 3, 3],
            },
            "8-channel",
        ),
    ],
)
def test_unknown_kinds_get_one_clear_sentence(shapes: dict, needle: str, tmp_path: Path) -> None:
    path = write_fake_checkpoint(tmp_path / "odd.safetensors", shapes)
    with pytest.raises(ModelError, match=needle) as info:
        inspect_single_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_random_empty_and_missing_files(tmp_path: Path) -> None:
    truncated = write_fake_checkpoint(
        tmp_path / "cut.safetensors", family_tensors("sd1"), truncate=1000
    )
    with pytest.raises(ModelError, match="truncated"):
        inspect_single_file(truncated)
    noise = tmp_path / "noise.safetensors"
    noise.write_bytes(os.urandom(4096))
    with pytest.raises(ModelError, match="not a valid safetensors file"):
        inspect_single_file(noise)
    junk_json = tmp_path / "junk.safetensors"
    junk_json.write_bytes((12).to_bytes(8, "little") + b"{not json!!}")
    with pytest.raises(ModelError, match="corrupt"):
        inspect_single_file(junk_json)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty or too short"):
        inspect_single_file(empty)
    with pytest.raises(ModelError, match="does not exist"):
        inspect_single_file(tmp_path / "gone.safetensors")


class _Boom:
    """Unpickling this would create a file: proof that a .ckpt was never unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_ckpt_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(pickle.dumps({"state_dict": _Boom(str(marker))}))
    with pytest.raises(ModelError) as info:
        resolve_model(str(ckpt))
    text = str(info.value)
    assert "pickle" in text and ".safetensors" in text and "arbitrary code" in text
    assert not marker.exists()


def _diffusers_folder(path: Path, in_channels: int = 4, cross: int = 768, xl: bool = False) -> Path:
    (path / "unet").mkdir(parents=True)
    (path / "vae").mkdir()
    cls = "StableDiffusionXLPipeline" if xl else "StableDiffusionPipeline"
    index = {"_class_name": cls, "unet": ["diffusers", "UNet2DConditionModel"]}
    (path / "model_index.json").write_text(json.dumps(index))
    unet = {
        "in_channels": in_channels,
        "cross_attention_dim": cross,
        "sample_size": 128 if xl else 64,
    }
    (path / "unet" / "config.json").write_text(json.dumps(unet))
    (path / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [1, 2, 3, 4]}))
    return path


def test_diffusers_folders_and_their_families(tmp_path: Path) -> None:
    assert inspect_model(_diffusers_folder(tmp_path / "a")).family == "sd1"
    assert inspect_model(_diffusers_folder(tmp_path / "b", in_channels=9)).family == "sd1-inpaint"
    xl = inspect_model(_diffusers_folder(tmp_path / "c", cross=2048, xl=True))
    assert (xl.family, xl.native_size, xl.kind) == ("sdxl", 1024, "diffusers")
    sd2v = _diffusers_folder(tmp_path / "d", cross=1024)
    (sd2v / "scheduler").mkdir()
    (sd2v / "scheduler" / "scheduler_config.json").write_text('{"prediction_type": "v_prediction"}')
    assert inspect_model(sd2v).family == "sd2-v"


def test_discovery_order_skips_bad_files_and_resolves_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelError, match="No model found"):
        resolve_model("")
    user = Path(os.environ["OVERPAINT_DATA_DIR"]) / "models"
    user.mkdir(parents=True)
    write_fake_checkpoint(user / "dreamy.safetensors", family_tensors("sd1"))
    (user / "broken.safetensors").write_bytes(os.urandom(100))
    (user / "old.ckpt").write_bytes(b"not loaded")
    _diffusers_folder(user / "sub" / "nested-xl", cross=2048, xl=True)
    write_fake_checkpoint(
        user / "loras" / "style.safetensors", {"lora_unet_x.lora_down.weight": [4, 4]}
    )
    extra = _diffusers_folder(tmp_path / "elsewhere" / "extra-model")

    found = discover_models([tmp_path / "elsewhere"])
    assert [m.name for m in found] == ["dreamy", "nested-xl", "extra-model"]
    assert resolve_model("").name == "dreamy"  # no bundled model: the first one found

    bundled = _diffusers_folder(tmp_path / "bundled" / "overpaint-demo")
    (bundled / "overpaint.json").write_text(
        json.dumps({"display_name": "Overpaint demo (shapes)", "native_resolution": 256})
    )
    hub = tmp_path / "hf" / "models--someone--cached-model"
    snap = _diffusers_folder(hub / "snapshots" / "abc123")
    # A cached model holds weights; a snapshot of configs alone is not a model.
    (snap / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    (hub / "refs").mkdir()
    (hub / "refs" / "main").write_text("abc123")

    found = discover_models([tmp_path / "elsewhere"])
    assert [m.name for m in found] == [
        "Overpaint demo (shapes)", "dreamy", "nested-xl", "extra-model", "someone/cached-model",
    ]  # fmt: skip
    assert (found[0].kind, found[0].native_size) == ("bundled", 256)
    assert (found[-1].kind, found[-1].path) == ("hf-cache", snap)
    assert resolve_model("").name == "Overpaint demo (shapes)"
    assert resolve_model("NESTED-XL").family == "sdxl"
    assert resolve_model("extra-model", [tmp_path / "elsewhere"]).path == extra
    assert resolve_model("someone/cached-model").kind == "hf-cache"
    with pytest.raises(ModelError, match="overpaint models"):
        resolve_model("no-such-model")


def test_discovery_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys, engine.models as m; m.discover_models(); m.resolve_model('') if m.discover_models() else None;"
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT).returncode == 0
