"""Borrowing the window's loaded model for a training run (see engine.training.shared_model).

The copy that shares the weights must be made on the engine's thread, between jobs (a job
may be applying LoRAs or wrapping the UNet), so it is queued there as an engine task; the
training thread waits for it. A job still running delays the training's start until it
ends; cancelling the training meanwhile stops the wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from editor.ui.jobs import JobCoordinator, JobKind
from engine.core.errors import Cancelled
from engine.training.shared_model import borrow

# cancel() -> the borrowed pipeline, or None: load a copy of the model.
Waiter = Callable[[Callable[[], bool]], Any]


def borrow_loaded_model(
    jobs: JobCoordinator, model: str, device: str | None, precision: str = "auto"
) -> Waiter | None:
    """Queue the borrowing on the window's engine thread now; call the result to wait.

    None when the window has no engine yet (no model loaded) or generates on ComfyUI
    servers: no local model to borrow (and an engine task would switch the worker to a
    local engine and back)."""
    if not jobs.has_client() or jobs.servers():
        return None
    box: dict[str, Any] = {}
    done = threading.Event()

    def task(engine: Any, _progress: Any, _cancel: Any) -> list:
        try:
            box["pipe"] = borrow(engine, model, device, precision)
        finally:
            done.set()
        return []

    job = jobs.submit_task(JobKind.TRAIN, task)

    def wait(cancel: Callable[[], bool]) -> Any:
        while not done.wait(0.1):
            if cancel():
                jobs.cancel(job)
                raise Cancelled("Training cancelled before it started.")
        return box.get("pipe")

    return wait
