"""When Live mode runs a job: Krita AI Diffusion's LiveScheduler rules.

- at most one live job in flight;
- the newest canvas state wins: a settled newer state (no stroke in progress) cancels
  the running job, whose result would be out of date anyway;
- results older than the one on screen are dropped;
- mid-stroke, a job starts only after the stroke has run 0.5 s (long strokes update);
- when jobs are slow (median of the last five over 1.5 s) a new job waits for a 0.25 s
  pause in the changes, but never more than 3 s, so a long stroke does not start a job
  per dab. The first job after Live starts is not counted: it loads the model (seconds),
  and counting it held the next five strokes back by the pause (jobs of 0.12 s after it);
- nothing runs when nothing changed.

LivePolicy is the rule book, a plain class with the clock passed in (unit-testable);
LiveScheduler drives it from a QTimer on the UI thread.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer

GRACE_S = 0.25
SLOW_JOB_S = 1.5
MAX_WAIT_S = 3.0
# Mid-stroke, a job starts only once the stroke has gone on this long: a short stroke's
# job would be cancelled at the release anyway, and would delay the one that counts.
STROKE_UPDATE_S = 0.5
TICK_MS = 30


class LivePolicy:
    """Versions of the canvas state, the job in flight, and what is on screen."""

    def __init__(self) -> None:
        self.version = 0  # the newest input state (bumped on every change)
        self.submitted_version = -1  # the state the last job was built from
        self.shown_version = -1  # the state of the result on screen
        self.in_flight: int | None = None
        self.cancelling = False
        self._job_versions: dict[int, int] = {}
        self._job_started: dict[int, float] = {}
        self._durations: deque[float] = deque(maxlen=5)
        self._warming_up = True  # the next job to finish is the first since Live started
        self._last_change = 0.0
        self._pending_since: float | None = None

    @property
    def dirty(self) -> bool:
        return self.version > self.submitted_version

    @property
    def typical_job_s(self) -> float:
        # The median: one job that loads a model does not make Live wait for pauses.
        return statistics.median(self._durations) if self._durations else 0.0

    def changed(self, now: float) -> None:
        self.version += 1
        self._last_change = now
        if self._pending_since is None:
            self._pending_since = now

    def due(self, now: float, settled: bool = True) -> bool:
        """Whether to build and submit a job now (`settled`: no stroke in progress)."""
        if not self.dirty or self.in_flight is not None:
            return False
        waited = now - (self._pending_since if self._pending_since is not None else now)
        if not settled and waited < STROKE_UPDATE_S:
            return False
        if self.typical_job_s <= SLOW_JOB_S:
            return True
        return now - self._last_change >= GRACE_S or waited >= MAX_WAIT_S

    def should_cancel(self, settled: bool) -> bool:
        """Cancel the running job: a newer state exists and the user has finished the
        stroke that made it (mid-stroke, the running job is the next picture to show)."""
        if self.in_flight is None or self.cancelling or not settled:
            return False
        return self.version > self._job_versions.get(self.in_flight, self.version)

    def submitted(self, job_id: int, now: float) -> None:
        self.in_flight = job_id
        self.cancelling = False
        self._job_versions[job_id] = self.version
        self._job_started[job_id] = now
        self.submitted_version = self.version
        self._pending_since = None

    def skipped(self, up_to_date: bool = True) -> None:
        """The state was looked at but needs no job: the result on screen was made from
        the same input (`up_to_date`), or there is nothing to make one from."""
        self.submitted_version = self.version
        if up_to_date and self.shown_version >= 0:
            self.shown_version = self.version
        self._pending_since = None

    def finished(self, job_id: int, now: float) -> bool:
        """A job's result arrived; True if it should replace what is on screen."""
        version = self._job_versions.pop(job_id, None)
        started = self._job_started.pop(job_id, None)
        if job_id == self.in_flight:
            self.in_flight = None
            self.cancelling = False
            if started is not None and not self._warming_up:
                self._durations.append(now - started)
            self._warming_up = False
        if version is None or version <= self.shown_version:
            return False  # not ours, or older than the result on screen
        self.shown_version = version
        return True

    def ended(self, job_id: int) -> None:
        """A job was cancelled or failed: no result from it."""
        # Cancelled from outside (the Cancel button) with nothing newer waiting, the
        # state stays "done": the next change starts the next job, not a retry loop.
        self._job_versions.pop(job_id, None)
        self._job_started.pop(job_id, None)
        if job_id == self.in_flight:
            self.in_flight = None
            self.cancelling = False

    def knows(self, job_id: int) -> bool:
        return job_id in self._job_versions

    def cancel_requested(self) -> None:
        self.cancelling = True

    def reset(self) -> None:
        """Live mode turned off: forget jobs, keep counting versions."""
        self._job_versions.clear()
        self._job_started.clear()
        self.in_flight = None
        self.cancelling = False
        self.shown_version = -1
        self.submitted_version = self.version - 1  # turning on again runs a job
        self._warming_up = True


class LiveScheduler(QObject):
    """Ticks the policy on the UI thread while Live mode is on.

    start_job() builds and submits a job for the current state and returns its id, or
    None when the state needs none (unchanged input, or no picture); cancel_job(id)
    cancels it; settled() says no stroke is in progress; poll() is called every tick and
    returns True when something outside the document changed (prompt, settings).
    """

    def __init__(
        self,
        start_job: Callable[[], int | None],
        cancel_job: Callable[[int], None],
        settled: Callable[[], bool] = lambda: True,
        poll: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.policy = LivePolicy()
        self._start_job, self._cancel_job = start_job, cancel_job
        self._settled, self._poll, self._clock = settled, poll, clock
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        self._tick_queued = False

    def is_running(self) -> bool:
        return self.timer.isActive()

    def start(self) -> None:
        self.policy.reset()
        self.timer.start()
        self.tick()

    def stop(self) -> None:
        self.timer.stop()
        if self.policy.in_flight is not None:
            self._cancel_job(self.policy.in_flight)
        self.policy.reset()

    def notice_change(self) -> None:
        self.policy.changed(self._clock())
        # Look again as soon as the event that changed the canvas is handled (a mouse
        # release ends the stroke): waiting for the next tick would add up to TICK_MS.
        if self.is_running() and not self._tick_queued:
            self._tick_queued = True
            QTimer.singleShot(0, self, self._queued_tick)

    def _queued_tick(self) -> None:
        self._tick_queued = False
        self.tick()

    def job_finished(self, job_id: int) -> bool:
        show = self.policy.finished(job_id, self._clock())
        if self.is_running():
            self.tick()  # the worker is free: start the next state at once
        return show

    def job_ended(self, job_id: int) -> None:
        self.policy.ended(job_id)
        if self.is_running():
            self.tick()

    def owns(self, job_id: int) -> bool:
        return self.policy.knows(job_id)

    def tick(self) -> None:
        if not self.is_running():
            return
        policy = self.policy
        if self._poll():
            policy.changed(self._clock())
        settled = self._settled()
        if policy.should_cancel(settled):
            assert policy.in_flight is not None
            policy.cancel_requested()
            self._cancel_job(policy.in_flight)
        if policy.due(self._clock(), settled):
            job_id = self._start_job()
            if job_id is None:
                policy.skipped()
            else:
                policy.submitted(job_id, self._clock())
