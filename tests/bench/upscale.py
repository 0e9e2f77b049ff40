"""P13 (seams after a tiled refine) and P14 (memory of a tiled refine).

P13: a smooth, detailed 256² picture (`bench_picture`) is upscaled
×2 with Lanczos and refined in tiles at the demo model's native 128 px (strength 0.3,
the same seed and sampler for every tile), through `engine.upscale` as the window and
the CLI run it. The value is the mean absolute second difference of the result across
the tile borders divided by the same over the picture's interior (`seam_ratio`): a hard
paste of tiles that came back a little different shows up as a step at the borders.

P14: the highest RSS while upscaling ×4 and refining a 2048² picture over that for a
512² one, same model, tile, steps and strength; each runs in a child process of its own
(`python -m tests.bench.upscale SIZE STEPS`), with the model loaded before sampling starts.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.bench.common import Context, Result

DEMO = "Overpaint demo (shapes)"
SEED = 3
STRENGTH = 0.3
BORDER_MARGIN = 2  # interior = second differences centred this far from any border


def _second_differences(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|f(x-1) - 2 f(x) + f(x+1)| along x (H, W-2: centred at columns 1..W-2) and along y,
    averaged over the colour channels."""
    f = image[..., :3].astype(np.float32)
    dx = np.abs(f[:, 2:] - 2 * f[:, 1:-1] + f[:, :-2]).mean(axis=2)
    dy = np.abs(f[2:] - 2 * f[1:-1] + f[:-2]).mean(axis=2)
    return dx, dy


def seam_ratio(image: np.ndarray, plan) -> float:
    """Mean |second difference| across the tile borders of ``plan`` (an engine.tiles
    TilePlan over ``image``) / the same in the picture's interior.

    A border at column c lies between pixels c-1 and c: the differences centred on both
    count as "across" it. The interior is every centre at least BORDER_MARGIN pixels
    from a border. About 1 when the borders look like the rest of the picture.
    """
    dx, dy = _second_differences(image)
    cols, rows = plan.borders()
    h, w = image.shape[:2]

    def split(length: int, borders: list[int]) -> tuple[np.ndarray, np.ndarray]:
        centres = np.arange(1, length - 1)
        near = np.zeros(centres.size, bool)
        at = np.zeros(centres.size, bool)
        for b in borders:
            dist = np.minimum(np.abs(centres - b), np.abs(centres - (b - 1)))
            at |= dist == 0
            near |= dist < BORDER_MARGIN
        return at, ~near

    at_x, inside_x = split(w, cols)
    at_y, inside_y = split(h, rows)
    border = np.concatenate([dx[:, at_x].ravel(), dy[at_y, :].ravel()])
    interior = np.concatenate([dx[:, inside_x].ravel(), dy[inside_y, :].ravel()])
    if border.size == 0:
        return 1.0
    return float(border.mean() / max(interior.mean(), 1e-6))


def bench_picture(size: int, seed: int = 0) -> np.ndarray:
    """Opaque RGB: soft colour gradients with a few discs and stripes (structure for the
    model to refine, smooth enough that a seam would stand out)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    rgb = np.dstack([200 * xx + 30, 160 * yy + 50, 120 * (1 - xx * yy) + 40])
    rng = np.random.default_rng(seed)
    for _ in range(6):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.15)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        rgb[disc] = rng.uniform(20, 235, 3)
    rgb[:, :, 1] += 12 * np.sin(xx * 40)
    return np.clip(rgb, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------
# P13


def _upscale(engine, picture: np.ndarray, size: int, steps: int, strength: float):
    from engine.request import GenerationRequest
    from engine.upscale import UpscaleJob, run_upscale

    request = GenerationRequest(mode="img2img", prompt="", seed=SEED, steps=steps,
                                strength=strength, model=DEMO, watermark=False)  # fmt: skip
    job = UpscaleJob(size, size, request, refine=True, upscaler="lanczos")
    return run_upscale(engine, picture, job)


def measure_p13(ctx: Context) -> Result:
    from engine.pipelines import Engine
    from engine.tiles import plan_tiles
    from engine.upscale import REFINE_OVERLAP_FRACTION

    smoke = ctx.profile.name == "smoke"
    size, steps = (192, 4) if smoke else (512, 10)
    engine = Engine()
    picture = bench_picture(size // 2)
    start = time.perf_counter()
    result = _upscale(engine, picture, size, steps, STRENGTH)
    seconds = time.perf_counter() - start
    tile = engine.info.native_size
    plan = plan_tiles(size, size, tile, tile // REFINE_OVERLAP_FRACTION)
    ratio = seam_ratio(result.rgba, plan)
    # What the measure sees without the feathered blend: the same tiles pasted hard.
    hard = _hard_paste(engine, result.rgba, picture, size, steps, plan)
    detail = (
        f"{size // 2}² ×2 with Lanczos, refined at strength {STRENGTH} in {len(plan)} tiles "
        f"of {tile}² ({steps} steps, {seconds:.0f} s); seams / interior = {ratio:.3f}"
    )
    extra = [f"the same tiles pasted without feathering: {hard:.3f}"] if hard else []
    return Result("P13", "upscale seams", ratio, "≤ 1.2", ratio <= 1.2, detail, extra)


def _hard_paste(engine, refined, picture, size, steps, plan) -> float | None:
    """The seam ratio of the refined tiles laid edge to edge with no blend (each tile's
    own pixels up to the middle of its overlaps): shows the measure sees real seams."""
    from engine.request import GenerationInputs, GenerationRequest
    from engine.upscale import keep_source_colours

    if len(plan) > 36:
        return None
    from PIL import Image

    up = np.asarray(Image.fromarray(picture).resize((size, size), Image.Resampling.LANCZOS))
    out = np.zeros_like(up)
    request = GenerationRequest(mode="img2img", prompt="", seed=SEED, steps=steps,
                                strength=STRENGTH, model=DEMO, watermark=False)  # fmt: skip
    opaque = np.full((plan.tile_height, plan.tile_width), 255, np.uint8)
    for spec in plan:
        b = spec.box
        crop = np.dstack([up[b.y : b.bottom, b.x : b.right], opaque])
        tile = engine.run(request.replace(width=b.width, height=b.height),
                          GenerationInputs(image=crop))[0].rgba[..., :3]  # fmt: skip
        tile = keep_source_colours(tile, crop[..., :3], max(2, b.width // 32))
        out[b.y : b.bottom, b.x : b.right] = tile
    del refined
    return seam_ratio(out, plan)


# ----------------------------------------------------------------------------------
# P14


def _probe(size: int, steps: int) -> dict:
    """Peak RSS of upscaling a (size/4)² picture ×4 and refining the size² result, in a
    child process of its own."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.upscale", str(size), str(steps)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=3600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_p14(ctx: Context) -> Result:
    smoke = ctx.profile.name == "smoke"
    small, large = (128, 256) if smoke else (512, 2048)
    steps = 4  # x strength 0.3: one denoising step per tile (memory, not looks)
    a = _probe(small, steps)
    b = _probe(large, steps)
    ratio = b["running"] / a["running"]
    mib = 2**20
    detail = (
        f"highest RSS while refining {large}² ({b['tiles']} tiles, {b['seconds']:.0f} s): "
        f"{b['running'] / mib:.0f} MiB vs {small}² ({a['tiles']} tiles): "
        f"{a['running'] / mib:.0f} MiB (model loaded before, sampled every 20 ms)"
    )
    extra = [
        f"peak RSS of the whole process, model loading included: {b['peak'] / mib:.0f} vs "
        f"{a['peak'] / mib:.0f} MiB",
        f"{large}² picture buffers alone: {large * large * 4 * 3 / mib:.0f} MiB (input, "
        "upscaled, refined)",
    ]
    return Result("P14", "upscale memory", ratio, "≤ 1.2", ratio <= 1.2, detail, extra)


def _probe_main(argv: list[str]) -> int:
    """Prints the peak RSS of the whole process (model loading included) and the highest
    RSS sampled every 20 ms while the upscale and refine ran, after the model was loaded
    (what the picture's size can change)."""
    import threading

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from engine.pipelines import Engine
    from engine.request import GenerationRequest
    from tests.bench.common import rss_bytes

    size, steps = int(argv[0]), int(argv[1])
    picture = bench_picture(size // 4)
    engine = Engine()
    engine.load(GenerationRequest(mode="img2img", model=DEMO))
    highest = [rss_bytes()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            highest[0] = max(highest[0], rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = _upscale(engine, picture, size, steps, STRENGTH)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    # ru_maxrss is in KiB on Linux.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak": peak, "running": max(highest[0], rss_bytes()),
                      "tiles": result.tiles, "seconds": seconds}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1:]))
