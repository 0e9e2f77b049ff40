"""P5: launching Overpaint until its main window has painted ÷ `import torch, diffusers`.

Both are fresh child processes started the same way, interleaved, and each is timed
from the start of the process to a line the child prints when its work is done (the
window's first paint: tests/bench/startup_probe.py; the imports: IMPORT_MARKER), so the
interpreter's teardown is outside both figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.bench.common import Context, Result, median, paired_ratio
from tests.bench.startup_probe import SHOWN_MARKER

TIMEOUT_S = 120
IMPORT_MARKER = "OVERPAINT-IMPORTED"
IMPORT_CODE = f"import torch, diffusers\nprint({IMPORT_MARKER!r}, flush=True)"


def _time_to_marker(args: list[str], marker: str, env: dict[str, str] | None = None):
    """Start `python ARGS`; (seconds until it printed a line starting with `marker`, line).

    The child is then left to exit on its own, untimed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        for line in proc.stdout:
            if line.startswith(marker):
                return time.perf_counter() - t0, line
        raise RuntimeError(f"{args[-1]!r} ended without {marker} (exit status {proc.wait()})")
    finally:
        proc.stdout.close()
        try:
            proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _launch_window(torch_seen: list[str]) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    seconds, line = _time_to_marker(["-m", "tests.bench.startup_probe"], SHOWN_MARKER, env)
    torch_seen.append(line.split()[-1])
    return seconds


def _import_torch_diffusers() -> float:
    return _time_to_marker(["-c", IMPORT_CODE], IMPORT_MARKER)[0]


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
        'main window has painted ÷ a fresh `python -c "import torch, diffusers"` until the '
        "imports are done, each timed to a line the child prints then (its teardown is not "
        f"counted); best of {reps} interleaved runs each after a warm-up"
    )
    extra = [
        f"window shown: best {min(app):.2f} s, median {median(app):.2f} s; import torch, "
        f"diffusers: best {min(imports):.2f} s, median {median(imports):.2f} s; "
        f"per-pair ratio median {paired_ratio(app, imports):.3f}",
        f"when the window had painted: {torch_seen[-1]}",
    ]
    return Result("P5", "start-up", ratio, "≤ 0.5", ratio <= 0.5, detail, extra)
