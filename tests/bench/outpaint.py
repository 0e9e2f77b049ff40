"""P20: the seam where an outpainted strip meets the picture it extends.

As the window does it: a picture of a flat background (P10's colours and its ramp) on a
canvas grown by a transparent band along the bottom, a generation frame over the band
and the picture's last 64 rows, Auto (so Expand), no prompt, the demo model, watermark
off. The truth is the background continued (the ramp runs across, so it continues
down). The seam error is P10's removal error taken around the old edge: the mean
|result - truth| over the 16 rows each side of it, per column, then the median over
the columns, so that a shape the model draws away from the edge does not count as a
seam while a colour shift along the edge does. The value is the mean over the
backgrounds and seeds.
"""

from __future__ import annotations

import numpy as np

from engine.demo.dataset import PALETTE
from engine.request import Box
from tests.bench.common import Context, Result

DEMO = "Overpaint demo (shapes)"
SAMPLER = "DPM++ 2M"
W, H, BAND = 256, 128, 96  # the picture, and the band the canvas grows by
OVERLAP = 64  # rows of the picture inside the frame
SEAM_ROWS = 16
TARGET = 6.0  # levels (0-255), the mean over backgrounds and seeds
BACKGROUNDS: dict[str, tuple[int, int, int] | str] = {
    "white": PALETTE["white"],
    "blue": PALETTE["blue"],
    "teal (unnamed)": (0, 128, 128),
    "brown (unnamed)": (120, 72, 40),
    "ramp": "ramp",
}


def grown_scene(background: tuple[int, int, int] | str) -> tuple[np.ndarray, np.ndarray]:
    """(RGBA canvas: the picture over a transparent band, RGB truth: the background
    continued into the band)."""
    truth = np.zeros((H + BAND, W, 3), np.uint8)
    if background == "ramp":
        t = np.linspace(0.0, 1.0, W)[None, :]
        truth[..., 0] = np.rint(30 + 200 * t)
        truth[..., 1] = np.rint(180 - 100 * t)
        truth[..., 2] = 120
    else:
        truth[...] = background
    canvas = np.zeros((H + BAND, W, 4), np.uint8)
    canvas[:H, :, :3] = truth[:H]
    canvas[:H, :, 3] = 255
    return canvas, truth


def outpaint(engine, canvas: np.ndarray, steps: int, seed: int, **params) -> tuple[np.ndarray, int]:
    """The canvas after an outpaint of its band (flattened RGBA), and the job's feather."""
    from engine.jobs import image_composite, prepare_job
    from engine.region import apply_patch

    base = dict(prompt="", seed=seed, steps=steps, scheduler=SAMPLER, model=DEMO, strength=None)
    frame = Box(0, H - OVERLAP, W, OVERLAP + BAND)
    h, w = canvas.shape[:2]
    job = prepare_job({**base, **params}, w, h, image_composite(canvas), frame=frame,
                      native=128, watermark=False)  # fmt: skip
    result = engine.run(job.request, job.inputs)[0]
    return apply_patch(canvas, result.rgba, result.x, result.y), job.request.mask_blur


def seam_error(result: np.ndarray, truth: np.ndarray, edge: int = H) -> float:
    """Median over columns of the mean |result - truth| within SEAM_ROWS of row `edge`."""
    rows = slice(edge - SEAM_ROWS, edge + SEAM_ROWS)
    diff = np.abs(result[rows, :, :3].astype(np.int32) - truth[rows].astype(np.int32))
    return float(np.median(diff.mean(axis=2).mean(axis=0)))


def measure_p20(ctx: Context) -> Result:
    from engine.local.engine import Engine

    smoke = ctx.profile.name == "smoke"
    steps = 4 if smoke else 20
    seeds = (1,) if smoke else (1, 2)
    names = list(BACKGROUNDS)[:1] if smoke else list(BACKGROUNDS)
    engine = Engine()
    errors, rows = [], []
    for name in names:
        canvas, truth = grown_scene(BACKGROUNDS[name])
        per_seed = []
        for seed in seeds:
            out, feather = outpaint(engine, canvas, steps, seed)
            # The picture beyond the blend is never touched (checked, not measured).
            if not np.array_equal(out[: H - feather], canvas[: H - feather]):
                raise AssertionError(f"{name}: the picture changed beyond the feather")
            per_seed.append(seam_error(out, truth))
        errors += per_seed
        rows.append(f"{name}: seam error " + ", ".join(f"{e:.2f}" for e in per_seed))
    value = float(np.mean(errors))
    ok = value <= TARGET
    detail = (
        f"mean seam error {value:.2f} levels (worst {max(errors):.2f}) over {len(names)} "
        f"background(s) x {len(seeds)} seed(s), target ≤ {TARGET:g}; {steps} steps"
    )
    return Result("P20", "seamless outpaint", value, f"≤ {TARGET:g}", ok, detail, rows)
