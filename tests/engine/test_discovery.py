"""engine.discovery: one walk of the models folders, and every kind of model file told
apart from its header or declared class alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import discovery
from engine.lora.library import discover_loras
from engine.model_manager.kinds import classify as sort_kind
from engine.models import discover_models
from engine.upscale.upscalers import find_upscalers
from tests.engine.sd_layout import family_tensors, write_fake_checkpoint

_LORA_KEY = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"


def _folder(path: Path, files: dict[str, dict]) -> Path:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def mixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder holding one of each kind, some where the model manager puts them."""
    monkeypatch.setattr(discovery, "BUNDLED_MODELS_DIR", tmp_path / "bundled")
    root = tmp_path / "models"
    write_fake_checkpoint(root / "plain.safetensors", family_tensors("sd1"))
    write_fake_checkpoint(root / "inpaint.safetensors", family_tensors("sd1-inpaint"))
    lora = {f"{_LORA_KEY}.lora_down.weight": [4, 768], f"{_LORA_KEY}.lora_up.weight": [64, 4]}
    write_fake_checkpoint(root / "loras" / "style.safetensors", lora)
    write_fake_checkpoint(
        root / "controlnet" / "canny.safetensors",
        {"control_model.input_hint_block.0.weight": [16, 3, 3, 3]},
    )
    write_fake_checkpoint(
        root / "controlnet" / "sketch.safetensors",
        {"conv_in.weight": [320, 192, 3, 3], "body.0.block1.weight": [320, 320, 3, 3]},
    )
    _folder(root / "upscalers" / "x4", {"model_index.json": {"_class_name": "StableDiffusionUpscalePipeline"}})  # fmt: skip
    _folder(
        root / "inpaint-folder",
        {
            "model_index.json": {"_class_name": "StableDiffusionInpaintPipeline", "unet": []},
            "unet/config.json": {"in_channels": 9},
        },
    )
    _folder(root / "vae" / "kl", {"config.json": {"_class_name": "AutoencoderKL"}})
    (root / "notes.txt").write_text("not a model", encoding="utf-8")
    return root


def test_every_kind_is_told_from_its_header_or_declared_class(mixed: Path) -> None:
    assert discovery.classify(mixed / "plain.safetensors") == discovery.CHECKPOINT
    assert discovery.classify(mixed / "inpaint.safetensors") == discovery.INPAINT_CHECKPOINT
    assert discovery.classify(mixed / "loras" / "style.safetensors") == discovery.LORA
    assert discovery.classify(mixed / "controlnet" / "canny.safetensors") == discovery.CONTROLNET
    assert discovery.classify(mixed / "controlnet" / "sketch.safetensors") == discovery.T2I_ADAPTER
    assert discovery.classify(mixed / "upscalers" / "x4") == discovery.UPSCALER
    assert discovery.classify(mixed / "inpaint-folder") == discovery.INPAINT_CHECKPOINT
    assert discovery.classify(mixed / "vae" / "kl") == discovery.VAE
    assert discovery.classify(mixed / "notes.txt") is None


def test_one_walk_serves_each_feature_only_its_own_kind(mixed: Path) -> None:
    everything = {p.name for p in discovery.entries(mixed, 3, discovery.has_config)}
    assert {"canny.safetensors", "style.safetensors", "kl", "plain.safetensors"} <= everything
    assert "notes.txt" not in everything
    assert {m.name for m in discover_models([mixed])} == {"plain", "inpaint", "inpaint-folder"}
    assert [lora.name for lora in discover_loras([mixed])] == ["style"]
    assert [p.name for p in find_upscalers([mixed])] == ["x4"]


def test_the_model_manager_sorts_a_t2i_adapter_beside_the_controlnets(mixed: Path) -> None:
    assert sort_kind(mixed / "controlnet" / "sketch.safetensors").kind == "controlnet"
    assert sort_kind(mixed / "loras" / "style.safetensors").kind == "lora"
    assert sort_kind(mixed / "inpaint.safetensors").kind == "inpainting"
