"""P28: regional prompts (issue 25) — what each region gets on the demo model, and what
masked cross-attention costs per step.

Quality: engine.demo.evaluate_regions on its held-out layouts (left/right, top/bottom,
three columns), 20 steps at 128²: a layout is right when every region's part shows its
colour and its kind. Regions carry colour and kind only ("a red circle"); the root is the
whole scene's prompt ("a red circle and a blue square, green background") or only the
background; without regions the scene's prompt alone. The value is the rate of
two-region layouts right with regions under the scene root (target ≥ 0.9, and the scene's
prompt alone must do worse).

Cost: one UNet call (a denoising step with CFG, batch 2) with 1, 2 and 4 regions ÷ the
same call without regions, for InvokeAI's bias and Krita's attention couple, on the tiny
random SD model at 256² and the demo model at 128², interleaved pairs in one process.
"""

from __future__ import annotations

import time
from statistics import mean
from typing import Any

from tests.bench.common import Context, Result, paired_ratio

TARGET = "≥ 0.9 of two-region layouts right; the scene's prompt alone does worse"
COUNTS = (1, 2, 4)


def _unet_call(unet: Any, tokens: int, size: int, regions: int, method: str | None) -> Any:
    """A callable running one CFG step of `unet` with `regions` regions (None: none)."""
    import torch

    from engine.regions import attention

    torch.manual_seed(0)
    dim = int(unet.config.cross_attention_dim)
    latents = torch.randn(2, int(unet.config.in_channels), size // 8, size // 8)
    segments = 1 + regions if method else 1
    text = torch.randn(2, tokens * segments, dim)
    layout = None
    if method:
        import numpy as np

        masks = []
        for i in range(regions):  # vertical strips
            mask = np.zeros((size, size), np.uint8)
            mask[:, i * size // (regions + 1) : (i + 1) * size // (regions + 1)] = 255
            masks.append(mask)
        layout = attention.RegionLayout(
            [tokens] * segments, attention.latent_masks(masks, (size, size), 8)
        )

    def call() -> None:
        with torch.inference_mode():
            if layout is None:
                unet(latents, 500, text)
            else:
                with attention.attached([unet], layout, method):
                    unet(latents, 500, text)

    return call


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def step_costs(unet: Any, size: int, reps: int) -> dict[str, float]:
    """'method, N regions' -> median paired ratio to no regions."""
    plain = _unet_call(unet, 77, size, 0, None)
    plain()  # warm up
    out = {}
    for method in ("bias", "couple"):
        for n in COUNTS:
            call = _unet_call(unet, 77, size, n, method)
            call()
            pairs = [(_timed(call), _timed(plain)) for _ in range(reps)]
            out[f"{method}, {n}"] = paired_ratio([a for a, _ in pairs], [b for _, b in pairs])
    return out


def _unets(ctx: Context) -> dict[str, tuple[Any, int]]:
    import torch
    from diffusers import UNet2DConditionModel

    from engine.models import resolve_model

    demo = resolve_model("").path
    out = {}
    for name, folder, size in (("tiny SD", ctx.model("tiny"), 256), ("demo", demo, 128)):
        unet = UNet2DConditionModel.from_pretrained(str(folder / "unet"))
        out[name] = (unet.to(torch.float32).eval(), size)
    return out


def measure_p28(ctx: Context) -> Result:
    from engine.demo.evaluate_regions import evaluate

    smoke, full = ctx.profile.name == "smoke", ctx.profile.name == "full"
    reps = 3 if smoke else (15 if full else 7)
    extra: list[str] = []
    costs = {}
    for name, (unet, size) in _unets(ctx).items():
        costs[name] = step_costs(unet, size, reps)
        line = ", ".join(f"{k}: {v:.2f}" for k, v in costs[name].items())
        extra.append(f"cost per step ÷ no regions, {name} at {size}²: {line}")
    count = 1 if smoke else (50 if full else 10)
    results = evaluate(count)
    for key, per_layout in results.items():
        if isinstance(per_layout, dict):
            line = ", ".join(f"{k} {v['both']:.0%}" for k, v in per_layout.items())
            extra.append(f"{key}: {line}")
    two = ("left/right", "top/bottom")
    with_regions = mean(results["regions, scene root"][k]["both"] for k in two)
    alone = mean(results["no regions, the scene's prompt"][k]["both"] for k in two)
    ok = with_regions >= 0.9 and alone < with_regions
    detail = (
        f"{count} held-out layouts of each kind at 128², 20 steps: two-region layouts right "
        f"{with_regions:.0%} with regions under the scene's root prompt, {alone:.0%} with "
        f"the scene's prompt alone. Cost per step with 1/2/4 regions ÷ none (bias): "
        + "; ".join(
            f"{name} " + "/".join(f"{c[f'bias, {n}']:.2f}" for n in COUNTS)
            for name, c in costs.items()
        )
    )
    return Result("P28", "regional prompts", with_regions, TARGET, ok, detail, extra)
