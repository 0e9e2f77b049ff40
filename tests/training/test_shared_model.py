"""Training on the generation engine's loaded model: the weights are shared, not loaded
again, the engine's pipeline comes out untouched, and the LoRA is the one a run with its
own copy of the model trains, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.local.engine import Engine
from engine.models import DEMO_MODEL_DIR
from engine.request import GenerationRequest
from engine.training.settings import TrainingSettings
from engine.training.shared_model import borrow, borrowable
from engine.training.trainer import train_lora
from tests.training.stars import write_star_folder


def _request(**kw) -> GenerationRequest:
    base = dict(
        mode="txt2img",
        prompt="a red circle on the left, blue background",
        seed=5,
        steps=6,
        width=128,
        height=128,
        model=str(DEMO_MODEL_DIR),
        watermark=False,
    )
    return GenerationRequest(**{**base, **kw})


def _settings(
    folder: Path, out: Path, sample_every: int = 0, precision: str = "auto"
) -> TrainingSettings:
    return TrainingSettings(
        images=folder,
        concept="star",
        out=out,
        model=str(DEMO_MODEL_DIR),
        flip=False,
        batch_size=1,
        rank=4,
        steps=4,
        sample_every=sample_every,
        prior_images=1,  # the prior picture is drawn by the borrowed pipeline too
        precision=precision,
    )


# The window's model in either CPU precision, trained on in the same one (bf16: the frozen
# weights in bf16 under autocast, as training loads them).
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_on_the_loaded_model_shares_its_weights_and_leaves_it_as_it_was(
    tmp_path: Path, precision: str
) -> None:
    engine = Engine((tmp_path / "loras",))
    before_pixels = engine.run(_request(precision=precision))[0].rgba
    info, base = engine.loaded_pipeline()
    before = {
        name: {k: v.clone() for k, v in getattr(base, name).state_dict().items()}
        for name in ("unet", "text_encoder", "vae")
    }
    vocabulary = len(base.tokenizer)

    pipe = borrow(engine, str(DEMO_MODEL_DIR), precision=precision)
    assert pipe is not None and pipe.unet is not base.unet
    # No weight memory: the borrowed UNet's and VAE's tensors are the engine's own.
    assert pipe.unet.conv_in.weight.data_ptr() == base.unet.conv_in.weight.data_ptr()
    assert (
        pipe.vae.decoder.conv_out.weight.data_ptr() == base.vae.decoder.conv_out.weight.data_ptr()
    )

    folder = write_star_folder(tmp_path / "stars")
    # A sample picture too: the borrowed pipeline generates as well as it trains.
    samples = []
    shared = train_lora(
        _settings(folder, tmp_path / "loras" / "shared.safetensors", 4, precision),
        on_progress=lambda p: samples.append(p.sample),
        pipe=pipe,
    )
    assert samples[-1] is not None and samples[-1].shape == (128, 128, 3)
    assert shared.shared_weights and shared.new_word

    # The engine's pipeline: no LoRA layers, no new word, the same weights and pixels.
    assert not getattr(base.unet, "peft_config", None)
    assert len(base.tokenizer) == vocabulary and "star" not in base.tokenizer.get_vocab()
    for name, tensors in before.items():
        now = getattr(base, name).state_dict()
        assert now.keys() == tensors.keys()
        for key, value in tensors.items():
            assert torch.equal(now[key], value), f"{name}.{key} changed"
    assert np.array_equal(engine.run(_request(precision=precision))[0].rgba, before_pixels)

    # The same LoRA as a run that loads its own copy of the model.
    own = train_lora(_settings(folder, tmp_path / "own" / "star.safetensors", 0, precision))
    assert not own.shared_weights
    a, b = load_file(str(shared.path)), load_file(str(own.path))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    # The engine generates with the trained LoRA; then its pipeline has LoRA layers and
    # is not lent (training would train on them).
    with_lora = engine.run(_request(prompt="a red star on the left, blue background",
                                    loras=(("shared", 1.0),), precision=precision))[0].rgba  # fmt: skip
    assert not np.array_equal(with_lora, before_pixels)
    assert borrow(engine, str(DEMO_MODEL_DIR), precision=precision) is None
    engine.unload()
    assert borrow(engine, str(DEMO_MODEL_DIR), precision=precision) is None


def test_a_model_loaded_in_another_precision_is_not_lent(tmp_path: Path) -> None:
    engine = Engine((tmp_path / "loras",))
    engine.run(_request(precision="bf16"))
    _info, base = engine.loaded_pipeline()
    assert borrow(engine, str(DEMO_MODEL_DIR), precision="fp32") is None
    why = "the loaded model is bf16 on cpu, training wants fp32 on cpu"
    assert borrowable(base, "float32", "cpu") == why
    # Under auto the demo model trains in fp32 (settings.cpu_precision), whatever the
    # generation engine chose for it.
    assert borrow(engine, str(DEMO_MODEL_DIR)) is None
    assert borrow(engine, str(DEMO_MODEL_DIR), precision="bf16") is not None
