"""One job coordinator per window: every engine job the window runs goes through it.

Generate, Fill, Live, Upscale and the model borrowing that starts a training run all
submit here, each with its kind and the callbacks that want its news. The coordinator

- owns the window's EngineClient (engine.worker), created on the first job, so a window
  that never runs one starts no thread;
- pushes the user's Settings (CPU threads, ComfyUI servers) onto the client before every
  job and whenever Settings change, so every kind of job runs where the user chose, not
  where the last Generate left the client;
- routes each job's signals to the callbacks it was submitted with: no submitter sees,
  or has to filter out, another's job ids.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from editor.ui.servers.page import configured_servers
from editor.ui.settings import Settings
from engine.request import GenerationInputs, GenerationRequest

if TYPE_CHECKING:
    from engine.training.settings import TrainingSettings
    from engine.worker import EngineClient, EngineTask


class JobKind(enum.Enum):
    GENERATE = "generate"
    FILL = "fill"  # classical fill: the Generate path without a model
    LIVE = "live"
    UPSCALE = "upscale"  # an engine task on the local engine
    TRAIN = "train"  # a training run borrowing the loaded model (an engine task)


# Tasks run on the local engine whatever the servers (engine.worker runs them there).
TASK_KINDS = frozenset({JobKind.UPSCALE, JobKind.TRAIN})


@dataclass(frozen=True)
class JobEvents:
    """What a submitter hears about its own jobs; every callback gets the job id first.
    Signal order per job as engine.worker documents it: started, progress*, then one of
    finished / failed / cancelled."""

    started: Callable[[int], None] | None = None
    progress: Callable[[int, int, int, object], None] | None = None  # id, step, total, preview
    finished: Callable[[int, object], None] | None = None  # id, the results
    failed: Callable[[int, str], None] | None = None  # id, one sentence for the user
    cancelled: Callable[[int], None] | None = None


@dataclass(frozen=True)
class _Job:
    kind: JobKind
    events: JobEvents


class JobCoordinator(QObject):
    """The window's engine client, its settings and the routing of its jobs' signals."""

    # job id, JobKind, the servers it was queued for (() : this process); after queueing.
    submitted = Signal(int, object, tuple)

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._client: EngineClient | None = None
        self._jobs: dict[int, _Job] = {}

    # Client --------------------------------------------------------------------------
    @property
    def client(self) -> EngineClient:
        """The engine client, created (with its thread) on first use."""
        if self._client is None:
            from engine.worker import EngineClient  # the window opens without the engine

            client = EngineClient(self, extra_dirs=self.settings.model_dirs)
            client.started.connect(self._on_started)
            client.progress.connect(self._on_progress)
            client.finished.connect(self._on_finished)
            client.failed.connect(self._on_failed)
            client.cancelled.connect(self._on_cancelled)
            self._client = client
            self.apply_settings()
        return self._client

    def has_client(self) -> bool:
        return self._client is not None

    def apply_settings(self) -> None:
        """Push Settings onto the client: the next job of every kind uses them. Called
        before each job and when the Settings dialog is accepted."""
        client = self._client
        if client is None:
            return  # the client reads them when it is created
        client.cpu_threads = self.settings.cpu_threads
        client.servers = configured_servers(self.settings)  # Settings > Servers
        client.extra_dirs = tuple(self.settings.model_dirs)  # Settings > Models

    def servers(self) -> tuple[tuple[str, str], ...]:
        """The ComfyUI servers (url, token) generations run on now; (): this process."""
        return configured_servers(self.settings)

    def training_settings(self, settings: TrainingSettings) -> TrainingSettings:
        """`settings` on the device, CPU threads, CPU precision and model folders Settings
        name now: a training run is a job of this window too, though it runs on its own
        thread."""
        device = self.settings.device
        return dataclasses.replace(
            settings,
            device=None if device == "auto" else device,
            threads=self.settings.cpu_threads,
            extra_dirs=tuple(self.settings.model_dirs),
            precision=self.settings.precision,
        )

    # Jobs ----------------------------------------------------------------------------
    def submit(
        self,
        kind: JobKind,
        request: GenerationRequest,
        inputs: GenerationInputs | None = None,
        events: JobEvents | None = None,
    ) -> int:
        """Queue a generation of `kind`; its signals go to `events`. RuntimeError once
        the window has shut the engine down."""
        client = self.client
        self.apply_settings()
        job_id = client.submit(request, inputs)
        return self._queued(job_id, kind, events, client.servers)

    def submit_task(self, kind: JobKind, task: EngineTask, events: JobEvents | None = None) -> int:
        """Queue an engine task (see engine.worker.EngineTask) of `kind`: same thread and
        loaded model as generations, always the local engine."""
        client = self.client
        self.apply_settings()
        return self._queued(client.submit_task(task), kind, events, ())

    def _queued(self, job_id: int, kind: JobKind, events: JobEvents | None, servers: tuple) -> int:
        self._jobs[job_id] = _Job(kind, events or JobEvents())
        self.submitted.emit(job_id, kind, tuple(servers))
        return job_id

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel one job, or (None) the running job and every queued one."""
        if self._client is not None:
            self._client.cancel(job_id)

    def is_busy(self, *kinds: JobKind) -> bool:
        """Whether a job (of one of `kinds`; none given: of any kind) waits or runs."""
        return any(not kinds or job.kind in kinds for job in self._jobs.values())

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel all jobs and stop the engine thread (window close); True if it stopped."""
        self._jobs.clear()
        if self._client is None:
            return True
        return self._client.shutdown(timeout_ms)

    # Routing ---------------------------------------------------------------------------
    def _events(self, job_id: int, last: bool = False) -> JobEvents | None:
        job = self._jobs.pop(job_id, None) if last else self._jobs.get(job_id)
        return job.events if job is not None else None

    def _on_started(self, job_id: int) -> None:
        events = self._events(job_id)
        if events is not None and events.started is not None:
            events.started(job_id)

    def _on_progress(self, job_id: int, step: int, total: int, preview: Any) -> None:
        events = self._events(job_id)
        if events is not None and events.progress is not None:
            events.progress(job_id, step, total, preview)

    def _on_finished(self, job_id: int, results: object) -> None:
        events = self._events(job_id, last=True)
        if events is not None and events.finished is not None:
            events.finished(job_id, results)

    def _on_failed(self, job_id: int, message: str) -> None:
        events = self._events(job_id, last=True)
        if events is not None and events.failed is not None:
            events.failed(job_id, message)

    def _on_cancelled(self, job_id: int) -> None:
        events = self._events(job_id, last=True)
        if events is not None and events.cancelled is not None:
            events.cancelled(job_id)
