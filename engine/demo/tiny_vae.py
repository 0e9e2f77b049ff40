"""A tiny autoencoder of the demo model's own, distilled from its VAE, for Live painting.

The engine swaps a diffusers AutoencoderTiny in for the full VAE on the live path; SD's
TAESD does not fit the demo, whose latent space is its own. This one is distilled from the
demo VAE: the tiny encoder maps a picture to the demo's *scaled* latents
(encode(x).latent_dist.mean * scaling_factor), the tiny decoder maps those latents to what
the full decoder gives. AutoencoderTiny's scaling_factor is 1.0, so the pipelines' divide
before decode and multiply after encode leave the UNet's latents as they are.

Data: the dataset's training scenes and blob sketches of training scenes at 128 px (what
Live feeds the encoder), and the UNet's latents of Live-like refines of such pictures (what
the decoder gets on the live path), never the held-out combinations. The teacher's latents
and decodes of this fixed pool are computed once, in chunks; training then runs on random
crops of it (the tiny model has no normalisation, so a crop sees what the whole picture
would; the loss leaves out a one-latent margin where a crop cuts through the picture), the
decoder's loss weighted up near edges.

    python -m engine.demo.tiny_vae --steps 1800             # resumes from --work
    python -m engine.demo.tiny_vae --steps 1800 --export resources/models/overpaint-demo

Every draw of step N is seeded by N, so a run cut into chunks trains as one long run.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.demo import architecture as arch
from engine.demo.dataset import caption, holdout_keys, make_sample, render, sample_scene
from engine.demo.evaluate import blob_sketch
from engine.demo.export import readme
from engine.schedulers import make_scheduler
from engine.speed_presets import live_steps

log = logging.getLogger("engine.demo.tiny_vae")

FOLDER = "vae_tiny"  # inside the model folder; the engine's live path looks for it there
SIZE = arch.NATIVE_RESOLUTION
TINY_VAE_CONFIG: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=arch.LATENT_CHANNELS,
    encoder_block_out_channels=(32, 32, 32, 32),
    decoder_block_out_channels=(32, 32, 32, 32),
    # TAESD has (1, 3, 3, 3) / (3, 3, 3, 1) at 64 channels; flat shapes need far less, and
    # the full-resolution stages cost the most, so they get no block of their own. A
    # full-resolution decoder block did not keep corners any better (Live's shape type
    # judged 77% either way, vs the full VAE's 89%); Live latents in the pool and the
    # edge weight did (90%).
    num_encoder_blocks=(0, 2, 2, 2),
    num_decoder_blocks=(2, 2, 2, 0),
    act_fn="relu",
    upsample_fn="nearest",
    upsampling_scaling_factor=2,
    latent_magnitude=3,
    latent_shift=0.5,
    force_upcast=False,
    scaling_factor=1.0,
    shift_factor=0.0,
)
SEED = 7
POOL_SCENES = 576
POOL_SKETCHES = 192
POOL_LIVE = 320  # Live refines' latents (img2img, 3 steps, guidance 1, Euler a)
LIVE_STRENGTHS = (0.2, 0.6)
POOL_CHUNK = 64
CROP = 10  # latents per side of a training crop (80 px)
BATCH = 16
EDGE_WEIGHT = 4.0  # extra weight of the decoder's loss near edges
LR = 1e-3
LR_END = 5e-5
WARMUP = 50
CHECKPOINT_EVERY = 200


def default_work() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "overpaint" / "demo-tiny-vae"


def build_tiny_vae():
    from diffusers import AutoencoderTiny  # torch and diffusers: only when training

    return AutoencoderTiny(**TINY_VAE_CONFIG)


def load_teacher(model: Path):
    import torch  # torch: only when training or evaluating
    from diffusers import AutoencoderKL  # torch and diffusers: only when training

    vae = AutoencoderKL.from_pretrained(str(model / "vae"), torch_dtype=torch.float32)
    return vae.eval().requires_grad_(False)


def to_unit(images: np.ndarray):
    """NxHxWx3 uint8 -> Nx3xHxW float tensor in [-1, 1]."""
    import torch  # torch: only when training or evaluating

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_uint8(images) -> np.ndarray:
    """Nx3xHxW tensor in [-1, 1] -> NxHxWx3 uint8."""
    arr = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return arr.permute(0, 2, 3, 1).cpu().numpy()


# ----------------------------------------------------------------------------------
# data


def sketch_of_training_scene(index: int) -> np.ndarray:
    """A blob sketch (as evaluate.blob_sketch draws for img2img) of a training scene."""
    rng = np.random.default_rng([SEED, 1, index])
    return blob_sketch(sample_scene(rng, holdout_keys()), SIZE, SEED * 100_003 + index)


def pool_images(start: int, count: int) -> np.ndarray:
    """Pictures start..start+count of the pool: scenes first, then sketches."""
    images = []
    for i in range(start, start + count):
        if i < POOL_SCENES:
            images.append(make_sample(SEED, i, SIZE, SIZE)[0])
        else:
            images.append(sketch_of_training_scene(i - POOL_SCENES))
    return np.stack(images)


def teacher_pairs(teacher: Any, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scaled latents, full decode as uint8) of pictures, by the demo's VAE."""
    import torch  # torch: only when training or evaluating

    scale = float(teacher.config.scaling_factor)
    with torch.inference_mode():
        latents = teacher.encode(to_unit(images)).latent_dist.mean * scale
        decoded = teacher.decode(latents / scale).sample
    return latents.numpy().astype(np.float32), to_uint8(decoded)


def live_latents(pipe: Any, start: int, count: int) -> np.ndarray:
    """The UNet's latents of Live-like refines of training scenes and sketches (what the
    decoder gets on the live path, which are not always latents of a picture)."""
    import torch  # torch: only when training
    from PIL import Image  # only when training

    out = []
    for i in range(start, start + count):
        rng = np.random.default_rng([SEED, 3, i])
        scene = sample_scene(rng, holdout_keys())
        if i % 2:
            picture = blob_sketch(scene, SIZE, SEED * 200_003 + i)
        else:
            picture = render(scene, SIZE, SIZE, rng)
        strength = float(rng.uniform(*LIVE_STRENGTHS))
        pipe.scheduler = make_scheduler("Euler a", pipe.scheduler.config)
        result = pipe(
            prompt=caption(scene, rng),
            image=Image.fromarray(picture),
            strength=strength,
            num_inference_steps=live_steps(3, strength),
            guidance_scale=1.0,
            generator=torch.Generator().manual_seed(SEED * 300_007 + i),
            output_type="latent",
        )
        out.append(result.images[0].float().numpy())
    return np.stack(out)


def _chunk(folder: Path, name: str, costs: dict, make: Any) -> dict[str, np.ndarray]:
    """One saved chunk of the pool, made (and its seconds noted) when missing."""
    file = folder / f"{name}.npz"
    if not file.is_file():
        began = time.monotonic()
        arrays = make()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(file)
        costs[name] = time.monotonic() - began
        (folder / "seconds.json").write_text(json.dumps(costs))
        log.info("pool chunk %s made in %.0f s", name, costs[name])
    with np.load(file) as data:
        return {k: data[k] for k in data.files}


def build_pool(work: Path, model: Path) -> tuple[dict[str, np.ndarray], float]:
    """The teacher's pool and the compute seconds it took, built in chunks saved under
    `work`/pool (a cut run resumes; a copied pool keeps its cost in seconds.json):
    pictures with their latents and decodes, and Live latents with their decodes."""
    import torch  # torch: only when training
    from diffusers import StableDiffusionImg2ImgPipeline  # only when training

    folder = work / "pool"
    costs_file = folder / "seconds.json"
    costs = json.loads(costs_file.read_text()) if costs_file.is_file() else {}
    parts: dict[str, Any] = {"teacher": None, "pipe": None}

    def teacher():
        if parts["teacher"] is None:
            parts["teacher"] = load_teacher(model)
        return parts["teacher"]

    def pictures(start: int, count: int) -> dict[str, np.ndarray]:
        images = pool_images(start, count)
        latents, decoded = teacher_pairs(teacher(), images)
        return {"images": images, "latents": latents, "decoded": decoded}

    def live(start: int, count: int) -> dict[str, np.ndarray]:
        if parts["pipe"] is None:
            parts["pipe"] = StableDiffusionImg2ImgPipeline.from_pretrained(
                str(model), torch_dtype=torch.float32, local_files_only=True
            )
            parts["pipe"].set_progress_bar_config(disable=True)
        with torch.inference_mode():
            latents = live_latents(parts["pipe"], start, count)
            scale = float(teacher().config.scaling_factor)
            decoded = to_uint8(teacher().decode(torch.from_numpy(latents) / scale).sample)
        return {"latents": latents, "decoded": decoded}

    total = POOL_SCENES + POOL_SKETCHES
    chunks = [
        _chunk(folder, f"{s:05d}", costs, lambda s=s: pictures(s, min(POOL_CHUNK, total - s)))
        for s in range(0, total, POOL_CHUNK)
    ]
    lives = [
        _chunk(folder, f"live-{s:05d}", costs, lambda s=s: live(s, min(POOL_CHUNK, POOL_LIVE - s)))
        for s in range(0, POOL_LIVE, POOL_CHUNK)
    ]
    pool = {k: np.concatenate([c[k] for c in chunks]) for k in ("images", "latents", "decoded")}
    pool["live_latents"] = np.concatenate([c["latents"] for c in lives])
    pool["live_decoded"] = np.concatenate([c["decoded"] for c in lives])
    return pool, float(sum(costs.values()))


def _offsets(rng: np.random.Generator, batch: int, lat: int, crop: int):
    """Crop corners in latents, and the loss mask: where a crop cuts through the picture,
    its padding is not the picture's, so a one-latent margin there is left out."""
    offsets = rng.integers(0, lat - crop + 1, (batch, 2))
    mask = np.ones((batch, 1, crop, crop), np.float32)
    for b, (oy, ox) in enumerate(offsets):
        if oy > 0:
            mask[b, :, 0] = 0
        if oy + crop < lat:
            mask[b, :, -1] = 0
        if ox > 0:
            mask[b, :, :, 0] = 0
        if ox + crop < lat:
            mask[b, :, :, -1] = 0
    return offsets, mask


def crops(pool: dict[str, np.ndarray], step: int, batch: int = BATCH, crop: int = CROP):
    """Step `step`'s batch, seeded by the step: for the encoder, picture crops, their
    teacher latents and mask; for the decoder, latent crops (half of them Live latents),
    the teacher's decodes and mask; all as tensors."""
    import torch  # torch: only when training

    rng = np.random.default_rng([SEED, 2, step])
    lat = pool["latents"].shape[-1]
    enc_picks = rng.integers(0, len(pool["images"]), batch)
    enc_offsets, enc_mask = _offsets(rng, batch, lat, crop)
    images, targets = [], []
    for i, (oy, ox) in zip(enc_picks, enc_offsets, strict=True):
        images.append(pool["images"][i, oy * 8 : (oy + crop) * 8, ox * 8 : (ox + crop) * 8])
        targets.append(pool["latents"][i, :, oy : oy + crop, ox : ox + crop])
    dec_live = rng.random(batch) < 0.5
    dec_offsets, dec_mask = _offsets(rng, batch, lat, crop)
    latents, decoded = [], []
    for is_live, (oy, ox) in zip(dec_live, dec_offsets, strict=True):
        key = "live_" if is_live else ""
        i = rng.integers(len(pool[f"{key}latents"]))
        latents.append(pool[f"{key}latents"][i, :, oy : oy + crop, ox : ox + crop])
        decoded.append(pool[f"{key}decoded"][i, oy * 8 : (oy + crop) * 8, ox * 8 : (ox + crop) * 8])
    return (
        (
            to_unit(np.stack(images)),
            torch.from_numpy(np.stack(targets)),
            torch.from_numpy(enc_mask),
        ),
        (
            torch.from_numpy(np.stack(latents)),
            to_unit(np.stack(decoded)),
            torch.from_numpy(dec_mask),
        ),
    )


def masked_mean(error, mask):
    import torch.nn.functional as F  # torch: only when training

    if error.shape[-1] != mask.shape[-1]:
        mask = F.interpolate(mask, size=error.shape[-2:], mode="nearest")
    return (error * mask).sum() / (mask.sum() * error.shape[1])


def edge_weights(pictures):
    """1 on flat colour, 1 + EDGE_WEIGHT within two pixels of an edge of `pictures`
    (Nx3xHxW in [-1, 1]): an MSE-trained small decoder blurs edges, which rounds the
    corners and tips that tell a square or a triangle from a circle."""
    import torch.nn.functional as F  # torch: only when training

    gx = (pictures[..., :, 1:] - pictures[..., :, :-1]).abs().amax(1, keepdim=True)
    gy = (pictures[..., 1:, :] - pictures[..., :-1, :]).abs().amax(1, keepdim=True)
    edges = (F.pad(gx, (0, 1)) > 0.1) | (F.pad(gy, (0, 0, 0, 1)) > 0.1)
    return 1 + EDGE_WEIGHT * F.max_pool2d(edges.float(), 5, stride=1, padding=2)


def losses(tiny: Any, batch: tuple) -> dict[str, Any]:
    (images, targets, enc_mask), (latents, decoded, dec_mask) = batch
    error = tiny.decoder(latents) - decoded
    weights = edge_weights(decoded)
    return {
        "encoder": masked_mean((tiny.encoder(images) - targets) ** 2, enc_mask),
        "decoder": masked_mean(weights * error**2, dec_mask)
        + 0.1 * masked_mean(weights * error.abs(), dec_mask),
    }


# ----------------------------------------------------------------------------------
# training


def lr_at(step: int, total: int) -> float:
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    t = min(1.0, (step - WARMUP) / max(1, total - WARMUP))
    return LR_END + 0.5 * (LR - LR_END) * (1 + np.cos(np.pi * t))


def save_state(work: Path, tiny: Any, opt: Any, state: dict) -> None:
    import torch  # torch: only when training

    work.mkdir(parents=True, exist_ok=True)
    tmp = work / "state.pt.tmp"
    torch.save({"model": tiny.state_dict(), "optimizer": opt.state_dict(), **state}, tmp)
    tmp.replace(work / "state.pt")


def load_state(work: Path, tiny: Any, opt: Any | None = None) -> dict:
    """Progress saved under `work` (weights into `tiny`, moments into `opt`); {} if none."""
    import torch  # torch: only when training

    file = work / "state.pt"
    if not file.is_file():
        return {}
    saved = torch.load(file, map_location="cpu", weights_only=False)
    tiny.load_state_dict(saved.pop("model"))
    moments = saved.pop("optimizer")
    if opt is not None:
        opt.load_state_dict(moments)
    return saved


def train(work: Path, model: Path, steps: int, max_seconds: float = float("inf")) -> Any:
    """Train (or resume) up to `steps`; returns the tiny VAE. Checkpoints every few
    hundred steps and at the end of the chunk."""
    import torch  # torch: only when training

    torch.manual_seed(SEED)
    tiny = build_tiny_vae().train()
    opt = torch.optim.Adam(tiny.parameters(), lr=LR)
    state = load_state(work, tiny, opt) or {"step": 0, "seconds": 0.0, "curve": []}
    if state["step"] > 0:
        log.info("resumed at step %d (%.0f s so far)", state["step"], state["seconds"])
    pool, state["pool_seconds"] = build_pool(work, model)
    start, running, count = time.monotonic(), {"encoder": 0.0, "decoder": 0.0}, 0
    chunk_from = state["seconds"]
    while state["step"] < steps and time.monotonic() - start < max_seconds:
        step = state["step"]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps)
        parts = losses(tiny, crops(pool, step))
        opt.zero_grad(set_to_none=True)
        (parts["encoder"] + parts["decoder"]).backward()
        opt.step()
        for k, v in parts.items():
            running[k] += float(v.detach())
        count += 1
        state["step"] = step + 1
        state["seconds"] = chunk_from + time.monotonic() - start
        done = state["step"] % CHECKPOINT_EVERY == 0 or state["step"] == steps
        if state["step"] % 50 == 0 or done:
            point = {k: v / max(count, 1) for k, v in running.items()}
            point.update(step=state["step"], seconds=round(state["seconds"], 1))
            state["curve"].append(point)
            log.info("step %d: %s", state["step"], point)
            running, count = {"encoder": 0.0, "decoder": 0.0}, 0
        if done:
            save_state(work, tiny, opt, state)
    save_state(work, tiny, opt, state)
    return tiny.eval()


def export(tiny: Any, model: Path) -> Path:
    """Save `tiny` in float16 as `<model>/vae_tiny` (a diffusers AutoencoderTiny folder)."""
    import torch  # torch: only when exporting

    folder = model / FOLDER
    half = copy.deepcopy(tiny).to(torch.float16)
    half.save_pretrained(str(folder), safe_serialization=True)
    return folder


def record(model: Path, entry: dict) -> None:
    """Note how the tiny VAE was made and how good it is in the model's training.json
    and README (export.readme writes the README's section from the record)."""
    file = model / "training.json"
    data = json.loads(file.read_text())
    data["vae_tiny"] = entry
    file.write_text(json.dumps(data, indent=1) + "\n")
    (model / "README.md").write_text(readme(data), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import torch  # torch: only when training

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1800, help="total training steps")
    parser.add_argument("--work", type=Path, default=default_work(), help="checkpoint folder")
    parser.add_argument("--model", type=Path, default=Path("resources/models/overpaint-demo"))
    parser.add_argument("--max-seconds", type=float, default=float("inf"), help="chunk limit")
    parser.add_argument("--export", type=Path, help="model folder to write vae_tiny into")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    tiny = train(args.work, args.model, args.steps, args.max_seconds)
    if args.export is not None:
        from engine.demo.evaluate_tiny_vae import quality  # a cycle: it imports this module

        state = load_state(args.work, build_tiny_vae())
        folder = export(tiny, args.export)
        metrics = quality(args.model, folder)
        entry = {
            "config": {
                k: list(v) if isinstance(v, tuple) else v for k, v in TINY_VAE_CONFIG.items()
            },
            "parameters": arch.parameter_count(tiny),
            "steps": state.get("step"),
            "train_seconds": round(state.get("seconds", 0.0), 1),
            "pool_seconds": round(state.get("pool_seconds", 0.0), 1),
            "pool": {
                "scenes": POOL_SCENES,
                "sketches": POOL_SKETCHES,
                "live_latents": POOL_LIVE,
                "live_strengths": list(LIVE_STRENGTHS),
                "size": SIZE,
            },
            "edge_weight": EDGE_WEIGHT,
            "crop": CROP * 8,
            "batch": BATCH,
            "threads": args.threads,
            "metrics": metrics,
        }
        record(args.export, entry)
        print(json.dumps(entry, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
