"""P1 (engine overhead) and P6 (shared weights): the engine against plain diffusers.

P1 runs the same txt2img through Overpaint's EngineClient (worker thread, fresh
scheduler, previews every step, PNG-ready results, watermark) and through a plain
StableDiffusionPipeline call in this process, interleaved, same model/size/steps/seed.
P6 runs in a child process so that its RSS is not this process's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tests.bench.common import Context, Result, median, timed, wait_for_signal

PROMPT = "a red circle on a blue background"
SEED = 1234
JOB_TIMEOUT_S = 300


def run_job(client, request, inputs=None) -> tuple[float, list]:  # noqa: ANN001
    """Submit one job and wait for it; (seconds from submit to results, results)."""
    t0 = time.perf_counter()
    job_id = client.submit(request, inputs)
    while True:
        got = wait_for_signal([client.finished, client.failed, client.cancelled], JOB_TIMEOUT_S)
        if got is None:
            raise TimeoutError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")
        if got[0] == job_id:
            break
    seconds = time.perf_counter() - t0
    if len(got) < 2 or isinstance(got[1], str):
        raise RuntimeError(f"job {job_id} did not finish: {got[1:] or 'cancelled'}")
    return seconds, list(got[1])


def _plain_pipeline(model_dir: Path):  # noqa: ANN202
    import diffusers

    pipe = diffusers.StableDiffusionPipeline.from_pretrained(
        str(model_dir), safety_checker=None, requires_safety_checker=False, local_files_only=True
    )
    pipe.scheduler = diffusers.EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _plain_call(pipe, size: int, steps: int) -> tuple[float, np.ndarray]:  # noqa: ANN001
    import torch

    t0 = time.perf_counter()
    with torch.inference_mode():
        out = pipe(
            PROMPT,
            negative_prompt="",
            num_inference_steps=steps,
            guidance_scale=7.0,
            width=size,
            height=size,
            generator=torch.Generator("cpu").manual_seed(SEED),
            output_type="np",
        )
    seconds = time.perf_counter() - t0
    return seconds, np.clip(np.rint(out.images[0] * 255), 0, 255).astype(np.uint8)


def _watermark_cost(size: int) -> float:
    from engine.watermark import embed_watermark

    rgb = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return min(timed(lambda: embed_watermark(rgb))[0] for _ in range(3))


class _CallTimer:
    """Records how long each StableDiffusionPipeline call takes, per thread, so an engine
    job can be set against the diffusers call inside it (same run, same noise)."""

    def __init__(self) -> None:
        import diffusers

        self.cls = diffusers.StableDiffusionPipeline
        self.original = self.cls.__call__
        self.last: dict[int, float] = {}
        original, last = self.original, self.last

        def timed_call(pipe_self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return original(pipe_self, *args, **kwargs)
            finally:
                last[threading.get_ident()] = time.perf_counter() - t0

        self.cls.__call__ = timed_call

    def restore(self) -> None:
        self.cls.__call__ = self.original


def measure_p1(ctx: Context) -> Result:
    from engine.request import GenerationRequest
    from engine.worker import EngineClient

    prof = ctx.profile
    model = ctx.model("tiny")
    pipe = _plain_pipeline(model)
    # The plain call also runs on a long-lived thread of its own, like the engine's worker,
    # so both sides get the same threading (OpenMP keeps one thread team per caller).
    plain_thread = ThreadPoolExecutor(1, thread_name_prefix="plain-diffusers")
    client = EngineClient()
    calls = _CallTimer()
    plain_id = plain_thread.submit(threading.get_ident).result()
    # Both sides at the torch thread count the editor uses by default (it leaves one CPU
    # to the window), set the same way on each side's thread.
    import torch

    from engine.worker import cpu_threads_beside_ui

    default = plain_thread.submit(torch.get_num_threads).result()
    threads = cpu_threads_beside_ui(0, default, os.cpu_count())
    plain_thread.submit(torch.set_num_threads, threads).result()
    client.cpu_threads = threads
    ratios: dict[int, float] = {}
    extra: list[str] = []
    try:
        for size in prof.p1_sizes:
            request = GenerationRequest(
                mode="txt2img",
                prompt=PROMPT,
                seed=SEED,
                steps=prof.p1_steps,
                guidance=7.0,
                scheduler="Euler a",
                width=size,
                height=size,
                model=str(model),
            )
            bare = request.replace(watermark=False)
            run_job(client, request)  # warm-up: the first job loads the model
            plain_thread.submit(_plain_call, pipe, size, prof.p1_steps).result()
            times: dict[str, list[float]] = {"plain": [], "ours": [], "bare": []}
            cpu: dict[str, list[float]] = {"plain": [], "ours": [], "bare": []}
            inside: list[float] = []  # each Overpaint job ÷ the diffusers call inside it
            runs = {
                "plain": lambda s=size: plain_thread.submit(
                    _plain_call, pipe, s, prof.p1_steps
                ).result(),
                "ours": lambda r=request: run_job(client, r),
                "bare": lambda r=bare: run_job(client, r),
            }
            outputs = {}
            for rep in range(prof.p1_reps):
                order = list(runs)[rep % 3 :] + list(runs)[: rep % 3]  # no side always first
                for name in order:
                    c0 = time.process_time()
                    seconds, outputs[name] = runs[name]()
                    cpu[name].append(time.process_time() - c0)
                    times[name].append(seconds)
                    if name == "ours":
                        engine_call = next(t for k, t in calls.last.items() if k != plain_id)
                        inside.append(seconds / engine_call)
            plain, ours, no_wm = (min(times[k]) for k in ("plain", "ours", "bare"))
            ratios[size] = ours / plain
            # The run without watermark gives the same pixels as plain diffusers: both
            # sides really do the same work.
            diff = outputs["bare"][0].rgba[..., :3].astype(int) - outputs["plain"]
            extra.append(
                f"{size}²×{prof.p1_steps} steps: plain {plain:.3f} s, Overpaint {ours:.3f} s "
                f"(ratio {ours / plain:.3f}; medians {median(times['ours']):.3f} / "
                f"{median(times['plain']):.3f} s), without watermark {no_wm:.3f} s (ratio "
                f"{no_wm / plain:.3f}); embed_watermark alone {_watermark_cost(size) * 1000:.0f} ms; "
                f"largest pixel difference without watermark vs plain: {int(abs(diff).max())}; "
                f"process CPU time ratio {min(cpu['ours']) / min(cpu['plain']):.3f}; each job ÷ "
                f"the diffusers call inside it (same run, immune to other programs; previews "
                f"count as inside): median {median(inside):.3f}"
            )
    finally:
        calls.restore()
        client.shutdown()
        plain_thread.shutdown()
    worst = max(ratios.values())
    detail = (
        "txt2img through EngineClient (worker thread, previews, watermark on as by default) ÷ "
        "a plain StableDiffusionPipeline call (Euler a) on a thread of its own, same tiny "
        f"model, seed, steps and torch threads ({threads}, the editor's default here); "
        f"wall time, best of {prof.p1_reps} interleaved runs each after a warm-up; worst of "
        + ", ".join(f"{s}²: {r:.3f}" for s, r in ratios.items())
    )
    return Result("P1", "engine overhead", worst, "≤ 1.05", worst <= 1.05, detail, extra)


def measure_p6(ctx: Context) -> Result:
    prof = ctx.profile
    model = ctx.model("weights")
    cmd = [
        sys.executable,
        "-m",
        "tests.bench.rss_probe",
        str(model),
        str(prof.p6_size),
        str(prof.p6_steps),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"rss probe failed ({proc.returncode}): {proc.stderr[-1500:]}")
    data = json.loads(lines[-1])
    ratio = data["all"] / data["txt2img"]
    mib = 2**20
    detail = (
        f"RSS of a child process after txt2img + img2img + inpaint ({data['all'] / mib:.0f} MiB) "
        f"÷ after txt2img alone ({data['txt2img'] / mib:.0f} MiB), through EngineClient, "
        f"{prof.p6_size}², random SD1.x model with {data['weights'] / mib:.0f} MiB of weights"
    )
    extra = [
        f"RSS at start: {data['start'] / mib:.0f} MiB; after importing torch and diffusers "
        f"{data['imports'] / mib:.0f} MiB; after txt2img (model loaded) "
        f"{data['txt2img'] / mib:.0f} MiB; + img2img {data['img2img'] / mib:.0f} MiB; "
        f"+ inpaint {data['all'] / mib:.0f} MiB",
        f"the same process after glibc malloc_trim(0): {data['all_trimmed'] / mib:.0f} MiB "
        f"({data['all_trimmed'] / data['txt2img']:.3f}× txt2img): growth above that is freed "
        "heap kept by the allocator, not a second copy of the weights",
    ]
    return Result("P6", "shared weights", ratio, "≤ 1.05", ratio <= 1.05, detail, extra)
