"""Training in bf16 on a CPU: fp32 LoRA weights for the optimizer, the frozen model in
bf16, forward and backward under autocast; the file stays fp16 and applies to bf16 and
fp32 generation models alike. bf16 is asked for explicitly, so these run on any CPU
(emulated and slower where it has no bf16 arithmetic); tests/bench P15 measures the
full run under auto."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.local.engine import Engine
from engine.lora.file import read_metadata
from engine.models import DEMO_MODEL_DIR
from engine.request import GenerationRequest
from engine.training.settings import TrainingSettings
from engine.training.trainer import _Run, train_lora
from tests.training.stars import write_star_folder

# A bf16 picture of the demo model against its fp32 one (tests/engine/test_precision.py).
MIN_PSNR_DB = 30.0


@pytest.fixture(scope="module")
def star_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_star_folder(tmp_path_factory.mktemp("pictures") / "stars")


def _settings(folder: Path, out: Path, precision: str, **kw) -> TrainingSettings:
    base = dict(model=str(DEMO_MODEL_DIR), batch_size=1, rank=4, steps=4, prior_images=0)
    return TrainingSettings(
        images=folder, concept="star", out=out, precision=precision, **{**base, **kw}
    )


@pytest.mark.parametrize(("precision", "frozen", "mixed"), [
    ("bf16", torch.bfloat16, "bf16"),
    ("fp32", torch.float32, "no"),
])  # fmt: skip
def test_the_frozen_model_computes_in_the_precision_and_the_lora_stays_fp32(
    star_folder: Path, tmp_path: Path, precision: str, frozen: torch.dtype, mixed: str
) -> None:
    run = _Run(_settings(star_folder, tmp_path / "star.safetensors", precision), None)
    try:
        assert run.pipe.unet.dtype == frozen and run.precision == mixed
        trainable = run.lora_params + run.word.params
        assert trainable and all(p.dtype == torch.float32 for p in trainable)
        losses = [run.train_step(step) for step in range(2)]
        assert all(np.isfinite(losses))
        # The optimizer's state and the weights it updates stay fp32 after a step.
        assert all(p.dtype == torch.float32 for p in trainable)
        state = run.optimizer.state[run.lora_params[0]]
        assert state["exp_avg"].dtype == torch.float32
        assert all(v.dtype == torch.float32 for v in run.trainable_state().values())
    finally:
        run.word.remove()


def _generate(engine: Engine, lora: Path | None, precision: str) -> np.ndarray:
    request = GenerationRequest(
        mode="txt2img",
        prompt="a red star on the left, blue background",
        seed=3,
        steps=12,
        width=128,
        height=128,
        model=str(DEMO_MODEL_DIR),
        loras=((lora.stem, 1.0),) if lora else (),
        watermark=False,
        precision=precision,
    )
    return engine.run(request)[0].rgba[..., :3].astype(np.float64)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / max(np.mean((a - b) ** 2), 1e-12)))


def test_a_lora_trained_in_bf16_is_an_fp16_file_that_applies_in_bf16_and_fp32(
    star_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "loras" / "star.safetensors"
    # Long enough for the LoRA to change the picture: a higher rate than the default.
    # 20 steps change it more than 40 did (mean |change| 91 against 34 in fp32, bf16 to
    # fp32 correlation 0.99995 against 0.999, PSNR 49.5 against 39.1 dB) in half the time.
    result = train_lora(_settings(star_folder, out, "bf16", steps=20, learning_rate=1e-2))
    assert read_metadata(out)["ss_mixed_precision"] == result.metadata["ss_mixed_precision"]
    assert result.metadata["ss_mixed_precision"] == "bf16"
    tensors = load_file(str(out))
    # The file as a GPU run writes it: fp16 throughout, the new word's embedding inside.
    assert {t.dtype for t in tensors.values()} == {torch.float16}
    assert "bundle_emb.star.string_to_param.*" in tensors
    fp32_out = tmp_path / "fp32" / "star.safetensors"
    train_lora(_settings(star_folder, fp32_out, "fp32", steps=1))
    assert load_file(str(fp32_out)).keys() == tensors.keys()
    assert read_metadata(fp32_out)["ss_mixed_precision"] == "no"

    engine = Engine((out.parent,))
    pictures = {}
    for precision in ("bf16", "fp32"):
        plain = _generate(engine, None, precision)
        with_lora = _generate(engine, out, precision)
        assert engine.precision == precision
        pictures[precision] = plain, with_lora
    (plain16, lora16), (plain32, lora32) = pictures["bf16"], pictures["fp32"]
    # The LoRA changes the picture in both precisions, the same way.
    change16, change32 = lora16 - plain16, lora32 - plain32
    assert np.abs(change32).mean() > 5 and np.abs(change16).mean() > 5
    assert np.corrcoef(change16.ravel(), change32.ravel())[0, 1] > 0.9
    assert _psnr(lora16, lora32) >= MIN_PSNR_DB
