"""Teach the shipped demo model regional prompts: resumable fine-tuning on region scenes.

The demo model learnt one or two shapes per picture from whole-picture captions. Regional
prompts read each region's text only inside that region (engine.regions.attention), so
the model must draw "a red circle" in whatever region says so. This fine-tunes its UNet
and text encoder through that same masked cross-attention, on scenes of two or three
shapes with one region each (engine.demo.region_scenes), mixed with the original
training scenes read with plain attention so that its single-shape scores hold.

    python -m engine.demo.train_regions --work runs/regions --until 3600   # resumes
    python -m engine.demo.train_regions --work runs/regions --export resources/models/overpaint-demo

Every random draw of step N is seeded by (seed, N), so a run cut into chunks sees the
same batches as one long run. `--work` holds weights, EMA weights, optimizer state and
progress; `--export` writes the EMA weights into the model folder (UNet float16, text
encoder float32, as engine.demo.export does) and records the fine-tune in training.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.demo.dataset import make_batch
from engine.demo.region_scenes import MAX_REGIONS, make_region_sample
from engine.regions.attention import OUTSIDE_BIAS

log = logging.getLogger("engine.demo.train_regions")
SIZE = 128  # the demo's native size, where regions are measured
SCALE = 8  # pixels per latent cell


@dataclass
class Config:
    seed: int = 1
    batch: int = 32
    lr: float = 1.5e-4
    warmup: int = 100
    ema_decay: float = 0.99
    uncond_prob: float = 0.1
    region_share: float = 0.6  # of steps; the rest replays the original scenes
    pools: dict[str, int] = field(default_factory=lambda: {"regions": 6000, "plain": 3000})
    # Steps 0-2709 of the first run replayed 128 px scenes only, and at 2x native size the
    # model then drew a pattern of three shapes. From this step on the plain share also
    # draws the larger sizes the original training had (engine.demo.train's weights), with
    # proportionally fewer pictures per batch.
    larger_from: int = 2710
    larger_pools: dict[int, int] = field(default_factory=lambda: {192: 1000, 256: 1500})
    plain_weights: dict[int, float] = field(
        default_factory=lambda: {128: 0.6, 192: 0.15, 256: 0.25}
    )
    save_every_s: float = 300.0
    # The first run trained the text encoder too; with it and its UNet a star LoRA on the
    # fine-tune memorised its pictures (README, Regional prompts). Frozen, the words
    # keep the shipped model's embeddings and only the UNet learns to read them by region.
    train_text_encoder: bool = True


@dataclass
class RegionProgress:
    step: int = 0
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)
    # The run's choice, which a resumed run keeps (None: a checkpoint from before it was
    # recorded, which takes the command's).
    train_text_encoder: bool | None = None


class BatchLayout:
    """engine.regions.attention.RegionLayout for a batch whose samples each have their
    own masks: (B, S, h, w) bool, every segment `length` tokens."""

    def __init__(self, masks: Any, length: int) -> None:
        self.masks = masks
        self.length = length
        self.tokens = masks.shape[1] * length
        self._bias: dict[tuple, Any] = {}

    def bias(self, queries: int, dtype: Any, device: Any) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812 - torch's own convention

        key = (queries, dtype)
        if key not in self._bias:
            level = self.masks
            while level.shape[2] * level.shape[3] != queries:
                level = F.max_pool2d(level.float(), 2, ceil_mode=True) > 0.5
            allowed = level.flatten(2).transpose(1, 2)  # (B, Q, S)
            allowed = allowed.repeat_interleave(self.length, dim=2)
            zero, outside = torch.zeros((), dtype=dtype), torch.tensor(OUTSIDE_BIAS, dtype=dtype)
            self._bias[key] = torch.where(allowed, zero, outside)[:, None].to(device)
        return self._bias[key]


def _region_pool(seed: int, count: int) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    pictures, masks, texts = [], [], []
    for i in range(count):
        picture, m, t = make_region_sample(seed, i, SIZE)
        pictures.append(picture)
        padded = np.zeros((MAX_REGIONS, SIZE, SIZE), np.uint8)
        padded[: len(m)] = m
        masks.append(padded)
        texts.append(t)
    return np.stack(pictures), np.stack(masks), texts


class RegionTrainer:
    def __init__(self, cfg: Config, work: Path, model: Path) -> None:
        import copy

        import torch
        from diffusers import StableDiffusionPipeline

        from engine.regions.attention import RegionAttnProcessor, cross_attention_modules

        self.cfg, self.work = cfg, work
        torch.manual_seed(cfg.seed)
        pipe = StableDiffusionPipeline.from_pretrained(str(model), dtype=torch.float32)
        self.vae, self.tokenizer = pipe.vae.requires_grad_(False).eval(), pipe.tokenizer
        self.raw = {"unet": pipe.unet.float(), "text": pipe.text_encoder.float()}
        self.progress = RegionProgress()
        if (work / "weights.safetensors").is_file():
            from safetensors.torch import load_file

            from engine.demo.checkpoints import load_tensors

            tensors = load_file(str(work / "weights.safetensors"))
            load_tensors(self.raw, tensors)
            self.ema = {k: copy.deepcopy(m) for k, m in self.raw.items()}
            load_tensors({f"ema_{k}": m for k, m in self.ema.items()}, tensors)
            self.progress = RegionProgress(**json.loads((work / "progress.json").read_text()))
            log.info("resumed from %s at step %d", work, self.progress.step)
            if self.progress.train_text_encoder is None:
                self.progress.train_text_encoder = cfg.train_text_encoder
            elif cfg.train_text_encoder != self.progress.train_text_encoder:
                log.warning("%s: the text encoder stays as the run began (trained: %s)",
                            work, self.progress.train_text_encoder)  # fmt: skip
                cfg.train_text_encoder = self.progress.train_text_encoder
        else:
            self.ema = {k: copy.deepcopy(m) for k, m in self.raw.items()}
            self.progress.train_text_encoder = cfg.train_text_encoder
        for m in self.ema.values():
            m.requires_grad_(False).eval()
        if not cfg.train_text_encoder:
            self.raw["text"].requires_grad_(False).eval()
        params = self._trained_parameters()
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
        if (work / "optimizer.pt").is_file() and self.progress.step:
            self.opt.load_state_dict(torch.load(work / "optimizer.pt"))
        self.processor = RegionAttnProcessor(BatchLayout(torch.zeros(1, 1, 1, 1, dtype=bool), 1))
        for _, module in cross_attention_modules(self.raw["unet"]):
            module.set_processor(self.processor)
        alphas = pipe.scheduler.alphas_cumprod
        self.alphas = alphas.float()
        self.t0 = time.monotonic()
        self.start_seconds = self.progress.seconds

    def _trained_parameters(self) -> list[Any]:
        return [p for m in self.raw.values() for p in m.parameters() if p.requires_grad]

    def _ids(self, texts: list[str]) -> Any:
        return self.tokenizer(
            texts, padding="max_length", max_length=self.tokenizer.model_max_length,
            truncation=True, return_tensors="pt",
        ).input_ids  # fmt: skip

    def _encode(self, pictures: np.ndarray) -> Any:
        import torch

        out = []
        with torch.inference_mode():
            for s in range(0, len(pictures), 256):
                x = torch.from_numpy(pictures[s : s + 256]).permute(0, 3, 1, 2).float()
                z = self.vae.encode(x / 127.5 - 1).latent_dist.mean
                out.append((z * self.vae.config.scaling_factor).half())
        return torch.cat(out)

    def pools(self) -> dict[str, Any]:
        """Latents, masks on the latent grid and token ids of both pools."""
        import torch

        from engine.regions.attention import latent_masks

        cfg, t = self.cfg, time.monotonic()
        pictures, masks, texts = _region_pool(cfg.seed, cfg.pools["regions"])
        latent = torch.stack(
            [latent_masks(list(m), (SIZE, SIZE), SCALE) for m in masks]
        )  # (N, 1 + MAX_REGIONS, h, w): padded regions cover nothing
        regions = (self._encode(pictures), latent, self._ids([x for ts in texts for x in ts]))
        plain = {}
        for size, count in {SIZE: cfg.pools["plain"], **cfg.larger_pools}.items():
            # Distinct scenes per size: each pool starts where the previous one's indices end.
            start = 0 if size == SIZE else 100_000 * size
            plain_pictures, captions = make_batch(cfg.seed, start, count, size, size)
            plain[size] = (self._encode(plain_pictures), self._ids(captions))
        log.info("pools ready in %.0f s", time.monotonic() - t)
        return {"regions": regions, "plain": plain}

    def _seconds(self) -> float:
        return self.start_seconds + time.monotonic() - self.t0

    def train(self, pools: dict[str, Any], until_s: float, steps: int) -> None:
        import torch

        cfg = self.cfg
        unet, text = self.raw["unet"], self.raw["text"]
        unet.train()
        text.train(cfg.train_text_encoder)
        params = self._trained_parameters()
        trained = [k for k in self.raw if k == "unet" or cfg.train_text_encoder]
        ema_params = [p for k in trained for p in self.ema[k].parameters()]
        empty = self._ids([""])
        segments = 1 + MAX_REGIONS
        started, last_save = time.monotonic(), time.monotonic()
        while self.progress.step < steps and time.monotonic() - started < until_s:
            step = self.progress.step
            g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            n = cfg.batch
            regional = bool(torch.rand(1, generator=g) < cfg.region_share)
            if regional:
                latents, masks, ids = pools["regions"]
                idx = torch.randint(0, len(latents), (n,), generator=g)
                ids = ids.view(len(latents), segments, -1)[idx]
                self.processor.layout = BatchLayout(masks[idx], ids.shape[-1])
            else:
                size = SIZE
                if step >= cfg.larger_from:
                    sizes = sorted(cfg.plain_weights)
                    probs = torch.tensor([cfg.plain_weights[s] for s in sizes])
                    size = sizes[int(torch.multinomial(probs, 1, generator=g))]
                    n = max(1, int(n * (SIZE / size) ** 2))
                latents, ids = pools["plain"][size]
                idx = torch.randint(0, len(latents), (n,), generator=g)
                ids = ids[idx][:, None]
            drop = torch.rand(n, generator=g) < cfg.uncond_prob
            ids = torch.where(drop[:, None, None], empty, ids)
            x0 = latents[idx].float()
            noise = torch.randn(x0.shape, generator=g)
            t = torch.randint(0, len(self.alphas), (n,), generator=g)
            a = self.alphas[t].view(-1, 1, 1, 1)
            noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
            target = a.sqrt() * noise - (1 - a).sqrt() * x0  # v-prediction, as trained
            for group in self.opt.param_groups:
                group["lr"] = cfg.lr * min(1.0, (step + 1) / cfg.warmup)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                cond = text(ids.flatten(0, 1))[0].view(n, -1, text.config.hidden_size)
                pred = unet(noisy, t, cond).sample
            loss = torch.nn.functional.mse_loss(pred.float(), target)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            self.opt.step()
            with torch.no_grad():
                decay = min(cfg.ema_decay, (1 + step) / (10 + step))
                torch._foreach_lerp_(ema_params, params, 1 - decay)
            self.progress.step = step + 1
            if step % 50 == 0:
                rate = (self.progress.step) / max(self._seconds(), 1e-9)
                log.info("step %d %s loss %.4f (%.2f steps/s over the run, %.0f s)", step,
                         "regions" if regional else f"plain {x0.shape[-1] * SCALE}", loss.item(), rate,
                         self._seconds())  # fmt: skip
            if time.monotonic() - last_save > cfg.save_every_s:
                self.save()
                last_save = time.monotonic()
        self.save()

    def save(self) -> None:
        import torch
        from safetensors.torch import save_file

        from engine.demo.checkpoints import state_tensors

        self.work.mkdir(parents=True, exist_ok=True)
        self.progress.seconds = self._seconds()
        tensors = state_tensors(self.raw)
        tensors.update(state_tensors({f"ema_{k}": m for k, m in self.ema.items()}))
        save_file(tensors, str(self.work / "weights.safetensors.tmp"))
        os.replace(self.work / "weights.safetensors.tmp", self.work / "weights.safetensors")
        torch.save(self.opt.state_dict(), self.work / "optimizer.pt.tmp")
        os.replace(self.work / "optimizer.pt.tmp", self.work / "optimizer.pt")
        (self.work / "progress.json").write_text(json.dumps(asdict(self.progress), indent=1))
        log.info("saved at step %d", self.progress.step)

    def export(self, folder: Path, note: str, evaluations: dict[str, Path] | None = None) -> None:
        """The EMA UNet (float16) and, if trained, text encoder (float32) into the model
        folder, the run and its `evaluations` (JSON files by record key: "quality" from
        engine.demo.evaluate, "regions" from engine.demo.evaluate_regions) into
        training.json and the README."""
        import torch

        from engine.demo.export import readme

        # The EMA copies were made before the masked processor was attached: stock
        # attention, nothing of the training's wiring is saved.
        unet = self.ema["unet"]
        unet.to(torch.float16).save_pretrained(str(folder / "unet"), safe_serialization=True)
        config = json.loads((folder / "unet" / "config.json").read_text())
        config.pop("_name_or_path", None)  # where this machine loaded it from: not the model's
        (folder / "unet" / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        if self.cfg.train_text_encoder:  # frozen, the folder's own stays byte for byte
            self.ema["text"].save_pretrained(str(folder / "text_encoder"), safe_serialization=True)
        record_path = folder / "training.json"
        record = json.loads(record_path.read_text())
        record["regions_fine_tune"] = {
            **record.get("regions_fine_tune", {}),
            **asdict(self.progress),
            "note": note,
            **{k: json.loads(f.read_text()) for k, f in (evaluations or {}).items()},
        }
        record_path.write_text(json.dumps(record, indent=1) + "\n")
        (folder / "README.md").write_text(readme(record), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import torch

    from engine.models import resolve_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="checkpoint folder (resumed)")
    parser.add_argument("--model", type=Path, help="the demo model folder (default: bundled)")
    parser.add_argument("--until", type=float, default=3600.0, help="stop after S s of steps")
    parser.add_argument("--steps", type=int, default=1_000_000, help="stop at this step")
    parser.add_argument("--export", type=Path, help="write the EMA weights into this folder")
    parser.add_argument("--note", default="", help="what the export records about the run")
    parser.add_argument("--quality", type=Path, help="engine.demo.evaluate's JSON to record")
    parser.add_argument("--regions", type=Path, help="engine.demo.evaluate_regions' JSON")
    parser.add_argument("--smoke", action="store_true", help="tiny pools, for a quick check")
    parser.add_argument(
        "--freeze-text-encoder", action="store_true", help="a new run trains the UNet only"
    )
    parser.add_argument(
        "--region-share", type=float, default=Config.region_share, help="of this chunk's steps"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = Config(train_text_encoder=not args.freeze_text_encoder, region_share=args.region_share)
    if args.smoke:
        cfg.pools, cfg.batch = {"regions": 64, "plain": 32}, 8
        cfg.larger_pools, cfg.larger_from = {192: 8, 256: 8}, 0
    trainer = RegionTrainer(cfg, args.work, args.model or resolve_model("").path)
    if args.until > 0 and trainer.progress.step < args.steps:
        trainer.progress.log.append(
            f"chunk from step {trainer.progress.step} on {torch.get_num_threads()} CPU threads"
            f", region share {cfg.region_share:g}"
        )
        trainer.train(trainer.pools(), args.until, args.steps)
    if args.export:
        evaluations = {"quality": args.quality, "regions": args.regions}
        trainer.export(args.export, args.note, {k: f for k, f in evaluations.items() if f})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
