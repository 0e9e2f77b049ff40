"""P29: what a reference picture (issue 25, IP-Adapter) costs a job on the demo model.

A random IP-Adapter with the demo UNet's shapes and a tiny CLIP vision encoder
(tests.tiny_ip_adapter) in a scratch models folder; one txt2img job of 20 steps at 128²
with one reference ÷ the same job without it, interleaved pairs in one process, after a
first job that loads the adapter and encodes the picture (later jobs take its embedding
from the cache, as the window's do). The per-step cost is the adapter's extra tokens in
each cross-attention.
"""

from __future__ import annotations

import time

from tests.bench.common import Context, Result, paired_ratio

TARGET = "≤ 1.10"


def measure_p29(ctx: Context) -> Result:
    import numpy as np

    from engine.local.engine import Engine
    from engine.models import resolve_model
    from engine.reference.spec import ReferenceSpec
    from engine.request import GenerationInputs, GenerationRequest
    from tests.tiny_ip_adapter import build_tiny_ip_models

    info = resolve_model("")
    models = build_tiny_ip_models(info.path, ctx.work / "ip_models")
    smoke, full = ctx.profile.name == "smoke", ctx.profile.name == "full"
    reps = 2 if smoke else (11 if full else 5)
    steps = 4 if smoke else 20
    plain = GenerationRequest(
        mode="txt2img", prompt="a red circle", steps=steps, width=128, height=128, seed=3,
        model=str(info.path), precision="fp32",
    )  # fmt: skip
    steered = plain.replace(references=(ReferenceSpec(),))
    picture = np.zeros((64, 64, 4), np.uint8)
    picture[..., 0], picture[..., 3] = 200, 255
    inputs = GenerationInputs(references=(picture,), reference_masks=(None,))
    engine = Engine([models])
    try:
        engine.run(plain, GenerationInputs())
        engine.run(steered, inputs)  # loads the adapter, encodes the picture
        with_ref, without = [], []
        for _ in range(reps):
            start = time.perf_counter()
            engine.run(plain, GenerationInputs())
            without.append(time.perf_counter() - start)
            start = time.perf_counter()
            engine.run(steered, inputs)
            with_ref.append(time.perf_counter() - start)
    finally:
        engine.unload()
    ratio = paired_ratio(with_ref, without)
    detail = (
        f"{info.name}, {steps} steps at 128², one reference (random adapter with its shapes) "
        f"÷ none: {ratio:.3f} (median of {reps} interleaved pairs; "
        f"{np.median(without):.2f} s without)"
    )
    return Result("P29", "reference picture cost", ratio, TARGET, ratio <= 1.10, detail)
