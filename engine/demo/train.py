"""Seeded, resumable training of the demo model from scratch.

Phase 1 trains the VAE on pictures from the procedural dataset; phase 2 freezes it, encodes
fixed pools of pictures (at several resolutions, so that 2x native size does not repeat
shapes) to latents once, and trains the UNet and the text encoder together on them with
v-prediction on a zero-terminal-SNR schedule. Every random draw of step N is seeded by
(seed, N), so a run cut into chunks sees the same batches as one long run.

    python -m engine.demo.train --work runs/demo                 # CPU or GPU, resumes
    python -m engine.demo.train --work runs/demo --export resources/models/overpaint-demo

`--work` holds a full checkpoint (weights, EMA weights, optimizer, progress and quality
curve); `--init` starts from EMA weight shards written by `--shards` (no optimizer state),
which is how a run continues on another machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.demo import architecture as arch
from engine.demo.checkpoints import (
    Progress,
    load_shards,
    load_tensors,
    save_checkpoint,
    save_shards,
)
from engine.demo.dataset import all_words, make_batch
from engine.demo.evaluate import evaluate, grid
from engine.demo.export import export_model
from engine.demo.tokenizer import write_tokenizer

log = logging.getLogger("engine.demo.train")
PARTS = ("vae", "unet", "text")


@dataclass
class Config:
    seed: int = 0
    vae_steps: int = 3000
    vae_batch: int = 64
    vae_lr: float = 4e-4
    vae_max_seconds: float = 120.0
    unet_steps: int = 1_000_000  # usually the time limit ends the chunk first
    batch: int = 256  # at native size; larger pictures get proportionally fewer
    lr: float = 4e-4
    warmup: int = 300
    uncond_prob: float = 0.1
    ema_decay: float = 0.999
    # pictures per resolution in the fixed latent pools, and how often each is drawn
    pools: dict[int, int] = field(default_factory=lambda: {128: 120_000, 192: 24_000, 256: 30_000})
    weights: dict[int, float] = field(default_factory=lambda: {128: 0.6, 192: 0.15, 256: 0.25})
    eval_every_s: float = 60.0
    eval_full_at_end: bool = True
    eval_count: int = 100


SMOKE = dict(
    vae_steps=4,
    vae_batch=4,
    batch=8,
    pools={128: 48, 192: 8, 256: 8},
    warmup=2,
    eval_count=4,
    eval_every_s=30.0,
)


# ----------------------------------------------------------------------------------
# data


def _pool_images(seed: int, size: int, count: int, workers: int) -> tuple[np.ndarray, list[str]]:
    chunk = 2000
    starts = list(range(0, count, chunk))
    counts = [min(chunk, count - s) for s in starts]
    n = len(starts)
    if workers > 1 and count > chunk:
        # spawn, not fork: the parent has CUDA and torch threads running already
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
            parts = list(ex.map(make_batch, [seed] * n, starts, counts, [size] * n, [size] * n))
    else:
        parts = [make_batch(seed, s, c, size, size) for s, c in zip(starts, counts, strict=True)]
    images = np.concatenate([p[0] for p in parts])
    captions = [c for p in parts for c in p[1]]
    return images, captions


def _to_tensor(images: np.ndarray, device: str):
    import torch

    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).contiguous()


def _unit(batch_uint8):
    return batch_uint8.float() / 127.5 - 1.0


# ----------------------------------------------------------------------------------
# training


class Trainer:
    def __init__(self, cfg: Config, work: Path, init: Path | None, device: str) -> None:
        import torch
        from transformers import CLIPTokenizer

        self.cfg, self.work, self.device = cfg, work, device
        self.t0 = time.monotonic()
        torch.manual_seed(cfg.seed)
        self.tokenizer_dir = write_tokenizer(work / "tokenizer", all_words())
        self.tokenizer = CLIPTokenizer.from_pretrained(str(self.tokenizer_dir))
        self.raw = {
            "vae": arch.build_vae(),
            "unet": arch.build_unet(),
            "text": arch.build_text_encoder(self.tokenizer),
        }
        self.progress = Progress()
        fresh_optimizer = True
        if (work / "weights.safetensors").is_file():
            from safetensors.torch import load_file

            tensors = load_file(str(work / "weights.safetensors"))
            load_tensors(self.raw, tensors)
            self.ema = {k: copy.deepcopy(self.raw[k]) for k in ("unet", "text")}
            load_tensors({f"ema_{k}": m for k, m in self.ema.items()}, tensors)
            self.progress = Progress(**json.loads((work / "progress.json").read_text()))
            fresh_optimizer = False
            log.info("resumed from %s at %s", work, self.progress)
        else:
            if init is not None:
                load_tensors(self.raw, load_shards(init))
                self.progress = Progress(**json.loads((init / "progress.json").read_text()))
                log.info("initialised from shards %s at %s", init, self.progress)
            self.ema = {k: copy.deepcopy(self.raw[k]) for k in ("unet", "text")}
        for m in list(self.raw.values()) + list(self.ema.values()):
            m.to(device)
        for m in self.ema.values():
            m.requires_grad_(False).eval()
        self.raw["vae"].register_to_config(scaling_factor=self.progress.scaling_factor)
        self.opts = {
            "vae": torch.optim.AdamW(self.raw["vae"].parameters(), lr=cfg.vae_lr, weight_decay=0.0),
            "unet": torch.optim.AdamW(
                list(self.raw["unet"].parameters()) + list(self.raw["text"].parameters()),
                lr=cfg.lr,
                weight_decay=0.01,
            ),
        }
        self.warm_from = {"vae": self.progress.vae_step, "unet": self.progress.unet_step}
        if not fresh_optimizer:
            states = torch.load(work / "optimizer.pt", map_location=device)
            for k, o in self.opts.items():
                o.load_state_dict(states[k])
            self.warm_from = {"vae": 0, "unet": 0}
        self.autocast = torch.autocast(
            device_type="cuda" if device.startswith("cuda") else "cpu",
            dtype=torch.bfloat16,
            enabled=device.startswith("cuda"),
        )
        self.chunk_start_seconds = self.progress.seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _lr_scale(self, part: str, step: int) -> float:
        return min(1.0, (step - self.warm_from[part] + 1) / self.cfg.warmup)

    def _generator(self, phase: int, step: int):
        import torch

        return torch.Generator(device=self.device).manual_seed(
            self.cfg.seed * 1_000_003 + phase * 100_000_007 + step
        )

    def _images(self, size: int, count: int, workers: int) -> tuple[Any, list[str]]:
        images, captions = _pool_images(self.cfg.seed, size, count, workers)
        return _to_tensor(images, self.device), captions

    # -- phase 1 ---------------------------------------------------------------------

    def train_vae(self, pool) -> None:
        import torch

        cfg, vae, opt = self.cfg, self.raw["vae"], self.opts["vae"]
        start = time.monotonic()
        vae.train()
        while self.progress.vae_step < cfg.vae_steps and not self.progress.vae_done:
            if time.monotonic() - start > cfg.vae_max_seconds:
                log.info("vae phase time limit at step %d", self.progress.vae_step)
                break
            step = self.progress.vae_step
            g = self._generator(1, step)
            idx = torch.randint(0, len(pool), (cfg.vae_batch,), generator=g, device=self.device)
            x = _unit(pool[idx])
            for group in opt.param_groups:
                group["lr"] = cfg.vae_lr * self._lr_scale("vae", step)
            with self.autocast:
                dist = vae.encode(x).latent_dist
                z = dist.mean + dist.std * torch.randn(
                    dist.mean.shape, generator=g, device=self.device
                )
                rec = vae.decode(z).sample
            rec = rec.float()
            loss = torch.nn.functional.mse_loss(rec, x) + 0.1 * (rec - x).abs().mean()
            loss = loss + 1e-6 * dist.kl().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            opt.step()
            self.progress.vae_step += 1
            if step % 250 == 0:
                log.info("vae step %d loss %.5f (%.0fs)", step, loss.item(), self.elapsed())
        self.progress.vae_done = True
        vae.eval()
        with torch.no_grad(), self.autocast:
            z = vae.encode(_unit(pool[:512])).latent_dist.mean.float()
        self.progress.scaling_factor = float(1.0 / z.std())
        vae.register_to_config(scaling_factor=self.progress.scaling_factor)
        log.info("vae scaling factor %.4f", self.progress.scaling_factor)

    # -- phase 2 ---------------------------------------------------------------------

    def encode_pools(self, pools: dict[int, tuple[Any, list[str]]]) -> dict[int, tuple[Any, Any]]:
        import torch

        vae = self.raw["vae"].requires_grad_(False)
        out = {}
        for size, (images, captions) in pools.items():
            latents = []
            with torch.no_grad(), self.autocast:
                for s in range(0, len(images), 512):
                    z = vae.encode(_unit(images[s : s + 512])).latent_dist.mean
                    latents.append((z.float() * self.progress.scaling_factor).to(torch.float16))
            ids = self.tokenizer(
                captions,
                padding="max_length",
                max_length=arch.MAX_TOKENS,
                truncation=True,
                return_tensors="pt",
            ).input_ids.to(self.device)
            out[size] = (torch.cat(latents), ids)
            log.info("pool %d: %d latents %s", size, len(images), tuple(out[size][0].shape[1:]))
        return out

    def train_unet(self, latent_pools, until_s: float, evaluate_fn) -> None:
        import torch

        cfg = self.cfg
        unet, text, opt = self.raw["unet"], self.raw["text"], self.opts["unet"]
        scheduler = arch.build_scheduler()
        alphas = scheduler.alphas_cumprod.to(self.device)
        empty = self.tokenizer(
            [""], padding="max_length", max_length=arch.MAX_TOKENS, return_tensors="pt"
        ).input_ids.to(self.device)
        sizes = sorted(latent_pools)
        probs = torch.tensor([cfg.weights[s] for s in sizes], device=self.device)
        params = list(unet.parameters()) + list(text.parameters())
        ema_params = list(self.ema["unet"].parameters()) + list(self.ema["text"].parameters())
        unet.train()
        text.train()
        last_eval = self.elapsed()
        started = self.progress.unet_step
        tick = time.monotonic()
        while self.progress.unet_step < cfg.unet_steps and self.elapsed() < until_s:
            step = self.progress.unet_step
            g = self._generator(2, step)
            size = sizes[int(torch.multinomial(probs, 1, generator=g))]
            latents_pool, ids_pool = latent_pools[size]
            n = max(1, int(cfg.batch * (arch.NATIVE_RESOLUTION / size) ** 2))
            idx = torch.randint(0, len(latents_pool), (n,), generator=g, device=self.device)
            x0 = latents_pool[idx].float()
            ids = ids_pool[idx]
            drop = torch.rand(n, generator=g, device=self.device) < cfg.uncond_prob
            ids = torch.where(drop[:, None], empty.expand(n, -1), ids)
            noise = torch.randn(x0.shape, generator=g, device=self.device)
            t = torch.randint(0, 1000, (n,), generator=g, device=self.device)
            a = alphas[t].view(-1, 1, 1, 1)
            noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
            target = a.sqrt() * noise - (1 - a).sqrt() * x0  # v-prediction
            for group in opt.param_groups:
                group["lr"] = cfg.lr * self._lr_scale("unet", step)
            with self.autocast:
                cond = text(ids)[0]
                pred = unet(noisy, t, cond).sample
            loss = torch.nn.functional.mse_loss(pred.float(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            done = step + 1
            decay = min(cfg.ema_decay, (1 + done) / (10 + done))
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, params, 1 - decay)
            self.progress.unet_step = done
            if step % 200 == 0:
                now = time.monotonic()
                rate = (done - started) / max(now - tick, 1e-9)
                log.info(
                    "unet step %d size %d loss %.4f (%.1f steps/s, %.0fs)",
                    step,
                    size,
                    loss.item(),
                    rate,
                    self.elapsed(),
                )
            if evaluate_fn and self.elapsed() - last_eval >= cfg.eval_every_s:
                evaluate_fn(full=False)
                unet.train()
                text.train()
                last_eval = self.elapsed()

    def train_chunk(self, until_s: float, workers: int = 1, evaluate_fn=None) -> None:
        """One chunk: data pools, the VAE phase if unfinished, UNet steps until `until_s`."""
        cfg = self.cfg
        pools = {s: self._images(s, n, workers) for s, n in cfg.pools.items()}
        log.info("pools ready (%.0fs)", self.elapsed())
        if not self.progress.vae_done and self.progress.vae_step < cfg.vae_steps:
            self.train_vae(pools[arch.NATIVE_RESOLUTION][0])
        latent_pools = self.encode_pools(pools)
        del pools
        self.train_unet(latent_pools, until_s, evaluate_fn)

    def save(self) -> None:
        self.progress.seconds = self._seconds()
        save_checkpoint(self.work, self.raw, self.ema, self.opts, self.progress)

    # -- evaluation ------------------------------------------------------------------

    def pipeline(self):
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline(
            vae=self.raw["vae"],
            text_encoder=self.ema["text"],
            tokenizer=self.tokenizer,
            unet=self.ema["unet"],
            scheduler=arch.build_scheduler(),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def evaluate(self, full: bool, out: Path | None = None) -> dict[str, Any]:
        import torch

        self.ema["unet"].eval()
        self.ema["text"].eval()
        with torch.inference_mode(), self.autocast:
            results = evaluate(
                self.pipeline(), arch.NATIVE_RESOLUTION, full=full, count=self.cfg.eval_count
            )
        images = results.pop("_native_images")
        point = {
            "unet_step": self.progress.unet_step,
            "seconds": round(self._seconds(), 1),
            **{k: round(v, 3) for k, v in results["native"].items()},
        }
        self.progress.curve.append(point)
        log.info("eval %s", json.dumps(results if full else point))
        if out is not None:
            from PIL import Image

            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(grid(images)).save(out / "samples.png")
            (out / "metrics.json").write_text(json.dumps(results, indent=2))
        return results

    def _seconds(self) -> float:
        return self.chunk_start_seconds + self.elapsed()


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="checkpoint folder (resumed)")
    parser.add_argument("--init", type=Path, help="start from EMA shards written by --shards")
    parser.add_argument("--shards", type=Path, help="write EMA float32 shards here at the end")
    parser.add_argument("--export", type=Path, help="write the diffusers model folder here")
    parser.add_argument("--until", type=float, default=3600.0, help="stop training after S s")
    parser.add_argument("--unet-steps", type=int, help="stop at this total UNet step")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for a quick CPU check")
    parser.add_argument("--batch", type=int, help="UNet batch at native size")
    parser.add_argument("--lr", type=float, help="UNet + text encoder learning rate")
    parser.add_argument("--no-eval", action="store_true")
    parser.add_argument("--eval-out", type=Path, help="final metrics.json + samples.png here")
    parser.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    cfg = Config(**SMOKE) if args.smoke else Config()
    if args.unet_steps is not None:
        cfg.unet_steps = args.unet_steps
    if args.batch is not None:
        cfg.batch = args.batch
    if args.lr is not None:
        cfg.lr = args.lr
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    trainer = Trainer(cfg, args.work, args.init, device)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    trainer.progress.device_log.append(
        f"{name}: chunk from UNet step {trainer.progress.unet_step}, batch {cfg.batch}, lr {cfg.lr}"
    )

    def evaluate_fn(full: bool) -> None:
        trainer.evaluate(full=full)
        # Keep the latest weights where a cut-off run still hands them back.
        if args.shards:
            trainer.progress.seconds = trainer._seconds()
            save_shards(args.shards, {"vae": trainer.raw["vae"], **trainer.ema}, trainer.progress)

    trainer.train_chunk(args.until, args.workers, None if args.no_eval else evaluate_fn)
    if not args.no_eval:
        trainer.evaluate(full=cfg.eval_full_at_end, out=args.eval_out)
    trainer.save()
    if args.shards:
        save_shards(args.shards, {"vae": trainer.raw["vae"], **trainer.ema}, trainer.progress)
    if args.export:
        export_model(trainer.pipeline(), args.export, trainer.progress)
    log.info("done at unet step %d, %.0fs", trainer.progress.unet_step, trainer.elapsed())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
