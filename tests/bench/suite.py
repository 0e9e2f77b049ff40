"""Runs the measures and writes the JSON and the Markdown report (see tests/bench/__init__)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from tests.bench.common import PROFILES, Context, Result

TARGETS = {
    "P1": ("engine overhead", "≤ 1.05"),
    "P2": ("region cost", "≤ 1.3"),
    "P3": ("UI smoothness", "p99 ≤ 12 ms, max ≤ 25 ms"),
    "P4": ("brush latency", "p99 ≤ 8 ms; ≥ 10× faster than a whole-canvas composite"),
    "P5": ("start-up", "≤ 0.5"),
    "P6": ("shared weights", "≤ 1.05"),
    "P7": ("undo memory", "≤ 64 MiB"),
    "P8": ("project save", "≤ 1.0"),
    "P10": ("seamless removal", "≤ 0.25"),
    "P11": ("live latency", "≤ 0.1"),
    "P12": ("UI smoothness while live", "p99 ≤ 12 ms, max ≤ 25 ms"),
    "P13": ("upscale edges", "≤ 0.5 px"),
    "P14": ("upscale memory", "≤ 1.2"),
    "P15": (
        "train your own",
        "≤ 600 s training; stars in ≥ 80% of held-out prompts, none without; "
        "base colour/position/background kept ≥ 90%; ≤ 5 MB",
    ),
    "P16": ("history search", "p99 ≤ 20 ms"),
    "P17": ("history recording cost", "≤ 5 ms"),
    "P18": ("ComfyUI overhead", "≤ 1.10"),
    "P19": ("two-server throughput", "report"),
    "P20": ("seamless outpaint", "≤ 6"),
    "P9": ("demo model, 20 steps", "report"),
    "P23": ("CPU precision speed-up", "≤ 0.35"),
    "P24": ("against ComfyUI on a CPU", "≤ 0.4 (default), ≤ 0.9 (--bf16-unet)"),
    "P25": ("share of the processor", "report (aim ≥ 0.5)"),
    "P26": ("bf16 quality gates", "≤ 1 case per metric; scribble scores equal; P10 unchanged"),
    "P22": ("Select Object", "≥ 0.90 median IoU; wand identical; click ≤ 0.3 s"),
    "P21": ("Edit of a selection", "≤ 1.10, outside bit-identical"),
    # Issue 24 calls this one P20, which was already seamless outpaint's.
    "P27": ("FLUX-family engine overhead", "≤ 1.05"),
    "P28": (
        "regional prompts",
        "≥ 0.9 of two-region layouts right; the scene's prompt alone does worse",
    ),
    "P29": ("reference picture cost", "≤ 1.10"),
}


def _isolate_environment(work: Path) -> None:
    """No hub, no screen, and settings/models/recovery files away from the user's."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["OVERPAINT_DATA_DIR"] = str(work / "userdata")
    os.environ["XDG_CONFIG_HOME"] = str(work / "config")


def _measures() -> dict[str, Callable[[Context], Result]]:
    from tests.bench import (
        comfy,
        cpu_speed,
        engine_cost,
        files,
        history,
        live,
        modern,
        outpaint,
        paint,
        precision_quality,
        references,
        regions,
        seamless,
        select_objects,
        startup,
        training,
        ui_cost,
        upscale,
    )

    return {
        "P1": engine_cost.measure_p1,
        "P2": ui_cost.measure_p2,
        "P3": ui_cost.measure_p3,
        "P4": paint.measure_p4,
        "P5": startup.measure_p5,
        "P6": engine_cost.measure_p6,
        "P7": paint.measure_p7,
        "P8": files.measure_p8,
        "P10": seamless.measure_p10,
        "P20": outpaint.measure_p20,
        # P17 reuses the database P16 builds.
        "P16": history.measure_p16,
        "P17": history.measure_p17,
        "P11": live.measure_p11,
        "P12": live.measure_p12,
        "P13": upscale.measure_p13,
        "P14": upscale.measure_p14,
        "P15": training.measure_p15,
        # Start real ComfyUI servers (packaging/comfyui.sh builds them once per machine).
        "P18": comfy.measure_p18,
        "P19": comfy.measure_p19,
        "P9": cpu_speed.measure_p9,
        "P23": cpu_speed.measure_p23,
        "P24": comfy.measure_p24,
        "P25": cpu_speed.measure_p25,
        "P26": precision_quality.measure_p26,
        "P22": select_objects.measure_p22,
        "P21": modern.measure_p21,
        "P27": modern.measure_p27,
        "P28": regions.measure_p28,
        "P29": references.measure_p29,
    }


def _failed(key: str, error: BaseException) -> Result:
    title, target = TARGETS[key]
    text = f"{type(error).__name__}: {error}".strip().splitlines()[0][:300]
    return Result(key, title, math.nan, target, False, f"the measure failed: {text}")


def markdown(results: list[Result], profile: str, seconds: float) -> str:
    lines = [
        "# Overpaint benchmarks",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}, profile `{profile}`, "
        f"{os.cpu_count()} CPU(s), Python {platform.python_version()}, {seconds:.0f} s in all.",
        "Every figure is taken side by side in the same run (shared, noisy machine).",
        "",
        "| id | what | value | target | ok |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        value = f"{r.value:.3g}" if math.isfinite(r.value) else "—"
        lines.append(f"| {r.key} | {r.title} | {value} | {r.target} | {'yes' if r.ok else 'NO'} |")
    lines.append("")
    for r in results:
        lines += [f"## {r.key} {r.title}", "", r.detail, ""]
        lines += [f"- {line}" for line in r.extra]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the few-minute run (default: full)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (for the pytest test)")
    parser.add_argument("--json", type=Path, required=True, help="JSON output (report: .md)")
    parser.add_argument("--only", default="", help="comma-separated ids, e.g. P1,P4")
    parser.add_argument("--work", type=Path, help="scratch folder kept between runs")
    args = parser.parse_args(argv)
    profile = PROFILES["smoke" if args.smoke else "quick" if args.quick else "full"]
    keys = [k.strip().upper() for k in args.only.split(",") if k.strip()] or list(TARGETS)
    unknown = [k for k in keys if k not in TARGETS]
    if unknown:
        parser.error(f"unknown measure(s): {', '.join(unknown)}")

    work = args.work or Path(tempfile.mkdtemp(prefix="overpaint-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    _isolate_environment(work)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from PySide6.QtWidgets import QApplication

    _app = QApplication.instance() or QApplication(sys.argv[:1])
    measures = _measures()
    ctx = Context(profile, work)
    results: list[Result] = []
    start = time.perf_counter()
    try:
        for key in keys:
            t0 = time.perf_counter()
            print(f"{key} {TARGETS[key][0]} …", file=sys.stderr, flush=True)
            try:
                result = measures[key](ctx)
            except Exception as e:  # one broken measure must not hide the others
                traceback.print_exc()
                result = _failed(key, e)
            results.append(result)
            print(
                f"{key} = {result.value:.4g} (target {result.target}, "
                f"{'ok' if result.ok else 'MISSED'}) in {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - start
    args.json.parent.mkdir(parents=True, exist_ok=True)
    data = {r.key: r.to_json() for r in results}
    args.json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report = args.json.with_suffix(".md")
    report.write_text(markdown(results, profile.name, seconds), encoding="utf-8")
    print(f"wrote {args.json} and {report}", file=sys.stderr)
    return 0
