"""Quality of the demo model on held-out captions, judged by pixel statistics.

For each of the 100 held-out scenes (combinations the training sampler never drew) the
model generates a picture from the scene's full caption, and the picture is read back:
- background: the palette colour most border pixels are closest to;
- shape: the largest connected blob of pixels far from the background colour; its colour
  is the palette colour nearest to its median, its position the anchor nearest to its
  centroid, its kind from its outline (a triangle narrows to the top, a square fills its
  bounding box, a circle fills about pi/4 of it).
Further checks: 2x native size must give one shape, not a repeated pattern; img2img from a
blobby sketch keeps the layout and cleans the shape; inpainting the right half with another
caption changes that half and keeps the other.

    python -m engine.demo.evaluate --model resources/models/overpaint-demo --out metrics.json

--precision bf16 runs the pipeline in bfloat16 with the engine's layout (channels_last
convolutions, engine.core.precision.fast_layout), as the local Engine does on a CPU that
computes bf16 in hardware; the default is float32. With --control DIR it judges the demo scribble ControlNet instead (engine.demo.evaluate_control).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.precision import DTYPES, fast_layout
from engine.demo.dataset import (
    ANCHORS,
    COLOURS,
    PALETTE,
    PHRASES,
    SIZES,
    Scene,
    Shape,
    caption,
    heldout_scenes,
    render,
)
from engine.schedulers import make_scheduler

log = logging.getLogger(__name__)
EVAL_PRECISIONS = ("fp32", "bf16")

_PALETTE_RGB = np.array([PALETTE[c] for c in COLOURS], dtype=np.float32)
FOREGROUND_DISTANCE = 60.0  # RGB distance from the background that counts as "shape"
MIN_BLOB_FRACTION = 0.004  # of the picture; smaller blobs are specks


def nearest_colour(rgb: np.ndarray) -> str:
    d = np.linalg.norm(_PALETTE_RGB - np.asarray(rgb, dtype=np.float32), axis=1)
    return COLOURS[int(np.argmin(d))]


def connected_components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected blobs of a boolean mask as arrays of (y, x), largest first."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    blobs = []
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        queue = deque([(int(y0), int(x0))])
        points = []
        while queue:
            y, x = queue.popleft()
            points.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        blobs.append(np.array(points))
    blobs.sort(key=len, reverse=True)
    return blobs


@dataclass(frozen=True)
class Reading:
    """What the pixels of one generated picture say."""

    background: str
    colour: str | None
    position: str | None
    kind: str | None
    blobs: int  # significant separate shapes (a repeated pattern gives several)


def classify_kind(points: np.ndarray) -> str:
    ys, xs = points[:, 0], points[:, 1]
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    height, width = bottom - top + 1, right - left + 1
    fill = len(points) / float(height * width)

    def row_width(frac: float) -> int:
        return int(np.count_nonzero(ys == int(round(top + frac * (height - 1)))))

    if row_width(0.25) < 0.6 * max(row_width(0.8), 1):
        return "triangle"
    return "square" if fill > 0.88 else "circle"


def shape_blobs(image: np.ndarray) -> tuple[str, list[np.ndarray]]:
    """The background colour's name and the significant blobs of (y, x), largest first."""
    img = image.astype(np.float32)
    h, w, _ = img.shape
    ring = np.concatenate([img[:3].reshape(-1, 3), img[-3:].reshape(-1, 3)])
    ring = np.concatenate([ring, img[:, :3].reshape(-1, 3), img[:, -3:].reshape(-1, 3)])
    labels = np.argmin(np.linalg.norm(ring[:, None] - _PALETTE_RGB[None], axis=2), axis=1)
    counts = np.bincount(labels, minlength=len(COLOURS))
    background = COLOURS[int(np.argmax(counts))]
    bg_rgb = np.median(ring[labels == np.argmax(counts)], axis=0)
    mask = np.linalg.norm(img - bg_rgb, axis=2) > FOREGROUND_DISTANCE
    blobs = [b for b in connected_components(mask) if len(b) >= MIN_BLOB_FRACTION * h * w]
    return background, blobs


def read_picture(image: np.ndarray) -> Reading:
    """Read background, main shape and shape count from an HxWx3 uint8 picture."""
    background, blobs = shape_blobs(image)
    img = image.astype(np.float32)
    h, w, _ = img.shape
    if not blobs:
        return Reading(background, None, None, None, 0)
    main = blobs[0]
    significant = sum(1 for b in blobs if len(b) >= 0.25 * len(main))
    colour = nearest_colour(np.median(img[main[:, 0], main[:, 1]], axis=0))
    cy, cx = main[:, 0].mean() / h, main[:, 1].mean() / w
    position = min(ANCHORS, key=lambda p: (ANCHORS[p][0] - cx) ** 2 + (ANCHORS[p][1] - cy) ** 2)
    return Reading(background, colour, position, classify_kind(main), significant)


def judge(image: np.ndarray, scene: Scene) -> dict[str, bool]:
    """Per-attribute correctness of a picture generated for a single-shape scene."""
    reading = read_picture(image)
    shape = scene.shapes[0]
    return {
        "background": reading.background == scene.background,
        "colour": reading.colour == shape.colour,
        "position": reading.position == shape.position,
        "kind": reading.kind == shape.kind,
        "single": reading.blobs == 1,
    }


def _rates(judgements: list[dict[str, bool]]) -> dict[str, float]:
    keys = judgements[0].keys() if judgements else ()
    return {k: float(np.mean([j[k] for j in judgements])) for k in keys}


def full_caption(scene: Scene) -> str:
    return caption(scene)


def _generators(pipe: Any, count: int, seed: int) -> list:
    import torch

    device = pipe.unet.device
    return [torch.Generator(device=device).manual_seed(seed + i) for i in range(count)]


def _batched(pipe: Any, prompts: list[str], batch: int, seed: int, **kwargs: Any) -> np.ndarray:
    """Run `pipe` over prompts in batches; image-like kwargs are lists sliced alongside."""
    outputs = []
    for start in range(0, len(prompts), batch):
        part = slice(start, start + batch)
        extra = {k: v[part] if isinstance(v, list) else v for k, v in kwargs.items()}
        n = len(prompts[part])
        result = pipe(
            prompt=prompts[part],
            generator=_generators(pipe, n, seed + start),
            output_type="np",
            **extra,
        )
        outputs.append((np.clip(result.images, 0, 1) * 255).round().astype(np.uint8))
    return np.concatenate(outputs)


def with_scheduler(pipe: Any, name: str) -> Any:
    """`pipe` with a fresh scheduler of the engine's sampler `name` built from its config."""

    pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
    return pipe


def txt2img_scores(
    pipe: Any,
    scenes: list[Scene],
    size: int,
    steps: int = 20,
    guidance: float = 7.0,
    seed: int = 0,
    batch: int = 100,
    cases: list[dict[str, bool]] | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    """Rates over `scenes`; each case's pass/fail per attribute goes into `cases` if given."""
    prompts = [full_caption(s) for s in scenes]
    images = _batched(
        pipe,
        prompts,
        batch,
        seed,
        height=size,
        width=size,
        num_inference_steps=steps,
        guidance_scale=guidance,
    )
    judged = [judge(im, s) for im, s in zip(images, scenes, strict=True)]
    if cases is not None:
        cases.extend(judged)
    return _rates(judged), images


def blob_sketch(scene: Scene, size: int, seed: int) -> np.ndarray:
    """A rough sketch: the background and an irregular coloured blob where the shape goes."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), PALETTE[scene.background])
    draw = ImageDraw.Draw(img)
    for shape in scene.shapes:
        ax, ay = ANCHORS[shape.position]
        r = SIZES[shape.size] * size / 2
        angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
        radii = r * rng.uniform(0.7, 1.2, 9)
        points = [
            (ax * size + rr * np.cos(a), ay * size + rr * np.sin(a))
            for a, rr in zip(angles, radii, strict=True)
        ]
        rgb = np.clip(np.array(PALETTE[shape.colour]) + rng.integers(-30, 31, 3), 0, 255)
        draw.polygon(points, fill=tuple(int(v) for v in rgb))
    return np.asarray(img)


def img2img_scores(
    pipe: Any,
    scenes: list[Scene],
    size: int,
    strength: float = 0.7,
    seed: int = 0,
    cases: list[dict[str, bool]] | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    from diffusers import StableDiffusionImg2ImgPipeline
    from PIL import Image

    i2i = StableDiffusionImg2ImgPipeline.from_pipe(pipe)
    i2i.set_progress_bar_config(disable=True)
    sketches = [blob_sketch(s, size, seed + i) for i, s in enumerate(scenes)]
    images = _batched(
        i2i,
        [full_caption(s) for s in scenes],
        50,
        seed,
        image=[Image.fromarray(s) for s in sketches],
        strength=strength,
        num_inference_steps=20,
        guidance_scale=7.0,
    )
    judged = [judge(im, s) for im, s in zip(images, scenes, strict=True)]
    if cases is not None:
        cases.extend(judged)
    # "Cleaner" = the kind is now recognisable as the captioned one, which the blob was not.
    sketch_kinds = [judge(sk, s)["kind"] for sk, s in zip(sketches, scenes, strict=True)]
    rates = _rates(judged)
    rates["sketch_kind"] = float(np.mean(sketch_kinds))
    return rates, images


def inpaint_scores(
    pipe: Any,
    scenes: list[Scene],
    size: int,
    seed: int = 0,
    cases: list[dict[str, bool]] | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    """Paint a left shape, mask the right half, ask for a different shape on the right."""
    from diffusers import StableDiffusionInpaintPipeline
    from PIL import Image

    inpaint = StableDiffusionInpaintPipeline.from_pipe(pipe)
    inpaint.set_progress_bar_config(disable=True)
    bases, masks, prompts, targets = [], [], [], []
    for i, scene in enumerate(scenes):
        rng = np.random.default_rng(seed + i)
        shape = scene.shapes[0]
        left = Scene(scene.background, (Shape(shape.kind, shape.colour, "left", "large"),))
        bases.append(render(left, size, size, rng))
        options = [c for c in COLOURS if c not in (scene.background, shape.colour)]
        colour = options[i % len(options)]
        target = Scene(scene.background, (Shape(shape.kind, colour, "right", "large"),))
        targets.append(target)
        prompts.append(f"a large {colour} {shape.kind} {PHRASES['right']}")
        mask = np.zeros((size, size), np.uint8)
        mask[:, size // 2 :] = 255
        masks.append(mask)
    images = _batched(
        inpaint,
        prompts,
        50,
        seed,
        image=[Image.fromarray(b) for b in bases],
        mask_image=[Image.fromarray(m) for m in masks],
        height=size,
        width=size,
        strength=1.0,
        num_inference_steps=20,
        guidance_scale=7.0,
    )
    follows, kept = [], []
    half = size // 2
    for image, base, target in zip(images, bases, targets, strict=True):
        right = read_picture(np.ascontiguousarray(image[:, half:]))
        follows.append(right.colour == target.shapes[0].colour)
        kept.append(float(np.abs(image[:, :half].astype(int) - base[:, :half]).mean()))
    if cases is not None:
        cases.extend({"right_follows_prompt": f} for f in follows)
    rates = {"right_follows_prompt": float(np.mean(follows))}
    rates["left_mean_abs_diff"] = float(np.mean(kept))
    return rates, images


def evaluate(
    pipe: Any,
    native: int,
    full: bool = True,
    scheduler: str = "Euler a",
    count: int = 100,
    cases: dict[str, list[dict[str, bool]]] | None = None,
) -> dict:
    """All figures for one pipeline (on whatever device and in whatever dtype it sits).

    With `cases` (a dict) each section's per-case pass/fail lands there under its name
    ("native", "double", …), in the order of the held-out scenes."""
    scenes = heldout_scenes()[:count]
    half = max(1, count // 2)
    with_scheduler(pipe, scheduler)
    sections = {"native": [], "double": [], "img2img": [], "inpaint": []}
    results: dict[str, Any] = {"scheduler": scheduler, "steps": 20, "guidance": 7.0}
    results["native"], images = txt2img_scores(pipe, scenes, native, cases=sections["native"])
    if full:
        results["double"], _ = txt2img_scores(
            pipe, scenes[:half], 2 * native, batch=50, cases=sections["double"]
        )
        results["img2img"], _ = img2img_scores(
            pipe, scenes[:half], native, cases=sections["img2img"]
        )
        results["inpaint"], _ = inpaint_scores(
            pipe, scenes[:half], native, cases=sections["inpaint"]
        )
    if cases is not None:
        cases.update({k: v for k, v in sections.items() if v})
    results["_native_images"] = images
    return results


def grid(images: np.ndarray, columns: int = 10) -> np.ndarray:
    n, h, w, c = images.shape
    rows = -(-n // columns)
    out = np.zeros((rows * h, columns * w, c), np.uint8)
    for i, im in enumerate(images):
        out[
            (i // columns) * h : (i // columns + 1) * h, (i % columns) * w : (i % columns + 1) * w
        ] = im
    return out


def to_precision(pipe: Any, precision: str = "fp32") -> Any:
    """`pipe` with every module in `precision` ("fp32" | "bf16"), laid out as the local
    Engine lays them out: UNet, VAE and ControlNet channels_last in bf16 on a CPU."""
    import torch  # demo tools only: torch takes seconds to import

    if precision not in EVAL_PRECISIONS:
        raise ValueError(f"precision {precision!r}: use one of {', '.join(EVAL_PRECISIONS)}")
    pipe.to(dtype=getattr(torch, DTYPES[precision]))
    for name in ("unet", "vae", "controlnet"):
        if getattr(pipe, name, None) is not None:
            fast_layout(getattr(pipe, name))
    return pipe


def load_pipeline(model: Path, precision: str = "fp32", device: str | None = None) -> Any:
    """The demo model as a plain diffusers pipeline in `precision`, on `device` (CUDA when
    there is one, else the CPU)."""
    import torch  # demo tools only: torch takes seconds to import
    from diffusers import StableDiffusionPipeline  # demo tools only: heavy

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipe = StableDiffusionPipeline.from_pretrained(
        str(model), torch_dtype=torch.float32, local_files_only=True
    ).to(device)
    pipe.set_progress_bar_config(disable=True)
    return to_precision(pipe, precision)


def main(argv: list[str] | None = None) -> int:
    import torch
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument("--native-only", action="store_true")
    parser.add_argument("--scheduler", default="Euler a")
    parser.add_argument("--precision", choices=EVAL_PRECISIONS, default="fp32")
    parser.add_argument(
        "--control", type=Path, help="judge this scribble ControlNet instead (evaluate_control)"
    )
    args = parser.parse_args(argv)
    if args.control is not None:
        from engine.demo import evaluate_control

        argv = ["--model", str(args.model), "--control", str(args.control), "--out", str(args.out)]
        return evaluate_control.main([*argv, "--precision", args.precision])
    pipe = load_pipeline(args.model, args.precision)
    native = json.loads((args.model / "overpaint.json").read_text())["native_resolution"]
    with torch.inference_mode():
        results = evaluate(pipe, native, full=not args.native_only, scheduler=args.scheduler)
    results["precision"] = args.precision
    Image.fromarray(grid(results.pop("_native_images"))).save(args.out.with_suffix(".png"))
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
