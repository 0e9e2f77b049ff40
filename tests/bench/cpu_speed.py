"""P9, P23 and P25: what the CPU precision policy buys, and how close to the processor.

P23 times one whole job (text encoding, 20 steps, decode, paste-back) through the Engine
with an SD 1.5-shaped checkpoint (random weights, built from the shipped configs as a user
would download it) in auto precision and in fp32, interleaved. P9 does the same with the
demo model at its native size. P25 sets the UNet step's achieved FLOP rate against a large
bf16 matmul on the same threads.

`python -m tests.bench.cpu_speed --split` prints where a whole job's time goes at 128²,
512² and 1024² (text encoding, steps, decode, the rest of the engine, watermark, history).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tests.bench.common import Context, Result, median, paired_ratio

PROMPT = "a lighthouse at dusk"
SD15_STEPS = 20


def sd15_checkpoint(work: Path) -> Path:
    """An SD 1.5-shaped single-file checkpoint with random weights (built once per work dir)."""
    from tests.bench.real_size import build_checkpoint

    path = work / "sd15-random.safetensors"
    if not path.is_file():
        work.mkdir(parents=True, exist_ok=True)
        build_checkpoint("sd1", path, "cpu")
    return path


def _request(model: str, size: int, steps: int, precision: str):
    from engine.request import GenerationRequest

    return GenerationRequest(
        mode="txt2img", prompt=PROMPT, model=model, steps=steps, width=size, height=size,
        seed=1, watermark=False, precision=precision,
    )  # fmt: skip


def _timed_pair(engine, model: str, size: int, steps: int, reps: int) -> tuple[list, list, str]:
    """Seconds per job in fp32 and in auto, interleaved; the model is loaded before each
    side's timed jobs (a precision change reloads), so loading never counts."""
    times: dict[str, list[float]] = {"fp32": [], "auto": []}
    used = ""
    for rep in range(reps):
        for precision in ("fp32", "auto") if rep % 2 == 0 else ("auto", "fp32"):
            request = _request(model, size, steps, precision)
            engine.load(request)
            engine.run(request.replace(steps=1))  # kernels built, caches warm
            t0 = time.perf_counter()
            (result,) = engine.run(request)
            times[precision].append(time.perf_counter() - t0)
            if precision == "auto":
                used = result.request.precision
    return times["auto"], times["fp32"], used


def measure_p23(ctx: Context) -> Result:
    from engine.local.engine import Engine

    size = 512 if ctx.profile.name == "full" else 256 if ctx.profile.name == "quick" else 64
    reps = 2 if ctx.profile.name == "full" else 1
    model = str(sd15_checkpoint(ctx.work / "p23"))
    engine = Engine()
    try:
        auto, fp32, used = _timed_pair(engine, model, size, SD15_STEPS, reps)
    finally:
        engine.unload()
    ratio = paired_ratio(auto, fp32)
    detail = (
        f"one txt2img job through the Engine, SD 1.5-shaped checkpoint (random weights), "
        f"{size}², {SD15_STEPS} steps, decode and paste-back included, model loaded and "
        f"warmed beforehand; auto chose {used}; auto median {median(auto):.2f} s, fp32 "
        f"median {median(fp32):.2f} s, per-pair ratio over {reps} interleaved pair(s)"
    )
    return Result("P23", "CPU precision speed-up", ratio, "≤ 0.35", ratio <= 0.35, detail)


def measure_p9(ctx: Context) -> Result:
    from engine.local.engine import Engine
    from engine.models import resolve_model

    info = resolve_model("")
    reps = 5 if ctx.profile.name == "full" else 3
    engine = Engine()
    try:
        auto, fp32, used = _timed_pair(engine, "", info.native_size, 20, reps)
    finally:
        engine.unload()
    ratio = paired_ratio(auto, fp32)
    detail = (
        f"20 steps of the demo model at its native {info.native_size}², one job through the "
        f"Engine, auto ({used}) ÷ fp32 (before the precision policy); auto median "
        f"{median(auto) * 1000:.0f} ms, fp32 median {median(fp32) * 1000:.0f} ms over {reps} "
        "interleaved pairs"
    )
    return Result("P9", "demo model, 20 steps", ratio, "report", True, detail)


def matmul_rate(n: int = 4096, reps: int = 5) -> float:
    """FLOP/s of a large bf16 matmul on this thread's torch threads (best of `reps`)."""
    import torch

    a = torch.randn(n, n, dtype=torch.bfloat16)
    b = torch.randn(n, n, dtype=torch.bfloat16)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_p25(ctx: Context) -> Result:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from engine.local.engine import Engine

    size = 512 if ctx.profile.name == "full" else 256
    model = str(sd15_checkpoint(ctx.work / "p23"))
    engine = Engine()
    try:
        engine.load(_request(model, size, 1, "auto"))
        unet, used = engine._base.unet, engine.precision
        dtype = unet.dtype
        sample = torch.randn(2, 4, size // 8, size // 8, dtype=dtype)
        sample = sample.contiguous(memory_format=torch.channels_last)
        text = torch.randn(2, 77, unet.config.cross_attention_dim, dtype=dtype)
        t = torch.tensor(500)
        with torch.inference_mode():
            with FlopCounterMode(display=False) as counter:
                unet(sample, t, text)
            flops = counter.get_total_flops()
            step = min(_seconds(lambda: unet(sample, t, text)) for _ in range(3))
    finally:
        engine.unload()
    peak = matmul_rate()
    ratio = flops / step / peak
    detail = (
        f"one UNet step (batch 2: CFG) of the SD 1.5-shaped model at {size}² in {used}: "
        f"{flops / 1e12:.2f} TFLOP in {step:.3f} s = {flops / step / 1e9:.0f} GFLOP/s, "
        f"against a 4096² bf16 matmul at {peak / 1e9:.0f} GFLOP/s on the same threads"
    )
    return Result("P25", "share of the processor", ratio, "report (aim ≥ 0.5)", True, detail)


# -- the split of a whole job --------------------------------------------------------


@contextmanager
def _timing(module, name: str, into: dict[str, float], method: str = "forward"):
    """Add the time of every `module.method` call to into[name]."""
    original = getattr(module, method)

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - t0

    setattr(module, method, timed)
    try:
        yield
    finally:
        setattr(module, method, original)


def job_split(engine, model: str, size: int, steps: int, precision: str) -> dict[str, float]:
    """Seconds per part of one txt2img job at size², after a warm-up job."""
    from engine.history.store import HistoryStore
    from engine.watermark import embed_watermark

    request = _request(model, size, steps, precision)
    engine.load(request)
    engine.run(request.replace(steps=1))
    engine.warm.clear()  # the prompt's embeddings are computed again, as for a new prompt
    parts: dict[str, float] = {}
    pipe = engine.pipeline_for("txt2img")
    with (
        _timing(pipe.text_encoder, "text encoding", parts),
        _timing(pipe.unet, "steps", parts),
        _timing(pipe.vae, "decode", parts, "decode"),
    ):
        t0 = time.perf_counter()
        (result,) = engine.run(request)
        total = time.perf_counter() - t0
    parts["rest of the engine (paste-back, checks)"] = total - sum(parts.values())
    t0 = time.perf_counter()
    embed_watermark(result.rgba)
    parts["watermark"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        store = HistoryStore(Path(tmp) / "history.sqlite3")
        t0 = time.perf_counter()
        store.record(result.request, result.rgba)
        parts["history"] = time.perf_counter() - t0
        store.close()
    parts["precision"] = result.request.precision  # type: ignore[assignment]
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.cpu_speed")
    parser.add_argument("--split", action="store_true", help="print the split of a job")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512, 1024])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--work", type=Path, default=Path("/tmp/overpaint-cpu-speed"))
    args = parser.parse_args()
    from engine.local.engine import Engine

    model = str(sd15_checkpoint(args.work))
    engine = Engine()
    for size in args.sizes:
        parts = job_split(engine, model, size, SD15_STEPS, args.precision)
        used = parts.pop("precision")
        total = sum(parts.values())
        row = ", ".join(f"{k} {v:.2f} s ({100 * v / total:.0f}%)" for k, v in parts.items())
        print(f"{size}² {used}, {SD15_STEPS} steps, {total:.1f} s: {row}", flush=True)
    engine.unload()


if __name__ == "__main__":
    main()
