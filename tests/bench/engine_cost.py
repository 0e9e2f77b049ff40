"""P1 (engine overhead) and P6 (shared weights): the engine against plain diffusers.

P1 takes the request the main window submits when Generate is pressed on an empty canvas,
runs it through Overpaint's EngineClient (worker thread, fresh scheduler, previews every
step, results as RGBA patches) and runs the same diffusers call on a plain
StableDiffusionPipeline in this process, back to back, same model/size/steps/seed. Both
sides must give the same pixels, or the ratio compares different work.
P6 runs in a child process so that its RSS is not this process's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tests.bench.common import Context, Result, median, paired_ratio, wait_for_signal

PROMPT = "a red circle on a blue background"
SEED = 1234
JOB_TIMEOUT_S = 300


def run_job(client, request, inputs=None) -> tuple[float, list]:
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


def _plain_pipeline(model_dir: Path):
    import diffusers

    pipe = diffusers.StableDiffusionPipeline.from_pretrained(
        str(model_dir), safety_checker=None, requires_safety_checker=False, local_files_only=True
    )
    pipe.scheduler = diffusers.EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _plain_call(pipe, request) -> tuple[float, np.ndarray]:
    """The diffusers call a script would make for `request`; (seconds, HxWx3 uint8)."""
    import torch

    t0 = time.perf_counter()
    with torch.inference_mode():
        out = pipe(
            request.prompt,
            negative_prompt=request.negative_prompt,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            width=request.width,
            height=request.height,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            output_type="np",
        )
    seconds = time.perf_counter() - t0
    return seconds, np.clip(np.rint(out.images[0] * 255), 0, 255).astype(np.uint8)


def _model_at_native(ctx: Context, size: int) -> Path:
    """The tiny model with `size` as its native resolution (overpaint.json): the window
    then generates an empty size² canvas at size², as it does a 512² canvas with an SD1.x
    model, so both sides make the same diffusers call."""
    folder = ctx.work / "p1" / f"tiny-native-{size}"
    if not (folder / "model_index.json").is_file():
        shutil.copytree(ctx.model("tiny"), folder, dirs_exist_ok=True)
        (folder / "overpaint.json").write_text(json.dumps({"native_resolution": size}))
    return folder


def window_request(ctx: Context, model: Path, size: int, steps: int):
    """(request, inputs) the main window submits for Generate on an empty size² canvas
    with default settings, captured at EngineClient.submit (the window's job runs)."""
    from editor.ui.file_ops import new_document
    from tests.bench.ui_cost import close_window, generate, open_window, submitted_jobs

    window = open_window(ctx, f"p1-{size}")
    try:
        window.set_document(new_document(size, size, None), None, None)
        params = {
            "model": str(model), "prompt": PROMPT, "seed": SEED, "steps": steps,
            "mode": "auto", "n_samples": 1, "scheduler": "Euler a", "guidance": 7.0,
        }  # fmt: skip
        with submitted_jobs() as submitted:
            generate(window, params)
    finally:
        close_window(window)
    if len(submitted) != 1:
        raise RuntimeError(f"the window submitted {len(submitted)} jobs for one Generate")
    request, inputs = submitted[0]
    # Overhead is measured in fp32, like the plain pipeline; what bf16 buys is P23.
    request = request.replace(precision="fp32")
    if request.mode != "txt2img" or request.scheduler != "Euler a" or request.n_samples != 1:
        raise RuntimeError(f"the window did not submit a one-sample Euler a txt2img: {request}")
    return request, inputs


def pixel_difference(ours: np.ndarray, plain: np.ndarray) -> str | None:
    """How an engine RGBA patch differs from a plain RGB output; None when identical."""
    if ours.shape != (*plain.shape[:2], 4):
        return f"shapes {ours.shape} vs {plain.shape}"
    diff = np.abs(ours[..., :3].astype(np.int16) - plain).max(-1)
    n_rgb, n_alpha = int(np.count_nonzero(diff)), int(np.count_nonzero(ours[..., 3] != 255))
    if n_rgb == 0 and n_alpha == 0:
        return None
    return f"{n_rgb} pixels by up to {int(diff.max())} levels, {n_alpha} not opaque"


class _CallTimer:
    """Records how long each StableDiffusionPipeline call takes, per thread, so an engine
    job can be set against the diffusers call inside it (same run, same noise)."""

    def __init__(self) -> None:
        import diffusers

        self.cls = diffusers.StableDiffusionPipeline
        self.original = self.cls.__call__
        self.last: dict[int, float] = {}
        original, last = self.original, self.last

        def timed_call(pipe_self, *args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(pipe_self, *args, **kwargs)
            finally:
                last[threading.get_ident()] = time.perf_counter() - t0

        self.cls.__call__ = timed_call

    def restore(self) -> None:
        self.cls.__call__ = self.original


def measure_p1(ctx: Context) -> Result:
    import torch
    from PySide6.QtCore import Qt

    from engine.worker import EngineClient, cpu_threads_beside_ui

    prof = ctx.profile
    # The plain call also runs on a long-lived thread of its own, like the engine's worker,
    # so both sides get the same threading (OpenMP keeps one thread team per caller).
    plain_thread = ThreadPoolExecutor(1, thread_name_prefix="plain-diffusers")
    # Both sides at the torch thread count the editor uses by default (it leaves one CPU
    # to the window), set the same way on each side's thread.
    default = plain_thread.submit(torch.get_num_threads).result()
    threads = cpu_threads_beside_ui(0, default, os.cpu_count())
    plain_thread.submit(torch.set_num_threads, threads).result()
    client = EngineClient(cpu_threads=threads)
    # The engine nices its thread so the window stays smooth; the plain thread gets the
    # same nice value, read from inside the engine thread (a direct connection runs there),
    # so that other programs on the machine weigh on both sides alike.
    engine_nice: list[int] = []
    client.started.connect(
        lambda _job: engine_nice.append(os.getpriority(os.PRIO_PROCESS, 0)),
        Qt.ConnectionType.DirectConnection,
    )
    calls = _CallTimer()
    ratios: dict[int, float] = {}
    differences: list[str] = []
    extra: list[str] = []
    try:
        for size in prof.p1_sizes:
            model = _model_at_native(ctx, size)
            request, inputs = window_request(ctx, model, size, prof.p1_steps)
            pipe = _plain_pipeline(model)
            runs = {
                "plain": lambda p=pipe, r=request: plain_thread.submit(_plain_call, p, r).result(),
                "ours": lambda r=request, i=inputs: run_job(client, r, i),
            }
            for run in runs.values():  # warm-up: the first job loads the model
                run()
            if engine_nice and hasattr(os, "setpriority"):
                plain_thread.submit(os.setpriority, os.PRIO_PROCESS, 0, engine_nice[-1]).result()
            times: dict[str, list[float]] = {"plain": [], "ours": []}
            cpu: dict[str, list[float]] = {"plain": [], "ours": []}
            inside: list[float] = []  # each Overpaint job ÷ the diffusers call inside it
            outputs: dict[str, object] = {}
            for rep in range(prof.p1_reps):
                # One pair per repetition, back to back; neither side always goes first.
                for name in ("plain", "ours") if rep % 2 == 0 else ("ours", "plain"):
                    calls.last.clear()
                    c0 = time.process_time()
                    seconds, outputs[name] = runs[name]()
                    cpu[name].append(time.process_time() - c0)
                    times[name].append(seconds)
                    if name == "ours":
                        (engine_call,) = calls.last.values()
                        inside.append(seconds / engine_call)
                results = outputs["ours"]
                if len(results) != 1:
                    differences.append(f"{size}²: {len(results)} results for one sample")
                elif (what := pixel_difference(results[0].rgba, outputs["plain"])) is not None:
                    differences.append(f"{size}² repetition {rep + 1}: {what}")
            ratios[size] = paired_ratio(times["ours"], times["plain"])
            del pipe
            extra.append(
                f"{size}² canvas, {request.steps} steps: per-pair ratio median {ratios[size]:.3f} "
                f"over {prof.p1_reps} pair(s); Overpaint median {median(times['ours']):.3f} s "
                f"(best {min(times['ours']):.3f}), plain median {median(times['plain']):.3f} s "
                f"(best {min(times['plain']):.3f}); process CPU time, per-pair ratio median "
                f"{paired_ratio(cpu['ours'], cpu['plain']):.3f}; each job ÷ the diffusers call "
                f"inside it (same run, immune to other programs; previews count as inside): "
                f"median {median(inside):.3f}"
            )
    finally:
        calls.restore()
        client.shutdown()
        plain_thread.shutdown()
    worst = max(ratios.values())
    detail = (
        "the txt2img the main window submits for Generate on an empty canvas (default "
        "settings, one sample, Euler a), through EngineClient (worker thread, previews "
        "every step, RGBA patch) ÷ the same call on a plain StableDiffusionPipeline on a "
        f"thread of its own, same tiny model, seed, {prof.p1_steps} steps, torch threads "
        f"({threads}, the editor's default here) and thread nice value "
        f"({engine_nice[-1] if engine_nice else '?'}, the engine's); median of the "
        f"per-repetition ratios over "
        f"{prof.p1_reps} back-to-back pair(s), order alternating, after a warm-up; worst of "
        + ", ".join(f"{s}²: {r:.3f}" for s, r in ratios.items())
    )
    if differences:
        # Different pixels mean different work: the ratio then proves nothing.
        detail = (
            f"NOT LIKE-FOR-LIKE, the two sides' pixels differ ({len(differences)} of "
            f"{len(prof.p1_sizes) * prof.p1_reps} pairs; {differences[0]}); " + detail
        )
    else:
        detail += "; every pair gave identical pixels"
    ok = worst <= 1.05 and not differences
    return Result("P1", "engine overhead", worst, "≤ 1.05", ok, detail, extra)


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
