"""Held-out figures of the demo model's reference adapter (engine.demo.train_reference).

Each held-out reference (its own seed stream: pictures the training sampler never drew)
is one shape of some kind and colour on a flat background, anywhere in the picture. The
demo model generates with an EMPTY prompt, once with the adapter holding the reference
and once without it (the baseline: what an empty prompt gives anyway), with Euler a, 20
steps, CFG 7, and the same seeds. A picture counts when the pixel readers of
engine.demo.evaluate find the reference's colour, kind and background.

    python -m engine.demo.evaluate_reference --models resources/models --out ref.json

The adapter runs as the engine runs it: engine.reference.adapters pairs it with its
encoder, engine.reference.ip_adapter loads it through diffusers and encodes the pictures.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.demo.evaluate import grid, load_pipeline, read_picture, with_scheduler
from engine.demo.train_reference import (
    DEMO_MODEL,
    HELDOUT_SEED,
    NAME,
    ReferenceScene,
    heldout_references,
)

log = logging.getLogger(__name__)
BUNDLED = DEMO_MODEL.parent


def judge(image: np.ndarray, scene: ReferenceScene) -> dict[str, bool]:
    reading = read_picture(image)
    out = {
        "colour": reading.colour == scene.colour,
        "kind": reading.kind == scene.kind,
        "background": reading.background == scene.background,
    }
    out["all"] = all(out.values())
    return out


def _rates(cases: list[dict[str, bool]]) -> dict[str, float]:
    return {k: float(np.mean([c[k] for c in cases])) for k in cases[0]} if cases else {}


def find_adapter(models: Path) -> Any:
    """The adapter `models`/ipadapter/NAME.safetensors with its encoder, as the engine
    pairs them."""
    from engine.reference.adapters import Adapter, _encoder_for, adapter_shape

    path = models / "ipadapter" / f"{NAME}.safetensors"
    shape = adapter_shape(path)
    return Adapter(path, shape, _encoder_for(path, shape, [models]))


def generate(
    pipe: Any,
    pictures: list[np.ndarray] | None,
    count: int,
    adapter: Any = None,
    weight: float = 1.0,
    seed: int = 0,
    batch: int = 25,
    steps: int = 20,
    guidance: float = 7.0,
) -> np.ndarray:
    """`count` pictures from an empty prompt; with `adapter`, picture i steered by
    `pictures`[i] at `weight`."""
    import torch

    from engine.reference.ip_adapter import attach, detach, encode_pictures, load_adapter

    loaded = saved = None
    embeds = None
    if adapter is not None and pictures is not None:
        loaded = load_adapter(pipe, adapter)
        for name in loaded.ip_names():
            loaded.processors[name].scale = [weight]
        embeds = encode_pictures(adapter, pictures, pipe.unet)
        saved = attach(pipe.unet, loaded)
    out = []
    try:
        with torch.inference_mode():
            # diffusers repeats `ip_adapter_image_embeds` over the prompt batch: one set of
            # pictures for every prompt, so each reference runs as a batch of its own.
            step = 1 if embeds is not None else batch
            for start in range(0, count, step):
                n = min(step, count - start)
                extra: dict[str, Any] = {}
                if embeds is not None:
                    cond, uncond = embeds[start]
                    pair = [torch.stack([uncond[0], cond[0]])[:, None]]
                    extra["ip_adapter_image_embeds"] = pair if guidance > 1 else [pair[0][1:]]
                gens = [torch.Generator().manual_seed(seed + start + i) for i in range(n)]
                result = pipe(
                    prompt=[""] * n, generator=gens, num_inference_steps=steps,
                    guidance_scale=guidance, output_type="np", **extra,
                )  # fmt: skip
                out.append((np.clip(result.images, 0, 1) * 255).round().astype(np.uint8))
    finally:
        if saved is not None:
            detach(pipe.unet, saved)
    return np.concatenate(out)


def evaluate_reference(
    models: Path = BUNDLED,
    count: int = 100,
    model: Path = DEMO_MODEL,
    baseline: bool = True,
    weight: float = 1.0,
    heldout_seed: int = HELDOUT_SEED,
) -> dict[str, Any]:
    """Rates with the adapter (and without it, `baseline`), plus the pictures under
    "_images": references, with adapter, without."""
    pipe = with_scheduler(load_pipeline(model, "fp32", "cpu"), "Euler a")
    held = heldout_references(count, heldout_seed)
    scenes = [s for s, _ in held]
    pictures = [p for _, p in held]
    results: dict[str, Any] = {"count": count, "scheduler": "Euler a", "steps": 20}
    results["guidance"], results["weight"] = 7.0, weight
    with_adapter = generate(pipe, pictures, count, find_adapter(models), weight)
    results["adapter"] = _rates([judge(i, s) for i, s in zip(with_adapter, scenes, strict=True)])
    rows = [np.stack(pictures), with_adapter]
    if baseline:
        without = generate(pipe, None, count)
        results["no_adapter"] = _rates([judge(i, s) for i, s in zip(without, scenes, strict=True)])
        rows.append(without)
    results["_images"] = np.concatenate(rows)
    return results


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", type=Path, default=BUNDLED, help="holds ipadapter/, clip_vision/"
    )
    parser.add_argument("--model", type=Path, default=DEMO_MODEL)
    parser.add_argument("--count", type=int, default=100, help="held-out references")
    parser.add_argument("--weight", type=float, default=1.0)
    parser.add_argument(
        "--heldout-seed", type=int, default=HELDOUT_SEED,
        help="another seed for quick probes while training, so the figures stay unseen",
    )  # fmt: skip
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without it")
    parser.add_argument("--out", type=Path, help="metrics JSON to write (and a .png grid)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch

    torch.set_num_threads(1)
    results = evaluate_reference(
        args.models, args.count, args.model, not args.no_baseline, args.weight, args.heldout_seed
    )
    images = results.pop("_images")
    if args.out:
        Image.fromarray(grid(images, columns=min(args.count, 10))).save(
            args.out.with_suffix(".png")
        )
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
