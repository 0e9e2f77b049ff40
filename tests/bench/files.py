"""P8: saving a big layered project (.ora) against Krita exporting the same document.

Our side is editor.io.project.save_ora (the writer behind File > Save). Krita's side is
`xvfb-run -a krita IN.ora --export --export-filename OUT.ora` with a fresh HOME, which
includes Krita's start-up; so Krita also exports a tiny document the same way, and the
figure sets our save against Krita's own work: its export minus that bare start-up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tests.bench.common import Context, Result, timed

if TYPE_CHECKING:
    from editor.model import Document

KRITA_TIMEOUT_S = 600
MIB = 2**20


def painting(size: int, n_layers: int, seed: int = 0) -> Document:
    """A document that looks like work in progress: an opaque gradient background with
    mild grain, and layers of soft-edged coloured shapes over parts of the canvas."""
    from editor.model import Document

    rng = np.random.default_rng(seed)
    doc = Document(size, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    grain = rng.normal(0, 4, (256, 256)).astype(np.float32)
    grain = np.tile(grain, (size // 256 + 1, size // 256 + 1))[:size, :size]
    bg = np.empty((size, size, 4), np.uint8)
    for c, ramp in enumerate((xx * 200 + 30, yy * 180 + 40, (xx + yy) * 90 + 20)):
        bg[..., c] = np.clip(ramp + grain, 0, 255)
    bg[..., 3] = 255
    doc.add_layer("Background", rgba=bg)
    for i in range(1, n_layers):
        alpha = np.zeros((size, size), np.float32)
        for _ in range(6):
            cx, cy = rng.uniform(0, 1, 2)
            rx, ry = rng.uniform(0.04, 0.2, 2)
            d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
            alpha = np.maximum(alpha, np.clip((1.2 - d) * 3, 0, 1))
        rgba = np.empty((size, size, 4), np.uint8)
        colour = rng.uniform(0, 255, 3)
        for c in range(3):
            rgba[..., c] = np.clip(colour[c] + 60 * (xx - 0.5) + grain, 0, 255)
        rgba[..., 3] = (alpha * 255).astype(np.uint8)
        doc.add_layer(f"Shapes {i}", rgba=rgba, opacity=0.8 if i % 3 == 0 else 1.0)
    doc.reset_history()
    return doc


def krita_export(source: Path, target: Path, home: Path) -> float:
    """Seconds for one headless Krita export (fresh HOME), start-up included."""
    if shutil.which("krita") is None or shutil.which("xvfb-run") is None:
        raise RuntimeError("needs Debian krita and xvfb-run (packaging/install-system-deps.sh)")
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    cmd = ["xvfb-run", "-a", "krita", str(source), "--export", "--export-filename", str(target)]
    t0 = time.perf_counter()
    with open(home / "krita.log", "wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=KRITA_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    seconds = time.perf_counter() - t0
    # Krita exits 0 even when it could not export: judge by the file.
    if not target.is_file() or target.stat().st_size == 0:
        tail = (home / "krita.log").read_text(errors="replace")[-800:]
        raise RuntimeError(f"Krita wrote no {target.name}: {tail}")
    return seconds


def measure_p8(ctx: Context) -> Result:
    from editor.io.project import save_ora

    prof = ctx.profile
    size, n_layers = prof.p8_size, prof.p8_layers
    folder = ctx.work / "p8"
    folder.mkdir(parents=True, exist_ok=True)
    doc = painting(size, n_layers)
    ours_path = folder / "ours.ora"
    ours = [timed(lambda: save_ora(doc, ours_path, keep_backup=False))[0]]
    tiny_path = folder / "tiny.ora"
    save_ora(painting(64, 1), tiny_path, keep_backup=False)
    bare = krita_export(tiny_path, folder / "tiny-krita.ora", folder / "home-bare")
    krita = krita_export(ours_path, folder / "krita.ora", folder / "home-big")
    if prof.reps > 3:  # a second save after Krita (the full profile only: it takes a while)
        ours.append(timed(lambda: save_ora(doc, ours_path, keep_backup=False))[0])
    best = min(ours)
    work = krita - bare  # what Krita spends on this document, beyond starting up
    ratio = best / work if work > 0 else float("inf")
    detail = (
        f"editor.io.project.save_ora of a {size}² {n_layers}-layer document (gradient "
        f"background, soft shapes) ÷ Krita's own work exporting the same document to .ora "
        f"(headless export {krita:.2f} s minus its bare start-up {bare:.2f} s, the same "
        f"export of a 64² one-layer .ora); ours: best of {len(ours)} save(s) next to the "
        "Krita runs"
    )
    if work <= 0:
        detail = f"cannot judge: Krita's export took no longer than its bare start-up; {detail}"
    extra = [
        f"our save {best:.2f} s ({ours_path.stat().st_size / MIB:.0f} MiB); Krita export "
        f"{krita:.2f} s ({(folder / 'krita.ora').stat().st_size / MIB:.0f} MiB), of which "
        f"{work:.2f} s beyond its bare start-up",
        f"ours ÷ Krita's whole export, start-up included: {best / krita:.2f}",
    ]
    ok = work > 0 and ratio <= 1.0
    return Result("P8", "project save", ratio, "≤ 1.0", ok, detail, extra)
