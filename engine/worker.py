"""EngineClient: the editor's handle on the engine, running jobs on a QThread.

The only engine module that touches Qt (QtCore only). torch and diffusers are imported
inside the worker thread on the first job, so the window never waits for them, and the
loaded model stays loaded between jobs.

Signal order per job: started, progress*, then exactly one of finished / failed /
cancelled; nothing is emitted for a job after that. A job cancelled while still queued
gets only `cancelled`. A cancel that arrives after the last step still discards the
result (the user asked for none).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from engine.core.errors import Cancelled, EngineError
from engine.request import GenerationInputs, GenerationRequest

log = logging.getLogger(__name__)
# Linux shows the first 15 characters as the OS thread name.
ENGINE_THREAD = "overpaint-engine"


# A job other than a generation (upscale): called on the engine thread with the Engine,
# a progress callback and a cancel check; what it returns is what `finished` carries.
EngineTask = Callable[[Any, Callable[[int, int, Any], None], Callable[[], bool]], object]


@dataclass
class _Job:
    job_id: int
    request: GenerationRequest | None
    inputs: GenerationInputs
    cancel: threading.Event = field(default_factory=threading.Event)
    task: EngineTask | None = None


_STOP = object()


# Engine threads that outlived their client's shutdown (a long step on a slow device).
_STILL_RUNNING: list[QThread] = []


def engine_threads_running() -> bool:
    """True while an engine thread from a shut-down client is still finishing a step."""
    return any(thread.isRunning() for thread in _STILL_RUNNING)


def _lower_thread_priority() -> None:
    """Nice this thread so the UI thread wins the CPU on small machines.

    QThread.setPriority has no effect under Linux's default scheduler; a per-thread nice
    value does, and torch's worker threads started from here inherit it (P3 benchmark:
    main-thread timer p99 ~16 -> ~12 ms on 2 cores, job time unchanged).
    """
    if hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            log.debug("could not lower the engine thread's priority", exc_info=True)


def cpu_threads_beside_ui(requested: int, torch_default: int, cpus: int | None) -> int:
    """Torch's intra-op threads for jobs that run beside the editor's UI thread.

    `requested` > 0 is used as is. Otherwise torch's default, but never every CPU: measured
    on 2 cores with the demo model, 2 threads run a job 1.8x faster than 1 while nothing
    else runs, and 2.7x slower as soon as something else takes a core (the user painting,
    another program), because each parallel region waits for its descheduled thread.
    """
    if requested > 0:
        return requested
    return max(1, min(torch_default, (cpus or torch_default) - 1))


_torch_default_threads: int | None = None  # torch's own choice, before any job changed it


def _apply_cpu_threads(requested: int) -> None:
    # On the engine thread: with torch's OpenMP backend the count is per calling thread.
    global _torch_default_threads
    import torch  # ~1.2 s to import: only when a job runs

    if _torch_default_threads is None:
        _torch_default_threads = torch.get_num_threads()
    wanted = cpu_threads_beside_ui(requested, _torch_default_threads, os.cpu_count())
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
        log.info("CPU jobs now use %d torch thread(s)", torch.get_num_threads())


class _WorkerThread(QThread):
    def __init__(self, client: EngineClient) -> None:
        super().__init__()
        self._client = client
        self.jobs: queue.Queue = queue.Queue()
        self.engine = None  # created in this thread on the first job
        # What self.engine was made for: the ComfyUI servers ((): local) and model folders.
        self._made_for: tuple = ()

    def run(self) -> None:
        _lower_thread_priority()
        try:
            while True:
                job = self.jobs.get()
                if job is _STOP:
                    return
                if job.cancel.is_set():
                    self._client.cancelled.emit(job.job_id)
                    continue
                self._run_job(job)
        finally:
            if self.engine is not None:
                self.engine.unload()

    def _run_job(self, job: _Job) -> None:
        client = self._client
        client.started.emit(job.job_id)

        def on_progress(step: int, total: int, preview) -> None:
            client.progress.emit(job.job_id, step, total, preview)

        try:
            # Tasks (upscale) run here on the local engine; generations where the user chose.
            servers = () if job.task is not None else tuple(client.servers)
            made_for = (servers, tuple(client.extra_dirs))
            if self.engine is None or made_for != self._made_for:
                # First job: this is where torch/diffusers get imported. Inside the try, so
                # a broken install fails the job with a message instead of ending the thread.
                # A changed server list or models folder (Settings) switches engines before
                # the next job.
                from engine.backends import make_engine

                if self.engine is not None:
                    self.engine.unload()
                self.engine, self._made_for = make_engine(made_for[1], servers), made_for
            _apply_cpu_threads(client.cpu_threads)
            if job.task is not None:
                results = job.task(self.engine, on_progress, job.cancel.is_set)
            else:
                results = self.engine.run(job.request, job.inputs, on_progress, job.cancel.is_set)
        except Cancelled:
            client.cancelled.emit(job.job_id)
            return
        except EngineError as e:
            log.warning("job %d failed: %s", job.job_id, e)
            client.failed.emit(job.job_id, str(e))
            return
        except BaseException as e:  # the worker must survive anything a job
            # does; a library's sys.exit() here used to end the thread and hang the UI.
            log.exception("job %d crashed", job.job_id)
            client.failed.emit(
                job.job_id,
                f"Unexpected engine error ({type(e).__name__}); see the log for details.",
            )
            return
        if job.cancel.is_set():
            client.cancelled.emit(job.job_id)
        else:
            client.finished.emit(job.job_id, results)


class EngineClient(QObject):
    """Queue generation jobs on a background thread and get their results as signals."""

    started = Signal(int)
    progress = Signal(int, int, int, object)  # job id, step, total, HxWx3 uint8 or None
    finished = Signal(int, object)  # job id, list[GenerationResult]
    failed = Signal(int, str)  # job id, one user-facing sentence
    cancelled = Signal(int)

    def __init__(
        self,
        parent: QObject | None = None,
        extra_dirs: Sequence[Path] = (),
        cpu_threads: int = 0,
        servers: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(parent)
        # Torch's CPU threads for the next job (0: automatic, see cpu_threads_beside_ui).
        self.cpu_threads = cpu_threads
        # ComfyUI servers ((url, token) pairs) the next job runs on; empty: this process.
        self.servers: tuple[tuple[str, str], ...] = tuple(servers)
        # Extra models folders (Settings) the next job looks in, beside the standard ones.
        self.extra_dirs: tuple[Path, ...] = tuple(Path(d) for d in extra_dirs)
        self._ids = itertools.count(1)
        self._pending: dict[int, _Job] = {}
        self._thread = _WorkerThread(self)
        self._thread.setObjectName(ENGINE_THREAD)
        self._thread.start()
        self._closed = False
        for sig in (self.finished, self.failed):
            sig.connect(self._forget)
        self.cancelled.connect(self._forget)

    def submit(self, request: GenerationRequest, inputs: GenerationInputs | None = None) -> int:
        if self._closed:
            raise RuntimeError("EngineClient was shut down")
        job = _Job(next(self._ids), request, inputs or GenerationInputs())
        self._pending[job.job_id] = job
        self._thread.jobs.put(job)
        return job.job_id

    def submit_task(self, task: EngineTask) -> int:
        """Queue a task (see EngineTask) like a job: same thread, loaded model, signals."""
        if self._closed:
            raise RuntimeError("EngineClient was shut down")
        job = _Job(next(self._ids), None, GenerationInputs(), task=task)
        self._pending[job.job_id] = job
        self._thread.jobs.put(job)
        return job.job_id

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel one job, or (None) the running job and every queued one."""
        jobs = list(self._pending.values()) if job_id is None else [self._pending.get(job_id)]
        for job in jobs:
            if job is not None:
                job.cancel.set()

    def is_busy(self) -> bool:
        return bool(self._pending)

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel everything, stop the thread and wait for it; True if it stopped in time."""
        if self._closed:
            return True
        self._closed = True
        self.cancel(None)
        self._thread.jobs.put(_STOP)
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            # Expected when the window closes during an import or a model load.
            log.warning("engine thread did not stop within %d ms", timeout_ms)
            # Destroying a running QThread aborts the process: keep it referenced.
            _STILL_RUNNING.append(self._thread)
        return bool(stopped)

    def _forget(self, job_id: int, *_args: object) -> None:
        self._pending.pop(job_id, None)
