"""P5: launching Overpaint until its main window has painted ÷ `import torch, diffusers`.

Both are fresh child processes started the same way, interleaved; the window's side
ends when the child prints that its first paint is done (tests/bench/startup_probe.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.bench.common import Context, Result, median
from tests.bench.startup_probe import SHOWN_MARKER

TIMEOUT_S = 120


def _launch_window(torch_seen: list[str]) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.startup_probe"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        for line in proc.stdout:
            if line.startswith(SHOWN_MARKER):
                seconds = time.perf_counter() - t0
                torch_seen.append(line.split()[-1])
                break
        else:
            raise RuntimeError(f"the window never showed (exit status {proc.wait()})")
    finally:
        try:
            proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return seconds


def _import_torch_diffusers() -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import torch, diffusers"],
        check=True,
        timeout=TIMEOUT_S,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def measure_p5(ctx: Context) -> Result:
    reps = ctx.profile.p5_reps
    torch_seen: list[str] = []
    _launch_window(torch_seen)  # warm-up: file caches, .pyc files
    _import_torch_diffusers()
    app, imports = [], []
    for _ in range(reps):
        app.append(_launch_window(torch_seen))
        imports.append(_import_torch_diffusers())
    ratio = min(app) / min(imports)
    detail = (
        "fresh process running Overpaint's entry point (editor.app.main, offscreen) until its "
        'main window has painted ÷ a fresh `python -c "import torch, diffusers"`; best of '
        f"{reps} interleaved runs each after a warm-up"
    )
    extra = [
        f"window shown: best {min(app):.2f} s, median {median(app):.2f} s; import torch, "
        f"diffusers: best {min(imports):.2f} s, median {median(imports):.2f} s",
        f"when the window had painted: {torch_seen[-1]}",
    ]
    return Result("P5", "start-up", ratio, "≤ 0.5", ratio <= 0.5, detail, extra)
