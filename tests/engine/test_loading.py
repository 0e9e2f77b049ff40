"""Offline loading: single files with config folders, fp16-stored weights, device policy,
the shipped family configs, model switching and LoRA."""

from __future__ import annotations

import gc
import json
import shutil
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core.precision import machine_precision
from engine.discovery import MODEL_CONFIGS_DIR
from engine.local.engine import Engine
from engine.local.loading import DevicePolicy, choose_device, load_pipeline
from engine.models import FAMILIES, ModelInfo, detect_family
from engine.request import GenerationRequest
from tests.ci import skip_or_fail
from tests.engine.sd_layout import unet_to_ldm, write_original_checkpoint

CPU = DevicePolicy(device="cpu", dtype="float32")


def _request(model: Path | str, **changes: object) -> GenerationRequest:
    base = GenerationRequest(
        mode="txt2img", prompt="a blue circle", model=str(model), steps=3, width=64, height=64,
        seed=4, watermark=False, precision="fp32",
    )  # fmt: skip
    return base.replace(**changes)


def _tiny_config_root(folder: Path, root: Path) -> Path:
    """A config folder for the tiny model, laid out like resources/model_configs/sd1."""
    target = root / "sd1"
    target.mkdir(parents=True)
    shutil.copy(folder / "model_index.json", target)
    for sub in ("unet", "vae", "text_encoder", "scheduler"):
        (target / sub).mkdir()
        for f in (folder / sub).glob("*.json"):
            shutil.copy(f, target / sub)
    return root


def test_single_file_loads_offline_and_matches_the_folder_model(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to reach the hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    ckpt = write_original_checkpoint(tiny_model_dir, tmp_path / "tiny-original.safetensors")
    root = _tiny_config_root(tiny_model_dir, tmp_path / "configs")
    info = ModelInfo("tiny-original", ckpt, "sd1", 256, "single-file")
    engine = Engine(config_root=root)
    reference = Engine().run(_request(tiny_model_dir))[0].rgba
    engine.load = lambda request: _load_as(engine, info)  # the tiny file is not a real family
    result = engine.run(_request(ckpt))[0].rgba
    assert np.array_equal(result, reference)
    assert engine._base.unet.dtype == torch.float32
    engine.unload()


def _load_as(engine: Engine, info: ModelInfo) -> ModelInfo:
    if engine._base is None:
        engine._base = load_pipeline(info, CPU, engine.config_root)
        engine.info = info
        engine._scheduler_config = dict(engine._base.scheduler.config)
        engine.precision = CPU.precision
    return info


def test_fp16_stored_weights_load_as_float32_on_cpu(tiny_model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    half = tmp_path / "half-model"
    shutil.copytree(tiny_model_dir, half)
    for f in half.rglob("*.safetensors"):
        save_file({k: v.half() for k, v in load_file(str(f)).items()}, str(f))
    engine = Engine()
    (res,) = engine.run(_request(half))
    assert all(
        p.dtype == torch.float32
        for m in (engine._base.unet, engine._base.vae, engine._base.text_encoder)
        for p in m.parameters()
    )
    assert res.rgba.shape == (64, 64, 4) and res.rgba[..., :3].std() > 0
    engine.unload()


def test_switching_models_frees_the_old_one(tiny_model_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, other)
    engine = Engine()
    engine.run(_request(tiny_model_dir))
    old_unet = weakref.ref(engine._base.unet)
    engine.run(_request(other))
    gc.collect()
    assert old_unet() is None
    assert engine.info is not None and engine.info.path == other
    engine.unload()


def test_device_policy_cpu_and_overrides() -> None:
    # No fp16 convolutions on a CPU: the CPU precision decides, whatever dtype is asked.
    policy = choose_device("sd1", {"dtype": "float16"}, "fp32")
    assert (policy.device, policy.dtype, policy.cpu_offload) == ("cpu", "float32", False)
    assert choose_device("sd1", {"dtype": "float16"}, "bf16").dtype == "bfloat16"
    assert choose_device("sd1", {"attention_slicing": "true"}).attention_slicing is True


@pytest.mark.parametrize(
    ("family", "free_gib", "expected"),
    [
        ("sd1", 20.0, (False, False, False)),
        ("sd1", 5.0, (True, False, False)),
        ("sd1", 2.0, (True, True, True)),
        ("sdxl", 11.0, (True, False, False)),
        ("sdxl", 6.0, (True, True, True)),
    ],
)
def test_low_memory_switches_follow_free_vram(
    family: str, free_gib: float, expected: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend to be a CUDA machine with this much free memory (the policy is pure logic).
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (int(free_gib * 2**30), 80 * 2**30))
    policy = choose_device(family)
    assert (policy.device, policy.dtype) == ("cuda", "float16")
    assert (policy.attention_slicing, policy.vae_tiling, policy.cpu_offload) == expected
    forced = choose_device(family, {"cpu_offload": False, "attention_slicing": True})
    assert forced.cpu_offload is False and forced.attention_slicing is True


@pytest.mark.parametrize("family", FAMILIES)
def test_shipped_config_folder_builds_the_real_architecture(family: str) -> None:
    """Each shipped config builds (on the meta device, no memory) a UNet whose original-layout
    tensor names and shapes are detected as that family again."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig

    folder = MODEL_CONFIGS_DIR / family
    index = json.loads((folder / "model_index.json").read_text())
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
    header = {
        k: {"shape": list(v.shape)} for k, v in unet_to_ldm(unet.state_dict(), unet.config).items()
    }
    if family.startswith("sdxl"):
        header["conditioner.embedders.0.transformer.text_model.final_layer_norm.weight"] = {}
        header["conditioner.embedders.1.model.ln_final.weight"] = {}
    path = Path(f"/models/{'v2-1_768' if family == 'sd2-v' else family}.safetensors")
    assert detect_family(header, path) == family
    text = CLIPTextConfig.from_pretrained(folder / "text_encoder")
    assert text.hidden_size == {"sd1": 768, "sd2": 1024, "sdx": 768}[family[:3]]
    assert ("text_encoder_2" in index) == family.startswith("sdxl")
    assert (folder / "scheduler" / "scheduler_config.json").is_file()


def _write_lora(path: Path) -> Path:
    """A small peft-format LoRA for the tiny UNet's attention projections."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    tensors = {}
    for name, (fan_in, fan_out) in {"attn1.to_q": (64, 64), "attn2.to_k": (32, 64)}.items():
        for block in ("down_blocks.1.attentions.0", "up_blocks.0.attentions.0"):
            key = f"unet.{block}.transformer_blocks.0.{name}"
            tensors[key + ".lora_A.weight"] = torch.randn(4, fan_in, generator=g)
            tensors[key + ".lora_B.weight"] = torch.randn(fan_out, 4, generator=g)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def test_lora_by_name_with_weight_and_removal(tiny_model_dir: Path) -> None:
    from engine.core.errors import ModelError
    from engine.core.paths import user_models_dir

    _write_lora(user_models_dir() / "loras" / "stripes.safetensors")
    engine = Engine()
    req = _request(tiny_model_dir)
    plain = engine.run(req)[0].rgba
    styled = engine.run(req.replace(loras=(("stripes", 1.0),)))[0]
    assert not np.array_equal(styled.rgba, plain)
    assert "<lora:stripes:1>" in styled.parameters
    # img2img shares the UNet: it sees the same LoRA state, and removing it restores all.
    img2img = req.replace(mode="img2img", strength=0.6, loras=(("stripes", 0.0),))
    from engine.request import GenerationInputs

    engine.run(img2img, GenerationInputs(image=plain))
    assert np.array_equal(engine.run(req.replace(loras=(("stripes", 0.0),)))[0].rgba, plain)
    assert np.array_equal(engine.run(req)[0].rgba, plain)
    with pytest.raises(ModelError, match="LoRA 'nope' was not found"):
        engine.run(req.replace(loras=(("nope", 1.0),)))
    # A set that fails half-way (the second one is missing) leaves no LoRA applied.
    with pytest.raises(ModelError, match="LoRA 'nope' was not found"):
        engine.run(req.replace(loras=(("stripes", 1.0), ("nope", 1.0))))
    assert np.array_equal(engine.run(req)[0].rgba, plain)
    assert np.array_equal(engine.run(req.replace(loras=(("stripes", 1.0),)))[0].rgba, styled.rgba)
    engine.unload()


def test_derived_pipelines_keep_the_base_dtype(tiny_model_dir: Path) -> None:
    """from_pipe defaults to float32: an fp16 (GPU) model must stay fp16 in every mode."""
    from engine.local.loading import derive_pipeline

    info = ModelInfo("tiny", tiny_model_dir, "sd1", 256, "diffusers")
    base = load_pipeline(info, DevicePolicy(device="cpu", dtype="float16"))
    for mode in ("img2img", "inpaint"):
        derived = derive_pipeline(base, mode, info)
        assert derived.unet is base.unet
        assert base.unet.dtype == torch.float16 and base.vae.dtype == torch.float16


def test_bundled_demo_model_is_the_default_and_runs_on_cpu_in_the_machines_precision() -> None:
    from engine.models import DEMO_MODEL_DIR, resolve_model
    from engine.schedulers import SCHEDULER_NAMES

    if not (DEMO_MODEL_DIR / "model_index.json").is_file():
        skip_or_fail("the demo model is not in this checkout")
    info = resolve_model("")
    assert (info.path, info.kind, info.name) == (
        DEMO_MODEL_DIR,
        "bundled",
        "Overpaint demo (shapes)",
    )
    engine = Engine()
    req = GenerationRequest(
        mode="txt2img", prompt="a red circle", steps=4, width=info.native_size,
        height=info.native_size, seed=3, watermark=False,
    )  # fmt: skip
    first = engine.run(req)[0]
    assert first.rgba.shape == (info.native_size, info.native_size, 4)
    assert "Model: Overpaint demo (shapes)" in first.parameters
    chosen = machine_precision().choice
    assert f"Precision: {chosen}" in first.parameters and first.request.precision == chosen
    expected = {"fp32": torch.float32, "bf16": torch.bfloat16}[chosen]
    assert {p.dtype for p in engine._base.unet.parameters()} == {expected}
    assert np.array_equal(engine.run(req)[0].rgba, first.rgba)
    # Every sampler works with the demo's v-prediction, zero-terminal-SNR schedule.
    for name in SCHEDULER_NAMES:
        (res,) = engine.run(req.replace(scheduler=name, steps=2, width=64, height=64))
        assert res.rgba.shape == (64, 64, 4), name
    engine.unload()
