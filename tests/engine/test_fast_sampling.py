"""Few-step sampling: LCM and TCD on a tiny model, speed presets, and the warm parts a
run of live jobs reuses (scheduler, prompt embeddings, tiny preview VAE)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.local.warm import tiny_vae_dir
from engine.request import GenerationInputs, GenerationRequest
from engine.schedulers import SCHEDULER_NAMES, canonical_name
from engine.speed_presets import live_steps, preset_for_lora, speed_presets


@pytest.fixture(scope="module")
def engine():
    from engine.local.engine import Engine

    return Engine()


def _picture() -> np.ndarray:
    img = np.zeros((64, 64, 4), np.uint8)
    img[..., :3] = (40, 60, 200)
    img[16:48, 8:40, :3] = (230, 30, 30)
    img[..., 3] = 255
    return img


def _run(engine, model: Path, **changes) -> np.ndarray:
    fields = dict(mode="img2img", prompt="a red boat", seed=3, steps=4, strength=0.5)
    fields.update(model=str(model), width=64, height=64, guidance=1.0)
    fields.update(changes)
    request = GenerationRequest(**fields)
    (result,) = engine.run(request, GenerationInputs(image=_picture()))
    return result.rgba


@pytest.mark.parametrize("name", ["LCM", "TCD"])
def test_few_step_samplers_run_and_repeat_exactly(engine, tiny_model_dir, name):
    assert name in SCHEDULER_NAMES and canonical_name(name.lower()) == name
    first = _run(engine, tiny_model_dir, scheduler=name)
    other = _run(engine, tiny_model_dir, scheduler="Euler a")
    again = _run(engine, tiny_model_dir, scheduler=name)
    assert first.shape == (64, 64, 4)
    assert np.array_equal(first, again)  # the reused scheduler kept no state
    assert not np.array_equal(first, other)  # a different sampler, different pixels


def test_txt2img_with_lcm_and_guidance(engine, tiny_model_dir):
    request = GenerationRequest(
        mode="txt2img", prompt="a boat", seed=1, steps=2, guidance=7.0, scheduler="TCD",
        model=str(tiny_model_dir), width=64, height=64,
    )  # fmt: skip
    (result,) = engine.run(request)
    assert result.rgba.shape == (64, 64, 4) and result.rgba[..., :3].std() > 0
    assert "Sampler: TCD" in result.parameters


def test_the_prompt_is_encoded_once_for_a_run_of_jobs(engine, tiny_model_dir):
    _run(engine, tiny_model_dir, prompt="a blue kite")
    count = engine.warm.prompt_encodings
    for seed in (1, 2, 3):
        _run(engine, tiny_model_dir, prompt="a blue kite", seed=seed)
    assert engine.warm.prompt_encodings == count
    _run(engine, tiny_model_dir, prompt="a green kite")
    assert engine.warm.prompt_encodings == count + 1


def test_cached_embeddings_give_the_pipelines_own_pixels(engine, tiny_model_dir, monkeypatch):
    with_cache = _run(engine, tiny_model_dir, guidance=5.0, scheduler="DDIM", seed=9)
    # The pipeline encoding the prompt itself, as before the cache:
    monkeypatch.setattr(
        engine.warm,
        "prompt_args",
        lambda _pipe, prompt, negative, *_a: {"prompt": prompt, "negative_prompt": negative},
    )
    by_pipeline = _run(engine, tiny_model_dir, guidance=5.0, scheduler="DDIM", seed=9)
    assert np.array_equal(with_cache, by_pipeline)


def test_the_tiny_vae_decodes_live_jobs_when_installed(engine, tiny_model_dir, tmp_path):
    from diffusers import AutoencoderTiny

    from engine.core.paths import user_models_dir

    plain = _run(engine, tiny_model_dir, options=(("live", True),))
    folder = user_models_dir() / "vae-approx" / "taesd"
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    ).save_pretrained(str(folder))
    assert tiny_vae_dir("sd1", [user_models_dir()]) == folder
    live = _run(engine, tiny_model_dir, options=(("live", True),))
    normal = _run(engine, tiny_model_dir)
    assert not np.array_equal(live, plain)  # the tiny VAE made this one
    assert np.array_equal(normal, plain)  # ordinary jobs keep the full VAE


def test_speed_presets_come_from_file_names():
    lcm = preset_for_lora("lcm-lora-sdv1-5")
    assert (lcm.scheduler, lcm.steps, lcm.guidance, lcm.lora) == ("LCM", 4, 1.0, "lcm-lora-sdv1-5")
    hyper = preset_for_lora("Hyper-SD15-8steps-lora")
    assert (hyper.scheduler, hyper.steps, hyper.guidance) == ("TCD", 8, 1.0)
    assert preset_for_lora("Hyper-SDXL-12steps-CFG-lora").guidance == 5.0
    lightning = preset_for_lora("sdxl_lightning_2step_lora")
    assert (lightning.scheduler, lightning.steps, lightning.guidance) == ("Euler", 2, 1.0)
    assert preset_for_lora("my-style") is None
    found = speed_presets(["my-style", "lcm-lora-sdv1-5"], "sd-turbo")
    assert [p.name.split(" ")[0] for p in found] == ["Turbo,", "LCM-LoRA"]
    assert found[0].guidance == 1.0  # turbo models run guidance-free
    assert speed_presets(["my-style"], "sd15") == []


@pytest.mark.parametrize("steps,strength", [(4, 0.5), (4, 0.3), (1, 0.05), (6, 1.0)])
def test_live_steps_run_the_asked_denoising_steps(steps, strength):
    total = live_steps(steps, strength)
    assert int(total * strength) >= steps and int((total - 1) * strength) < steps
