"""The editor's one way to run work off the UI thread (engine jobs aside: those go through
the window's job coordinator, editor/ui/jobs.py).

`run_in_background(work, on_done=..., on_error=..., on_progress=...)` runs `work(task)` on
a thread of its own and calls the callbacks on the UI thread: `on_progress(value)` for
each `task.report(value)`, then `on_done(result)` or `on_error(exception)`. Work that can
stop early looks at `task.cancelled()`; `task.cancel()` asks it to, and from then on no
callback of that task runs, so a superseded task never touches what replaced it. With an
`owner` QObject, callbacks stop once the owner is deleted (a dialog closed while the work
ran): no callback reaches a dead widget.

Callers that must have the result before they go on (a save behind a busy dialog) use
`task.wait()` and `task.result()` instead of, or beside, the callbacks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")

# Tasks whose last delivery has not reached the UI thread yet: the UI thread drops them,
# so their relay (a QObject of the UI thread) is never deleted by the worker thread.
_live: set[BackgroundTask[Any]] = set()


class _Relay(QObject):
    """Lives on the UI thread; its signals, emitted by the worker, are queued onto it."""

    progress = Signal(object)
    ended = Signal()


class BackgroundTask(Generic[T]):
    """One piece of work on its own thread. Created by `run_in_background`."""

    def __init__(
        self,
        work: Callable[[BackgroundTask[T]], T],
        on_done: Callable[[T], None] | None,
        on_error: Callable[[BaseException], None] | None,
        on_progress: Callable[[Any], None] | None,
        owner: QObject | None,
        name: str,
    ) -> None:
        self._work = work
        self._on_done, self._on_error, self._on_progress = on_done, on_error, on_progress
        self._owner = owner
        self._stop = threading.Event()
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        app = QCoreApplication.instance()
        self._relay = _Relay()
        if app is not None and self._relay.thread() is not app.thread():
            raise RuntimeError("run_in_background must be called on the UI thread")
        self._relay.progress.connect(self._deliver_progress)
        self._relay.ended.connect(self._deliver_end)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # -- the worker thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._value = self._work(self)
        except BaseException as exc:  # handed to the UI thread, never lost
            self._error = exc
        finally:
            self._done.set()
            self._relay.ended.emit()

    def report(self, value: Any) -> None:
        """From the work: hand `value` to `on_progress` on the UI thread."""
        if not self._stop.is_set():
            self._relay.progress.emit(value)

    def cancelled(self) -> bool:
        """Whether the work should stop: cancel() was called."""
        return self._stop.is_set()

    # -- the UI thread -------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask the work to stop; no callback of this task runs after this call."""
        self._stop.set()

    def is_running(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work has ended (True) or `timeout` seconds passed (False)."""
        return self._done.wait(timeout)

    def result(self) -> T:
        """The work's return value, or its exception raised here; only once it has ended."""
        if not self._done.is_set():
            raise RuntimeError("the background work has not ended yet")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def _wanted(self) -> bool:
        if self._stop.is_set():
            return False
        return self._owner is None or shiboken6.isValid(self._owner)

    def _deliver_progress(self, value: object) -> None:
        if self._on_progress is not None and self._wanted():
            self._on_progress(value)

    def _deliver_end(self) -> None:
        # The worker is past its last line: joining takes no time, and afterwards no
        # reference to this task (and its relay) is left on that thread to be dropped there.
        self._thread.join()
        _live.discard(self)
        if not self._wanted():
            return
        if self._error is not None:
            if self._on_error is not None:
                self._on_error(self._error)
            else:
                log.error("background work failed", exc_info=self._error)
        elif self._on_done is not None:
            self._on_done(self._value)  # type: ignore[arg-type]

    def _start(self) -> None:
        _live.add(self)
        self._thread.start()


def run_in_background(
    work: Callable[[BackgroundTask[T]], T],
    on_done: Callable[[T], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    *,
    owner: QObject | None = None,
    name: str = "overpaint-background",
) -> BackgroundTask[T]:
    """Start `work(task)` on a thread of its own; callbacks run on the UI thread.

    Call it on the UI thread. A failure with no `on_error` goes to the log."""
    task = BackgroundTask(work, on_done, on_error, on_progress, owner, name)
    task._start()
    return task
