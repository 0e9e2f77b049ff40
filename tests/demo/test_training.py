"""Training is seeded and resumable: two chunks give bit-identically the weights of one run."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from engine.demo.train import SMOKE, Config, Trainer, load_shards, save_shards

TINY = Config(**SMOKE)
TINY = replace(
    TINY, vae_steps=2, vae_batch=2, batch=4, pools={128: 8, 256: 4}, weights={128: 0.5, 256: 0.5}
)


def _chunk(work: Path, unet_steps: int) -> Trainer:
    trainer = Trainer(replace(TINY, unet_steps=unet_steps), work, None, "cpu")
    trainer.train_chunk(math.inf)
    trainer.save()
    return trainer


def test_two_chunks_equal_one_run_and_shards_round_trip(tmp_path: Path) -> None:
    import torch

    one = _chunk(tmp_path / "one", 4)
    first = _chunk(tmp_path / "two", 2)
    assert first.progress.unet_step == 2 and first.progress.vae_done
    second = _chunk(tmp_path / "two", 4)  # resumes from the checkpoint in the same folder
    assert second.progress.unet_step == 4 and second.progress.vae_step == 2
    assert second.progress.scaling_factor == one.progress.scaling_factor != 1.0
    for name in ("vae", "unet", "text"):
        a, b = one.raw[name].state_dict(), second.raw[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    for name in ("unet", "text"):
        a, b = one.ema[name].state_dict(), second.ema[name].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    # The UNet did learn something: the weights moved away from a fresh start.
    assert not torch.equal(first.raw["unet"].conv_in.weight, second.raw["unet"].conv_in.weight)

    save_shards(tmp_path / "shards", {"vae": one.raw["vae"], **one.ema}, one.progress, 4_000_000)
    assert len(list((tmp_path / "shards").glob("ema-*.safetensors"))) > 2
    tensors = load_shards(tmp_path / "shards")
    ema_unet = one.ema["unet"].state_dict()
    assert all(torch.equal(tensors[f"unet.{k}"], v) for k, v in ema_unet.items())
