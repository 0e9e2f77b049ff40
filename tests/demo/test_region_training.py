"""The demo model's regional fine-tuning (engine.demo.train_regions) trains through the
engine's own masked attention, on scenes whose shapes lie in their regions, never on a
held-out layout, and resumes bit-identically."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from engine.demo.dataset import KINDS, PALETTE
from engine.demo.evaluate_regions import heldout_cases
from engine.demo.region_scenes import (
    LAYOUT_OF,
    MAX_REGIONS,
    make_region_sample,
    render_region_scene,
    sample_region_scene,
)
from engine.demo.train_regions import BatchLayout, Config, RegionTrainer
from engine.models import resolve_model
from engine.regions.attention import RegionLayout, latent_masks
from engine.regions.stage import joined


def test_a_batch_reads_each_sample_as_the_engine_reads_its_regions() -> None:
    samples = [make_region_sample(3, i, 128) for i in range(4)]
    per_sample = [latent_masks(list(m), (128, 128), 8) for _, m, _ in samples]
    padded = [torch.cat([m, torch.zeros(1 + MAX_REGIONS - len(m), 16, 16, dtype=bool)])
              for m in per_sample]  # fmt: skip
    batch = BatchLayout(torch.stack(padded), 77)
    for queries in (256, 64, 16, 4):
        got = batch.bias(queries, torch.float32, torch.device("cpu"))
        for i, masks in enumerate(per_sample):
            engine = RegionLayout([77] * len(masks), masks).bias(
                queries, torch.float32, torch.device("cpu")
            )
            assert torch.equal(got[i, :, :, : engine.shape[-1]], engine[0])
            assert bool((got[i, :, :, engine.shape[-1] :] < -1000).all())  # padding: unread


def test_region_scenes_hold_each_shape_in_its_region_and_skip_held_out_layouts() -> None:
    held = {(LAYOUT_OF[c.layout], c.background, c.shapes) for c in heldout_cases(50)}
    rng = np.random.default_rng(0)
    for _ in range(200):
        scene = sample_region_scene(rng)
        layout = (scene.orientation, len(scene.shapes))
        assert (layout, scene.background, scene.shapes) not in held
        picture, masks = render_region_scene(scene, 128, rng)
        for (colour, _), mask in zip(scene.shapes, masks, strict=True):
            near = np.abs(picture.astype(int) - PALETTE[colour]).max(axis=2) < 20
            assert near.sum() > 30  # the shape is drawn...
            assert not (near & (mask == 0)).any()  # ...and only inside its region
    for index in range(20):
        _, masks, texts = make_region_sample(0, index, 128)
        root, regions = texts[0], texts[1 : 1 + len(masks)]
        assert texts[1 + len(masks) :] == [""] * (MAX_REGIONS - len(masks))
        for text in regions:  # the region's prompt with the root added, as the engine does
            prompt = text.split(",")[0] if root else text
            assert joined(prompt, root) == text and prompt.split()[-1] in KINDS


def _chunk(work: Path, steps: int, **kw) -> RegionTrainer:
    cfg = Config(batch=2, pools={"regions": 6, "plain": 4}, warmup=2, **kw)
    cfg.larger_pools, cfg.larger_from = {192: 2, 256: 2}, 1  # both kinds of plain step
    trainer = RegionTrainer(cfg, work, resolve_model("").path)
    trainer.train(trainer.pools(), math.inf, steps)
    return trainer


def test_two_chunks_equal_one_run(tmp_path: Path) -> None:
    one = _chunk(tmp_path / "one", 4)
    first = _chunk(tmp_path / "two", 2)
    second = _chunk(tmp_path / "two", 4)  # resumes from the checkpoint in the same folder
    assert first.progress.step == 2 and second.progress.step == 4
    for name in ("unet", "text"):
        for models in ((one.raw, second.raw), (one.ema, second.ema)):
            a, b = models[0][name].state_dict(), models[1][name].state_dict()
            assert all(torch.equal(a[k], b[k]) for k in a), name
    unet_file = resolve_model("").path / "unet" / "diffusion_pytorch_model.safetensors"
    shipped = load_file(str(unet_file))["conv_in.weight"].float()
    assert not torch.equal(shipped, one.raw["unet"].conv_in.weight)  # it did learn


def test_a_frozen_text_encoder_stays_the_shipped_one(tmp_path: Path) -> None:
    trainer = _chunk(tmp_path / "frozen", 2, train_text_encoder=False)
    folder = resolve_model("").path
    shipped = load_file(str(folder / "text_encoder" / "model.safetensors"))
    for model in (trainer.raw["text"], trainer.ema["text"]):
        state = model.state_dict()
        assert all(torch.equal(shipped[k].float(), state[k]) for k in shipped)
    unet = load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors"))
    assert not torch.equal(unet["conv_in.weight"].float(), trainer.ema["unet"].conv_in.weight)
    # Continued without saying so again, the run keeps its choice.
    assert _chunk(tmp_path / "frozen", 3).progress.step == 3
    # Its export leaves the folder's text encoder as it was, byte for byte, and says so.
    out = tmp_path / "model"
    shutil.copytree(folder, out)
    before = {f.name: f.read_bytes() for f in (out / "text_encoder").iterdir()}
    trainer.export(out, "test")
    assert {f.name: f.read_bytes() for f in (out / "text_encoder").iterdir()} == before
    unet = load_file(str(out / "unet" / "diffusion_pytorch_model.safetensors"))
    assert torch.equal(unet["conv_in.weight"], trainer.ema["unet"].conv_in.weight.half())
    readme = (out / "README.md").read_text()
    assert "the text encoder is the one above" in readme and "--freeze-text-encoder" in readme
