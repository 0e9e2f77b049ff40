"""What every measure shares: the result record, the run profile, statistics, waiting.

Each measure is a ratio (or a figure) taken side by side in the same run, because the
machines are shared and noisy; medians over interleaved repetitions keep a passing
neighbour's burst from deciding the number.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Result:
    """One measure's outcome; `extra` lines go into the Markdown report only."""

    key: str
    title: str
    value: float
    target: str
    ok: bool
    detail: str
    extra: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        value = float(self.value)
        return {
            "value": round(value, 4) if math.isfinite(value) else None,
            "target": self.target,
            "ok": bool(self.ok),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Profile:
    """Sizes and repetitions; `smoke` is for the pytest smoke test (seconds, not minutes)."""

    name: str
    reps: int  # timed repetitions per side of a ratio
    p1_sizes: tuple[int, ...] = (256, 512)
    p1_steps: int = 10
    p1_reps: int = 5
    p2_canvases: tuple[int, int] = (8192, 512)
    p2_mask: int = 256
    p2_steps: int = 5
    p2_reps: int = 5
    p3_size: int = 512
    p3_steps: int = 25
    p4_size: int = 4096
    p4_layers: tuple[int, ...] = (1, 10, 20)
    p4_dabs: int = 60
    p5_reps: int = 3
    p6_size: int = 256
    p6_steps: int = 3
    p7_size: int = 4096
    p7_layers: int = 8
    p7_strokes: int = 100
    p8_size: int = 4096
    p8_layers: int = 10


PROFILES = {
    "quick": Profile("quick", reps=3, p1_steps=8, p4_dabs=300),
    "full": Profile(
        "full",
        reps=7,
        p1_reps=9,
        p2_reps=9,
        p4_dabs=1000,
        p5_reps=7,
        p2_steps=10,
        p3_steps=40,
        p6_size=512,
    ),
    "smoke": Profile(
        "smoke",
        reps=1,
        p1_sizes=(64,),
        p1_steps=2,
        p1_reps=1,
        p2_canvases=(1024, 512),
        p2_mask=64,
        p2_steps=2,
        p2_reps=1,
        p3_size=64,
        p3_steps=3,
        p4_size=512,
        p4_layers=(1, 3),
        p4_dabs=8,
        p5_reps=1,
        p6_size=64,
        p6_steps=1,
        p7_size=512,
        p7_layers=2,
        p7_strokes=5,
        p8_size=256,
        p8_layers=2,
    ),
}


@dataclass
class Context:
    """What the measures get: the profile, a scratch folder and lazily built models."""

    profile: Profile
    work: Path
    _models: dict[str, Path] = field(default_factory=dict)

    def model(self, kind: str = "tiny") -> Path:
        """A random-weight SD1.x diffusers folder ("tiny" or the heavier "weights")."""
        if kind not in self._models:
            from tests.bench.models import build_model

            self._models[kind] = build_model(self.work / "models" / kind, kind)
        return self._models[kind]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Median of the per-repetition ratios a_i / b_i, each pair timed back to back.

    A burst from another program slows both sides of the pair it lands in, so the pair's
    ratio keeps its value; best-of-each-side would set two different moments against
    each other.
    """
    if len(numerators) != len(denominators):
        raise ValueError(f"{len(numerators)} vs {len(denominators)} repetitions: not paired")
    return median([a / b for a, b in zip(numerators, denominators, strict=True)])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100), the ceil(q/100 * n)-th smallest value: p99
    of 60 samples is the largest, of 300 the 4th largest, of 1000 the 11th largest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def wait_for_signal(signals: Sequence[Any], timeout_s: float) -> tuple[Any, ...] | None:
    """Run a Qt event loop until one of `signals` fires; its arguments, or None on timeout.

    An event loop (not a processEvents spin) so the main thread sleeps while the engine
    thread works: on two cores a spinning main thread would slow the job it times.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    got: list[tuple[Any, ...]] = []

    def done(*args: Any) -> None:
        got.append(args)
        loop.quit()

    for sig in signals:
        sig.connect(done)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(int(timeout_s * 1000))
    try:
        if not got:
            loop.exec()
    finally:
        timer.stop()
        for sig in signals:
            sig.disconnect(done)
    return got[0] if got else None
