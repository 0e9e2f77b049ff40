"""P26: the CPU precision policy's quality gates (issue 26), bf16 against fp32 on a CPU.

- The demo model's held-out evaluation (engine.demo.evaluate: the 100 held-out scenes,
  Euler a, 20 steps, CFG 7, seeds 0..99, at its native 128²): for each metric, how many
  cases pass in one precision and fail in the other. Gate: ≤ 1 per metric. The full
  profile also runs the evaluation's other sections (2x size, img2img, inpaint; 50 cases
  each) and reports their differences.
- The scribble ControlNet's held-out evaluation (engine.demo.evaluate_control: 100 follow
  scribbles, 50 override squares). Gate: every score equal; differences are reported.
- P10 (tests/bench/seamless) with Overpaint's precision pinned to fp32 and to bf16.
  Gate: P10 holds in bf16 and its mean removal error is within 0.5 levels of fp32's.

bf16 means what the local Engine does on a CPU: every module in bfloat16, the ControlNet
too (engine.core.precision says why it is not kept in fp32), UNet, VAE and ControlNet
channels_last. The value is the worst per-metric count of differing cases over the gated
figures.
"""

from __future__ import annotations

import json
from typing import Any

from tests.bench.common import Context, Result

PRECISIONS = ("fp32", "bf16")
DEMO_GATE = 1  # cases per metric
P10_TOLERANCE = 0.5  # levels (0-255) of mean removal error
Cases = dict[str, list[dict[str, bool]]]
TARGET = "≤ 1 case per metric; scribble scores equal; P10 unchanged"


def _demo_cases(precision: str, count: int, full: bool) -> tuple[dict[str, Any], Cases]:
    import torch

    from engine.demo.evaluate import evaluate, load_pipeline
    from engine.models import resolve_model

    info = resolve_model("")  # the bundled demo model
    pipe = load_pipeline(info.path, precision, device="cpu")
    native = json.loads((info.path / "overpaint.json").read_text())["native_resolution"]
    cases: Cases = {}
    with torch.inference_mode():
        results = evaluate(pipe, native, full=full, count=count, cases=cases)
    results.pop("_native_images")
    return results, cases


def _control_cases(precision: str, count: int) -> tuple[dict[str, Any], Cases]:
    from engine.control.models import discover_controls
    from engine.demo.evaluate_control import evaluate_control
    from engine.models import resolve_model

    (control,) = [c for c in discover_controls() if c.name == "overpaint-demo-scribble"]
    cases: Cases = {}
    results = evaluate_control(resolve_model("").path, control.path, count, precision, cases)
    results.pop("_images")
    return results, cases


def differences(a: list[dict[str, bool]], b: list[dict[str, bool]]) -> dict[str, tuple]:
    """metric -> (passes in a, passes in b, cases whose pass/fail differs)."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} vs {len(b)} cases")
    keys = a[0].keys() if a else ()
    return {
        k: (
            sum(x[k] for x in a),
            sum(y[k] for y in b),
            sum(x[k] != y[k] for x, y in zip(a, b, strict=True)),
        )
        for k in keys
    }


def _rows(label: str, diffs: dict[str, tuple], total: int) -> list[str]:
    return [
        f"{label} {k}: fp32 {p32}/{total}, bf16 {p16}/{total}, {flips} case(s) differ"
        for k, (p32, p16, flips) in diffs.items()
    ]


def _demo_gate(full: bool, count: int, extra: list[str]) -> int:
    """Worst per-metric count of differing cases in the held-out (native) section."""
    demo = {p: _demo_cases(p, count, full) for p in PRECISIONS}
    worst = 0
    for section, a in demo["fp32"][1].items():
        diffs = differences(a, demo["bf16"][1][section])
        extra += _rows(f"demo {section}", diffs, len(a))
        if section == "native":
            worst = max(flips for _, _, flips in diffs.values())
    if full:
        kept = [demo[p][0]["inpaint"]["left_mean_abs_diff"] for p in PRECISIONS]
        extra.append(f"demo inpaint, left half kept: mean |diff| fp32 {kept[0]:.2f}, "
                     f"bf16 {kept[1]:.2f}")  # fmt: skip
    return worst


def _control_gate(count: int, extra: list[str]) -> tuple[int, bool]:
    """(worst per-metric count of differing cases, every score equal)."""
    control = {p: _control_cases(p, count) for p in PRECISIONS}
    worst, equal = 0, True
    for section in ("follow", "override"):
        a = control["fp32"][1][section]
        diffs = differences(a, control["bf16"][1][section])
        extra += _rows(f"scribble {section}", diffs, len(a))
        # The baselines without the control say how the plain model moved; not scores.
        scored = [v for k, v in diffs.items() if not k.startswith("without_control")]
        worst = max(worst, *(flips for _, _, flips in scored))
        equal &= all(p32 == p16 for p32, p16, _ in scored)
    distances = [control[p][0]["follow"]["median_centre_distance"] for p in PRECISIONS]
    extra.append(f"scribble follow, median centre distance: fp32 {distances[0]:.4f}, "
                 f"bf16 {distances[1]:.4f}")  # fmt: skip
    return worst, equal


def _p10_gate(ctx: Context, extra: list[str]) -> tuple[dict[str, Result], dict, bool]:
    from tests.bench.seamless import measure_p10

    results, figures = {}, {}
    for p in PRECISIONS:
        figures[p] = {}
        results[p] = measure_p10(ctx, precision=p, figures=figures[p])
        extra.append(f"P10 {p}: {results[p].value:.3f} ({'ok' if results[p].ok else 'missed'})"
                     f"; {results[p].detail}")  # fmt: skip
        extra += [f"P10 {p}, {row}" for row in results[p].extra]
    change = abs(figures["bf16"]["ours"] - figures["fp32"]["ours"])
    return results, figures, results["bf16"].ok and change <= P10_TOLERANCE


def measure_p26(ctx: Context) -> Result:
    smoke, full = ctx.profile.name == "smoke", ctx.profile.name == "full"
    demo_count, control_count = (4, 4) if smoke else (100, 100 if full else 40)
    extra: list[str] = []
    demo_worst = _demo_gate(full, demo_count, extra)
    control_worst, control_equal = _control_gate(control_count, extra)
    p10, figures, p10_ok = _p10_gate(ctx, extra)
    ok = demo_worst <= DEMO_GATE and control_equal and p10_ok
    f32, b16 = figures["fp32"], figures["bf16"]
    detail = (
        "bf16 (every module, the ControlNet too) vs fp32 on this CPU. Demo held-out "
        f"evaluation, {demo_count} cases: at most "
        f"{demo_worst} case(s) differ per metric (gate ≤ {DEMO_GATE}). Scribble ControlNet, "
        f"{control_count} + {control_count // 2} cases: scores "
        f"{'equal' if control_equal else 'differ'} (at most {control_worst} case(s) per "
        f"metric). P10 fp32 {p10['fp32'].value:.3f}, bf16 {p10['bf16'].value:.3f}; mean "
        f"removal error {f32['ours']:.2f} vs {b16['ours']:.2f} (seam band {f32['ours_band']:.2f}"
        f" vs {b16['ours_band']:.2f}): {'unchanged' if p10_ok else 'changed'} (gate: P10 holds "
        f"in bf16, error within {P10_TOLERANCE} levels)."
    )
    worst = max(demo_worst, control_worst)
    return Result("P26", "bf16 quality gates", float(worst), TARGET, ok, detail, extra)
