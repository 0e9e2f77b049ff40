"""Short soak runs (the long ones: `python -m tests.soak`, see README)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.soak import soak_jobs, soak_painting

JOBS = int(os.environ.get("OVERPAINT_SOAK_JOBS", "30"))
DABS = int(os.environ.get("OVERPAINT_SOAK_DABS", "2000"))


def test_jobs_and_cancels_keep_memory_flat_and_leave_no_thread(
    qapp, small_model: Path, one_torch_thread
) -> None:  # noqa: ANN001
    report = soak_jobs(small_model, jobs=JOBS, cancels=max(JOBS // 4, 2), warmup=8)
    print(
        f"{report.jobs} jobs + {report.cancels} cancels in {report.seconds:.1f} s, "
        f"RSS {report.rss_after_warmup / 2**20:.0f} -> {report.rss_end / 2**20:.0f} MiB "
        f"({report.rss_growth:+.2%}), OS threads {report.os_threads_before} -> "
        f"{report.os_threads_after}"
    )
    assert report.problems() == []
    assert report.cancelled == report.cancels and report.finished == report.jobs
    # The OS threads still there after shutdown are torch's pool (named after the engine
    # thread that started them), created once per process: a second client adds none.
    again = soak_jobs(small_model, jobs=4, cancels=2, warmup=1)
    assert again.problems() == []
    assert again.os_threads_after == report.os_threads_after


def test_painting_with_undo_redo_stays_under_the_undo_cap() -> None:
    report = soak_painting(DABS, cap_mb=1.0, side=384)
    print(
        f"{report.dabs} dabs in {report.strokes} strokes, {report.undos} undos, "
        f"{report.redos} redos, history max {report.max_undo_bytes / 2**20:.2f} MiB "
        f"(cap {report.cap_bytes / 2**20:.0f}), RSS {report.rss_growth:+.2%}"
    )
    assert report.dabs >= DABS
    assert report.problems() == []
    assert report.undos > 0 and report.redos > 0
