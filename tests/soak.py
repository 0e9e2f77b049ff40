"""Soak runs: many jobs through the real worker, many brush dabs with undo/redo cycles.

The long versions (the numbers issue 6 asks for) run from the command line:

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.soak            # 200 jobs + 50 cancels, 10,000 dabs
    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.soak --jobs 40 --cancels 10 --dabs 2000

It prints the measurements and exits 1 when a limit is broken: resident memory after the
warm-up grows by more than 5 %, a thread is left running, a job ends wrongly, the undo
history exceeds its cap, or undo/redo does not restore exact pixels. The short versions
run in the suite (tests/reliability/test_soak.py) through the same functions.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RSS_GROWTH_LIMIT = 0.05


def rss_bytes() -> int:
    import psutil

    gc.collect()
    return psutil.Process().memory_info().rss


def _task_key(task: Path) -> tuple[int, int] | None:
    """(thread id, start time in clock ticks since boot) of one /proc task, None if gone.

    The kernel hands a dead thread's id to the next thread it starts, so an id alone may
    name a newer thread; together with the start time it names exactly one thread.
    """
    try:
        stat = (task / "stat").read_text()
    except OSError:  # the thread ended while we looked
        return None
    # Field 22 (starttime); fields are counted after the name, which may hold spaces.
    return int(task.name), int(stat[stat.rindex(")") + 2 :].split()[19])


def os_threads() -> dict[tuple[int, int], str]:
    """(thread id, start time) -> kernel name of every OS thread in this process."""
    out = {}
    for task in Path("/proc/self/task").iterdir():
        key = _task_key(task)
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        if key is not None:
            out[key] = name
    return out


def this_os_thread() -> tuple[int, int] | None:
    """The os_threads() key of the calling thread."""
    return _task_key(Path(f"/proc/self/task/{threading.get_native_id()}"))


def wait_for_exit(keys: set[tuple[int, int]], timeout_s: float = 10.0) -> set[tuple[int, int]]:
    """Those of `keys` still alive after up to `timeout_s`.

    QThread.wait() returns once run() has returned, a moment before the OS thread is gone.
    """
    deadline = time.monotonic() + timeout_s
    while (alive := keys & os_threads().keys()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return alive


def wait_until(condition: Callable[[], bool], timeout_s: float = 120.0) -> bool:
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        QCoreApplication.processEvents()
        time.sleep(0.001)
    return True


@dataclass
class _RssSpan:
    """Resident memory once warmed up and at the end of a soak run."""

    rss_after_warmup: int = 0
    rss_end: int = 0

    @property
    def rss_growth(self) -> float:
        return self.rss_end / self.rss_after_warmup - 1.0 if self.rss_after_warmup else 0.0


# ---------------------------------------------------------------- jobs


@dataclass
class JobSoak(_RssSpan):
    jobs: int = 0
    cancels: int = 0
    finished: int = 0
    cancelled: int = 0
    failed: list[str] = field(default_factory=list)
    os_threads_before: int = 0
    os_threads_after: int = 0
    # OS threads born during the run and still alive after shutdown, by kernel name.
    os_threads_new: list[str] = field(default_factory=list)
    worker_stopped: bool = False
    # Threads started during the run and alive after shutdown: the engine's OS thread,
    # Python threads, and threads no one accounts for that ran Python code.
    threads_left: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def problems(self) -> list[str]:
        out = []
        if self.failed:
            out.append(f"{len(self.failed)} jobs failed: {self.failed[:3]}")
        if self.finished != self.jobs:
            out.append(f"{self.finished} of {self.jobs} jobs finished")
        if self.cancelled != self.cancels:
            out.append(f"{self.cancelled} of {self.cancels} cancels took effect")
        if self.rss_growth > RSS_GROWTH_LIMIT:
            out.append(f"RSS grew {self.rss_growth:.1%} after warm-up")
        if not self.worker_stopped:
            out.append("the engine's QThread did not finish")
        if self.threads_left:
            out.append(f"a thread was left running: {self.threads_left}")
        return out


def soak_jobs(model: Path, jobs: int, cancels: int, warmup: int = 10) -> JobSoak:
    """`jobs` finished jobs plus `cancels` cancelled ones, interleaved, on one EngineClient."""
    from PySide6.QtCore import QCoreApplication, Qt

    from engine.request import GenerationRequest
    from engine.worker import EngineClient

    QCoreApplication.instance() or QCoreApplication([])
    report = JobSoak(jobs=jobs, cancels=cancels)
    tids_before = os_threads()
    report.os_threads_before = len(tids_before)
    threads_before = set(threading.enumerate())
    client = EngineClient()
    # Who the engine thread is, asked from inside it (a direct connection runs the slot in
    # the emitting thread): its OS identity, and the "Dummy" entry threading gives it.
    engine_os: set[tuple[int, int]] = set()
    engine_py: set[threading.Thread] = set()

    def identify(_job: int) -> None:
        engine_py.add(threading.current_thread())
        key = this_os_thread()
        if key is not None:
            engine_os.add(key)

    client.started.connect(identify, Qt.ConnectionType.DirectConnection)
    ends: dict[int, str] = {}
    client.finished.connect(lambda j, _r: ends.setdefault(j, "finished"))
    client.failed.connect(lambda j, m: ends.setdefault(j, f"failed: {m}"))
    client.cancelled.connect(lambda j: ends.setdefault(j, "cancelled"))
    first_step: set[int] = set()
    client.progress.connect(lambda j, *_a: first_step.add(j))
    base = GenerationRequest(
        mode="txt2img", prompt="soak", model=str(model), steps=2, width=64, height=64,
        watermark=False, scheduler="DDIM",
    )  # fmt: skip
    started = time.perf_counter()

    def one(seed: int, cancel: bool) -> str:
        job = client.submit(base.replace(seed=seed, steps=40 if cancel else 2))
        if cancel:
            # Half the cancels hit a running job, half a job still in the queue.
            if seed % 2 and not wait_until(lambda: job in first_step or job in ends):
                return "timeout"
            client.cancel(job)
        return ends[job] if wait_until(lambda: job in ends) else "timeout"

    try:
        for i in range(warmup):
            one(i, cancel=False)
        report.rss_after_warmup = rss_bytes()
        every = max(jobs // max(cancels, 1), 1)
        done_jobs = done_cancels = 0
        seed = warmup
        while done_jobs < jobs or done_cancels < cancels:
            cancel = done_cancels < cancels and (
                done_jobs % every == every - 1 or done_jobs >= jobs
            )
            outcome = one(seed, cancel)
            seed += 1
            if cancel:
                done_cancels += 1
                report.cancelled += outcome == "cancelled"
                if outcome not in ("cancelled", "finished"):
                    report.failed.append(outcome)
            else:
                done_jobs += 1
                report.finished += outcome == "finished"
                if outcome != "finished":
                    report.failed.append(outcome)
        report.rss_end = rss_bytes()
    finally:
        client.shutdown(60000)
        QCoreApplication.processEvents()
    # The engine's QThread answers for itself; its OS thread must be gone too.
    report.worker_stopped = client._thread.isFinished() and not client._thread.isRunning()
    left = [f"engine OS thread {tid}" for tid, _start in sorted(wait_for_exit(engine_os))]
    if not engine_os:
        left.append("the engine thread (never seen: no job started, nothing to judge)")
    after = os_threads()
    report.os_threads_after = len(after)
    report.os_threads_new = sorted(n for k, n in after.items() if k not in tids_before)
    # threading keeps a "Dummy" entry for every foreign thread that ran Python, alive or
    # not, and its native id may since belong to another thread: only real Thread objects
    # can say whether they run. The engine's dummy is judged above, by its QThread and OS
    # identity; any other new dummy is a thread nobody here accounts for.
    for thread in set(threading.enumerate()) - threads_before - engine_py:
        if isinstance(thread, threading._DummyThread):
            left.append(f"{thread.name} (a thread the soak did not start ran Python)")
        elif thread.is_alive():
            left.append(thread.name)
    report.threads_left = sorted(left)
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------- painting


@dataclass
class PaintSoak(_RssSpan):
    dabs: int = 0
    strokes: int = 0
    undos: int = 0
    redos: int = 0
    cap_bytes: int = 0
    max_undo_bytes: int = 0
    steps_dropped: bool = False
    exact_undo_redo: bool = True
    seconds: float = 0.0

    def problems(self) -> list[str]:
        out = []
        if self.max_undo_bytes > self.cap_bytes:
            out.append(f"history held {self.max_undo_bytes} bytes, cap {self.cap_bytes}")
        if not self.steps_dropped:
            out.append("the undo cap was never reached (the run proves nothing)")
        if not self.exact_undo_redo:
            out.append("undo/redo did not restore exact pixels")
        # Memory may grow by what the history is allowed to hold, nothing more.
        allowed = self.rss_after_warmup * RSS_GROWTH_LIMIT + self.cap_bytes
        if self.rss_end - self.rss_after_warmup > allowed:
            out.append(f"RSS grew {self.rss_growth:.1%} after warm-up")
        return out


def soak_painting(dabs: int, cap_mb: float = 2.0, side: int = 512, seed: int = 0) -> PaintSoak:
    """Paint until `dabs` brush dabs have landed, with undo/redo cycles between strokes."""
    import editor.tools.brush as brush
    from editor.model.document import Document
    from editor.tools.brush import BrushSettings, BrushTool

    report = PaintSoak(cap_bytes=int(cap_mb * 1024 * 1024))
    doc = Document(side, side, undo_limit_mb=cap_mb)
    doc.add_layer("Paint", rgba=np.full((side, side, 4), 255, np.uint8))
    doc.reset_history()
    rng = np.random.default_rng(seed)
    real_stamp = brush.stamp
    count = [0]

    def counting_stamp(*args, **kwargs):
        count[0] += 1
        return real_stamp(*args, **kwargs)

    brush.stamp = counting_stamp
    started = time.perf_counter()
    try:
        warm = max(dabs // 10, 1)
        while count[0] < dabs:
            if report.rss_after_warmup == 0 and count[0] >= warm:
                report.rss_after_warmup = rss_bytes()
            settings = BrushSettings(
                size=float(rng.integers(3, 40)),
                hardness=float(rng.uniform(0.1, 1.0)),
                opacity=float(rng.uniform(0.2, 1.0)),
                color=tuple(int(c) for c in rng.integers(0, 256, 3)),
            )
            tool = BrushTool(doc, settings)
            # Short strokes (tens of dabs each) so undo/redo cycles come often.
            start = rng.uniform(-10, side + 10, 2)
            points = start + np.cumsum(rng.uniform(-25, 25, (int(rng.integers(2, 6)), 2)), 0)
            tool.begin(*points[0], float(rng.uniform(0.2, 1)))
            for x, y in points[1:]:
                tool.move(x, y, float(rng.uniform(0.2, 1)))
            tool.end()
            report.strokes += 1
            report.max_undo_bytes = max(report.max_undo_bytes, doc.undo_bytes())
            if report.strokes % 7 == 0:
                _undo_redo_cycle(doc, rng, report)
    finally:
        brush.stamp = real_stamp
    report.dabs = count[0]
    # Every step still held can be undone and redone exactly.
    layer = doc.layers[0]
    final = layer.pixels.copy()
    while doc.undo():
        report.undos += 1
    while doc.redo():
        report.redos += 1
    report.exact_undo_redo &= bool(np.array_equal(layer.pixels, final))
    report.steps_dropped = doc.history.count() < report.strokes
    report.rss_end = rss_bytes()
    report.seconds = time.perf_counter() - started
    return report


def _undo_redo_cycle(doc, rng: np.random.Generator, report: PaintSoak) -> None:
    layer = doc.layers[0]
    before = layer.pixels.copy()
    n = int(rng.integers(1, 6))
    undone = sum(doc.undo() for _ in range(n))
    report.undos += undone
    redone = sum(doc.redo() for _ in range(undone))
    report.redos += redone
    report.exact_undo_redo &= bool(np.array_equal(layer.pixels, before))
    if rng.random() < 0.3:  # sometimes branch: undo, then paint over the redo steps
        report.undos += int(doc.undo())


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--cancels", type=int, default=50)
    parser.add_argument("--dabs", type=int, default=10_000)
    parser.add_argument("--undo-cap-mb", type=float, default=2.0)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch

    torch.set_num_threads(1)  # see tests/reliability/conftest.py: one thread is far faster here
    from tests.reliability.conftest import small_model_copy
    from tests.tiny_model import build_tiny_sd_folder

    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_sd_folder(Path(tmp) / "tiny")
        model = small_model_copy(tiny, Path(tmp) / "small")
        jobs = soak_jobs(model, args.jobs, args.cancels)
    print("jobs:", json.dumps(asdict(jobs) | {"rss_growth": round(jobs.rss_growth, 4)}))
    problems += jobs.problems()
    paint = soak_painting(args.dabs, args.undo_cap_mb)
    print("painting:", json.dumps(asdict(paint) | {"rss_growth": round(paint.rss_growth, 4)}))
    problems += paint.problems()
    for problem in problems:
        print("PROBLEM:", problem)
    print("soak passed" if not problems else "soak FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
