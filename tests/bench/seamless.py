"""P10: removal quality against diffusers' stock inpainting, on the same inputs.

Pictures 512x384 with a red disc under a disc mask of radius 100 (tests/seamless_scenes),
the demo model, the same seed, sampler and steps on both sides, watermark off.
Overpaint runs `inpaint --inpaint-mode remove` through the real job builder and engine.
The stock side is `StableDiffusionInpaintPipeline` with `padding_mask_crop=32` and a 4 px
mask blur, at AUTOMATIC1111's default denoising strength 0.75: what its "only masked"
inpaint does. The value is Overpaint's mean removal error / the stock one's.
`measure_p10(ctx, precision)` pins Overpaint's CPU precision (P26 runs it in fp32 and in
bf16); the stock side stays float32, its errors computed once per run.
"""

from __future__ import annotations

import functools

import numpy as np

from engine.demo.dataset import PALETTE
from tests.bench.common import Context, Result
from tests.seamless_scenes import disc_mask, disc_picture, removal_error

DEMO = "Overpaint demo (shapes)"
SEED = 1
SAMPLER = "DPM++ 2M"
STOCK_STRENGTH = 0.75
BACKGROUNDS = {
    "blue": PALETTE["blue"],
    "white": PALETTE["white"],
    "teal (unnamed)": (0, 128, 128),
    "brown (unnamed)": (120, 72, 40),
    "ramp": "ramp",
}
# (background, steps) -> the stock pipeline's (mean, band) removal error: it never changes
# within a run, whatever precision Overpaint's side is pinned to.
_STOCK_ERRORS: dict[tuple[str, int], tuple[float, float]] = {}


def _overpaint(
    engine, picture: np.ndarray, mask: np.ndarray, steps: int, precision: str, **params
) -> np.ndarray:
    from engine.jobs import image_composite, prepare_job
    from engine.region import apply_patch

    h, w = mask.shape
    base = dict(prompt="", seed=SEED, steps=steps, scheduler=SAMPLER, model=DEMO, strength=None)
    job = prepare_job({**base, **params}, w, h, image_composite(picture), mask=mask,
                      native=128, watermark=False)  # fmt: skip
    request = job.request.replace(precision=precision)
    result = engine.run(request, job.inputs)[0]
    return apply_patch(picture, result.rgba, result.x, result.y)[..., :3]


@functools.cache
def _stock_pipeline():
    from diffusers import StableDiffusionInpaintPipeline

    from engine.models import resolve_model

    info = resolve_model(DEMO)
    pipe = StableDiffusionInpaintPipeline.from_pretrained(info.path, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _stock(pipe, picture: np.ndarray, mask: np.ndarray, steps: int) -> np.ndarray:
    import torch
    from PIL import Image

    from engine.schedulers import make_scheduler

    pipe.scheduler = make_scheduler(SAMPLER, dict(pipe.scheduler.config))
    blurred = pipe.mask_processor.blur(Image.fromarray(mask), blur_factor=4)
    with torch.inference_mode():
        out = pipe(prompt="", image=Image.fromarray(picture[..., :3]), mask_image=blurred,
                   strength=STOCK_STRENGTH, padding_mask_crop=32, num_inference_steps=steps,
                   guidance_scale=7.0, generator=torch.Generator().manual_seed(SEED)).images[0]  # fmt: skip
    return np.asarray(out.convert("RGB"))


def _stock_error(name: str, mask: np.ndarray, steps: int) -> tuple[float, float]:
    if (name, steps) not in _STOCK_ERRORS:
        picture, truth = disc_picture(BACKGROUNDS[name])
        stock = _stock(_stock_pipeline(), picture, mask, steps)
        _STOCK_ERRORS[name, steps] = removal_error(stock, truth, mask)
    return _STOCK_ERRORS[name, steps]


def measure_p10(
    ctx: Context, precision: str = "auto", figures: dict[str, float] | None = None
) -> Result:
    """P10 with Overpaint's side in `precision`; `figures`, if given, receives the mean
    removal errors ("ours", "ours_band" at the seam, "stock") and the worst of ours."""
    from engine.local.engine import Engine

    steps = 4 if ctx.profile.name == "smoke" else 20
    names = list(BACKGROUNDS)[:1] if ctx.profile.name == "smoke" else list(BACKGROUNDS)
    engine = Engine()
    mask = disc_mask()
    ours, bands, theirs, rows = [], [], [], []
    for name in names:
        picture, truth = disc_picture(BACKGROUNDS[name])
        o_all, o_band = removal_error(
            _overpaint(engine, picture, mask, steps, precision, inpaint_mode="remove"), truth, mask
        )
        s_all, s_band = _stock_error(name, mask, steps)
        ours.append(o_all)
        bands.append(o_band)
        theirs.append(s_all)
        rows.append(
            f"{name}: remove {o_all:.2f} (band {o_band:.2f}) vs stock {s_all:.2f} "
            f"(band {s_band:.2f})"
        )
    for colour in ("blue", "white")[: len(names)]:
        picture, truth = disc_picture(PALETTE[colour])
        found = _overpaint(engine, picture, mask, steps, precision,
                           prompt=f"{colour} background", strength=0.75)  # fmt: skip
        found_all, found_band = removal_error(found, truth, mask)
        rows.append(f"default mode, '{colour} background': {found_all:.2f} (band {found_band:.2f})")
    ratio = float(np.mean(ours) / max(np.mean(theirs), 1e-6))
    worst = max(ours)
    ok = ratio <= 0.25 and worst <= 3.0
    detail = (
        f"mean removal error {np.mean(ours):.2f} vs stock {np.mean(theirs):.2f} over "
        f"{len(names)} background(s) (worst ours {worst:.2f}, target ≤ 3); {steps} steps, "
        f"Overpaint in {engine.precision} (asked: {precision})"
    )
    engine.unload()
    if figures is not None:
        figures.update(
            ours=float(np.mean(ours)),
            ours_band=float(np.mean(bands)),
            stock=float(np.mean(theirs)),
            worst=float(worst),
        )
    return Result("P10", "seamless removal", ratio, "≤ 0.25", ok, detail, rows)
