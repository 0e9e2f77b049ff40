"""P18 (Overpaint's overhead on a ComfyUI server) and P19 (two servers against one).

Both start real ComfyUI servers built by packaging/comfyui.sh, on loopback, with the
small SD1.5-layout test checkpoint (tests/comfy/checkpoint.py), one torch thread each.

P18: an Overpaint txt2img job through ComfyEngine (health check, upload-free graph,
websocket progress, /history + /view, compositing, metadata) ÷ the same workflow posted
straight to the same server (ComfyServer.run), interleaved, each run with a fresh seed
so ComfyUI's cache never answers. The median of the paired ratios is the figure.

P19: wall time of an 8-sample job on one server ÷ on two. On this machine's 2 cores the
two servers share the CPUs with each other and with whatever else runs, so the figure
says how well the samples are spread (ideal 2.0 with two free cores), not what two GPU
machines would give.
"""

from __future__ import annotations

import time

from tests.bench.common import Context, Result, median

P18_TARGET = 1.10
SIZE, STEPS = 128, 4


def _servers(ctx: Context, count: int) -> list:
    from tests.comfy.servers import ComfyProcess, build_comfy, test_checkpoint

    cache = build_comfy()
    checkpoint = test_checkpoint(cache)
    servers = [
        ComfyProcess(cache, checkpoint, ctx.work / f"comfy{i}").start() for i in range(count)
    ]
    for server in servers:
        server.wait()
    return servers


def _request(seed: int, n: int = 1):
    from engine.request import GenerationRequest
    from tests.comfy.servers import CHECKPOINT

    return GenerationRequest("txt2img", prompt="a lighthouse at dusk", seed=seed, steps=STEPS,
                             scheduler="Euler", width=SIZE, height=SIZE, model=CHECKPOINT,
                             n_samples=n)  # fmt: skip


def measure_p18(ctx: Context) -> Result:
    from engine.comfy.engine import ComfyEngine
    from engine.comfy.server import ComfyServer
    from engine.comfy.workflow import WorkflowPlan, build_workflow
    from tests.comfy.servers import CHECKPOINT

    servers = _servers(ctx, 1)
    try:
        url = servers[0].url
        engine, direct = ComfyEngine([url]), ComfyServer(url)
        plan = WorkflowPlan(CHECKPOINT, SIZE, SIZE, "euler", "normal")
        engine.run(_request(1))  # loads the checkpoint on the server
        ratios, ours_s, plain_s = [], [], []
        for rep in range(max(3, ctx.profile.reps)):
            seed = 100 + 2 * rep
            t0 = time.perf_counter()
            engine.run(_request(seed))
            t1 = time.perf_counter()
            direct.run(build_workflow(_request(seed + 1), plan))
            t2 = time.perf_counter()
            ours_s.append(t1 - t0)
            plain_s.append(t2 - t1)
            ratios.append((t1 - t0) / (t2 - t1))
        value = median(ratios)
        detail = (
            f"txt2img {SIZE}² {STEPS} steps: Overpaint {median(ours_s):.2f} s, posted "
            f"straight {median(plain_s):.2f} s (median of {len(ratios)} paired ratios)"
        )
        return Result("P18", "ComfyUI overhead", value, f"≤ {P18_TARGET:.2f}",
                      value <= P18_TARGET, detail)  # fmt: skip
    finally:
        for server in servers:
            server.stop()


def measure_p24(ctx: Context) -> Result:
    """Overpaint's local engine (auto precision) ÷ ComfyUI on the same CPU threads, for the
    same SD 1.5-shaped checkpoint and job: ComfyUI with its default CPU settings, then with
    its own --bf16-unet."""
    import os

    from engine.comfy.server import ComfyServer
    from engine.comfy.workflow import WorkflowPlan, build_workflow
    from engine.local.engine import Engine
    from tests.bench.cpu_speed import sd15_checkpoint
    from tests.comfy.servers import ComfyProcess, build_comfy

    full = ctx.profile.name == "full"
    size, steps = (512, 20) if full else (256, 10)
    threads = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    checkpoint = sd15_checkpoint(ctx.work / "p23")
    request = _request(1).replace(
        model=str(checkpoint), width=size, height=size, steps=steps, precision="auto"
    )
    engine = Engine()
    engine.run(request.replace(steps=1))  # loaded and warm
    ratios: dict[str, float] = {}
    lines = []
    cache = build_comfy()
    try:
        for label, flags in (("default", ()), ("--bf16-unet", ("--bf16-unet",))):
            server = ComfyProcess(cache, checkpoint, ctx.work / f"p24{label}", threads, flags)
            server.start().wait()
            try:
                direct = ComfyServer(server.url)
                plan = WorkflowPlan(checkpoint.name, size, size, "euler", "normal")
                direct.run(build_workflow(request.replace(steps=1), plan))  # loaded
                ours_s, theirs_s = [], []
                for rep in range(2 if full else 1):
                    seed = 10 + rep
                    t0 = time.perf_counter()
                    engine.run(request.replace(seed=seed))
                    t1 = time.perf_counter()
                    direct.run(build_workflow(request.replace(seed=seed), plan))
                    ours_s.append(t1 - t0)
                    theirs_s.append(time.perf_counter() - t1)
            finally:
                server.stop()
            ratios[label] = median(ours_s) / median(theirs_s)
            lines.append(
                f"ComfyUI {label}: Overpaint {median(ours_s):.1f} s, ComfyUI "
                f"{median(theirs_s):.1f} s, ratio {ratios[label]:.2f}"
            )
    finally:
        engine.unload()
    ok = ratios["default"] <= 0.4 and ratios["--bf16-unet"] <= 0.9
    detail = (
        f"txt2img {size}², {steps} steps, SD 1.5-shaped checkpoint, {threads} torch threads "
        f"on both sides, Overpaint in auto precision ({engine.precision or 'auto'}); "
        + "; ".join(lines)
    )
    return Result("P24", "against ComfyUI on a CPU", ratios["default"],
                  "≤ 0.4 (default), ≤ 0.9 (--bf16-unet)", ok, detail)  # fmt: skip


def measure_p19(ctx: Context) -> Result:
    from engine.comfy.engine import ComfyEngine

    servers = _servers(ctx, 2)
    try:
        urls = [s.url for s in servers]
        for url in urls:
            ComfyEngine([url]).run(_request(1))  # each server loads the checkpoint
        one, two = [], []
        for rep in range(max(1, ctx.profile.reps // 2)):
            seed = 1000 + 100 * rep
            t0 = time.perf_counter()
            ComfyEngine(urls[:1]).run(_request(seed, 8))
            t1 = time.perf_counter()
            ComfyEngine(urls).run(_request(seed + 50, 8))
            t2 = time.perf_counter()
            one.append(t1 - t0)
            two.append(t2 - t1)
        value = median(one) / median(two)
        detail = (
            f"8 samples of txt2img {SIZE}² {STEPS} steps: one server {median(one):.1f} s, two "
            f"{median(two):.1f} s; one torch thread per server on a 2-core machine shared "
            "with the client, so 2.0 is the ceiling"
        )
        return Result("P19", "two-server throughput", value, "report", True, detail)
    finally:
        for server in servers:
            server.stop()
