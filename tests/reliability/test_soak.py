"""Short soak runs (the long ones: `python -m tests.soak`, see README)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from engine.worker import ENGINE_THREAD
from tests.soak import os_threads, soak_jobs, soak_painting, this_os_thread, wait_for_exit

JOBS = int(os.environ.get("OVERPAINT_SOAK_JOBS", "30"))
DABS = int(os.environ.get("OVERPAINT_SOAK_DABS", "2000"))


def test_jobs_and_cancels_keep_memory_flat_and_leave_no_thread(
    qapp, small_model: Path, one_torch_thread
) -> None:
    report = soak_jobs(small_model, jobs=JOBS, cancels=max(JOBS // 4, 2), warmup=8)
    print(
        f"{report.jobs} jobs + {report.cancels} cancels in {report.seconds:.1f} s, "
        f"RSS {report.rss_after_warmup / 2**20:.0f} -> {report.rss_end / 2**20:.0f} MiB "
        f"({report.rss_growth:+.2%}), OS threads {report.os_threads_before} -> "
        f"{report.os_threads_after}, new and alive: {report.os_threads_new}"
    )
    assert report.problems() == []
    assert report.cancelled == report.cancels and report.finished == report.jobs
    # Torch may keep a thread pool started from the engine thread (and named after it)
    # once per process; a second client must leave no further engine thread behind.
    # Other threads in the process (Qt's pool, earlier tests) come and go on their own,
    # so the check is by name, not by the process-wide count.
    again = soak_jobs(small_model, jobs=4, cancels=2, warmup=1)
    assert again.problems() == []
    assert [n for n in again.os_threads_new if n.startswith(ENGINE_THREAD[:15])] == []


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


def test_thread_check_sees_a_running_qthread_and_its_exit(qapp) -> None:
    """The soak's verdict on the engine thread: alive while it runs, gone once it ended,
    judged by OS identity (id and start time), not by threading's table."""
    from PySide6.QtCore import QThread

    release = threading.Event()
    seen: list = []

    class Held(QThread):
        def run(self) -> None:
            seen.append(this_os_thread())
            release.wait(30)

    thread = Held()
    thread.start()
    try:
        while not seen:
            thread.wait(10)
        (key,) = seen
        assert key in os_threads()
        assert wait_for_exit({key}, timeout_s=0.2) == {key}
    finally:
        release.set()
        assert thread.wait(10000)
    assert wait_for_exit({key}) == set()
    # The kernel may give its id to a new thread; the key (id, start time) stays unique.
    assert key not in os_threads()
