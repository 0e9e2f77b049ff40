"""How close the demo's tiny VAE (engine.demo.tiny_vae) comes to its full VAE.

- decode: PSNR of the tiny decoder against the full decoder, both decoding the full
  encoder's latents of the 100 held-out scenes (and each against the scene itself);
- round trip: the tiny encoder's latents decoded by the full decoder, against the full
  round trip (and the tiny encoder + tiny decoder against the scene);
- live: the demo's Live setting (img2img strength 0.35, 3 denoising steps, guidance 1,
  Euler a) on blob sketches of the held-out scenes, judged by engine.demo.evaluate, with
  the full VAE and with the tiny one, from the same seeds;
- timing (--time): one Live job through the local Engine, full and tiny VAE interleaved.

    python -m engine.demo.evaluate_tiny_vae --model resources/models/overpaint-demo
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.demo.dataset import HOLDOUT_SEED, caption, heldout_scenes, render
from engine.demo.evaluate import blob_sketch, judge
from engine.demo.tiny_vae import FOLDER, SIZE, load_teacher, to_uint8, to_unit
from engine.schedulers import make_scheduler
from engine.speed_presets import live_steps

LIVE = dict(strength=0.35, denoise_steps=3, guidance=1.0, scheduler="Euler a")
LIVE_PROMPT = "a large red circle on the left, blue background"


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-picture PSNR in dB of two NxHxWx3 uint8 stacks."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(axis=1)
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def _summary(values: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(values.mean()), 2), "min": round(float(values.min()), 2)}


def heldout_pictures(count: int = 100) -> np.ndarray:
    scenes = heldout_scenes()[:count]
    return np.stack(
        [
            render(s, SIZE, SIZE, np.random.default_rng([HOLDOUT_SEED, i]))
            for i, s in enumerate(scenes)
        ]
    )


def load_tiny(folder: Path):
    import torch  # torch and diffusers: only when evaluating
    from diffusers import AutoencoderTiny  # torch and diffusers: only when evaluating

    tiny = AutoencoderTiny.from_pretrained(str(folder), torch_dtype=torch.float32)
    return tiny.eval().requires_grad_(False)


def autoencoder_scores(teacher: Any, tiny: Any, pictures: np.ndarray) -> dict[str, Any]:
    """PSNRs of tiny decode and tiny encode against the full VAE on `pictures`."""
    import torch  # torch: only when evaluating

    scale = float(teacher.config.scaling_factor)
    x = to_unit(pictures)
    with torch.inference_mode():
        latents = teacher.encode(x).latent_dist.mean * scale
        full = to_uint8(teacher.decode(latents / scale).sample)
        tiny_decoded = to_uint8(tiny.decode(latents).sample)
        tiny_latents = tiny.encode(x).latents
        round_trip = to_uint8(teacher.decode(tiny_latents / scale).sample)
        tiny_round_trip = to_uint8(tiny.decode(tiny_latents).sample)
    error = (tiny_latents - latents).pow(2).mean().sqrt() / latents.pow(2).mean().sqrt()
    return {
        "pictures": len(pictures),
        "tiny_decode_vs_full_decode_psnr": _summary(psnr(tiny_decoded, full)),
        "full_decode_vs_picture_psnr": _summary(psnr(full, pictures)),
        "tiny_decode_vs_picture_psnr": _summary(psnr(tiny_decoded, pictures)),
        "tiny_encode_full_decode_vs_full_round_trip_psnr": _summary(psnr(round_trip, full)),
        "tiny_encode_full_decode_vs_picture_psnr": _summary(psnr(round_trip, pictures)),
        "tiny_round_trip_vs_picture_psnr": _summary(psnr(tiny_round_trip, pictures)),
        "tiny_latents_relative_rms_error": round(float(error), 4),
    }


def _live_images(pipe: Any, prompts: list[str], sketches: list[np.ndarray], batch: int = 25):
    import torch  # torch: only when evaluating
    from PIL import Image  # only when evaluating

    steps = live_steps(LIVE["denoise_steps"], LIVE["strength"])
    out = []
    for start in range(0, len(prompts), batch):
        part = slice(start, start + batch)
        gens = [torch.Generator().manual_seed(start + i) for i in range(len(prompts[part]))]
        pipe.scheduler = make_scheduler(LIVE["scheduler"], pipe.scheduler.config)
        result = pipe(
            prompt=prompts[part],
            image=[Image.fromarray(s) for s in sketches[part]],
            strength=LIVE["strength"],
            num_inference_steps=steps,
            guidance_scale=LIVE["guidance"],
            generator=gens,
            output_type="np",
        )
        out.append((np.clip(result.images, 0, 1) * 255).round().astype(np.uint8))
    return np.concatenate(out)


def _rates(images: np.ndarray, scenes: list) -> dict[str, float]:
    judged = [judge(im, s) for im, s in zip(images, scenes, strict=True)]
    return {k: round(float(np.mean([j[k] for j in judged])), 3) for k in judged[0]}


def live_scores(model: Path, tiny: Any, count: int = 100) -> dict[str, Any]:
    """The Live setting on held-out blob sketches, full VAE vs tiny VAE, same seeds."""
    import torch  # torch and diffusers: only when evaluating
    from diffusers import StableDiffusionImg2ImgPipeline  # only when evaluating

    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(
        str(model), torch_dtype=torch.float32, local_files_only=True
    )
    pipe.set_progress_bar_config(disable=True)
    small = StableDiffusionImg2ImgPipeline.from_pipe(pipe, vae=tiny, torch_dtype=torch.float32)
    small.set_progress_bar_config(disable=True)
    scenes = heldout_scenes()[:count]
    sketches = [blob_sketch(s, SIZE, i) for i, s in enumerate(scenes)]
    prompts = [caption(s) for s in scenes]
    with torch.inference_mode():
        full = _live_images(pipe, prompts, sketches)
        fast = _live_images(small, prompts, sketches)
    return {
        "setting": {**LIVE, "steps": live_steps(LIVE["denoise_steps"], LIVE["strength"])},
        "sketches": count,
        "sketch": _rates(np.stack(sketches), scenes),
        "full_vae": _rates(full, scenes),
        "tiny_vae": _rates(fast, scenes),
        "tiny_vs_full_psnr": _summary(psnr(fast, full)),
    }


def quality(model: Path, tiny_dir: Path | None = None, count: int = 100) -> dict[str, Any]:
    """All figures for the tiny VAE in `tiny_dir` (default: the model's vae_tiny)."""
    tiny = load_tiny(tiny_dir or model / FOLDER)
    teacher = load_teacher(model)
    return {
        "autoencoder": autoencoder_scores(teacher, tiny, heldout_pictures(count)),
        "live": live_scores(model, tiny, count),
    }


def live_timing(model: Path, rounds: int = 15, precision: str = "auto") -> dict[str, Any]:
    """Seconds of one Live job at 128 px (the request Live sends: img2img of the whole
    picture, strength 0.35, 3 denoising steps, guidance 1, Euler a) through the local
    Engine, with the full VAE and with the tiny one, interleaved; medians."""
    # the engine and the request: only for this measurement, a cycle-free lazy import
    from engine.local.engine import Engine
    from engine.request import GenerationInputs, GenerationRequest

    scene = heldout_scenes()[0]
    picture = np.dstack([blob_sketch(scene, SIZE, 0), np.full((SIZE, SIZE), 255, np.uint8)])
    fields = dict(
        mode="img2img", prompt=LIVE_PROMPT, seed=7, model=str(model), width=SIZE, height=SIZE,
        strength=LIVE["strength"], steps=live_steps(LIVE["denoise_steps"], LIVE["strength"]),
        guidance=LIVE["guidance"], scheduler=LIVE["scheduler"], precision=precision,
    )  # fmt: skip
    requests = {
        "full_vae": GenerationRequest(**fields, options=(("live", False),)),
        "tiny_vae": GenerationRequest(**fields, options=(("live", True),)),
    }
    engine = Engine()
    times: dict[str, list[float]] = {k: [] for k in requests}
    for request in requests.values():  # warm: model load, pipelines, prompt embeddings
        engine.run(request, GenerationInputs(image=picture))
    for _ in range(rounds):
        for name, request in requests.items():
            start = time.perf_counter()
            engine.run(request, GenerationInputs(image=picture))
            times[name].append(time.perf_counter() - start)
    vaes = sorted({type(p.vae).__name__ for p in engine.warm._live_pipes.values()})
    result = {k: round(statistics.median(v), 4) for k, v in times.items()}
    result.update(rounds=rounds, size=SIZE, precision=engine.precision, live_vae=vaes)
    return result


def main(argv: list[str] | None = None) -> int:
    import torch  # torch: only when evaluating

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("resources/models/overpaint-demo"))
    parser.add_argument("--tiny", type=Path, help="tiny VAE folder (default: the model's)")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--time", type=int, default=0, help="rounds of the Live job timing")
    parser.add_argument("--precision", default="auto", help="of the timed jobs")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.time:
        results = live_timing(args.model, args.time, args.precision)
        results["threads"] = torch.get_num_threads()
    else:
        results = quality(args.model, args.tiny, args.count)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
