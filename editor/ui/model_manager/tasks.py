"""Model manager work off the GUI thread: planning an install (which may ask a hub),
transferring it, and moving a model to the trash all run on a QThread, so the Models
dialog keeps painting and its Cancel button keeps answering."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QThread, Signal

from engine.core.errors import Cancelled, EngineError
from engine.model_manager.transfer import CancelFn, Progress, ProgressFn

log = logging.getLogger(__name__)

# work(progress, cancel) -> result; raises EngineError (one sentence) or Cancelled.
Work = Callable[[ProgressFn, CancelFn], object]


class ModelTask(QThread):
    """Runs one piece of `work` once. Exactly one of `succeeded`, `failed`, `cancelled`
    is emitted before the thread finishes; `progress` comes as often as the transfer
    reports (at most ten times a second)."""

    progress = Signal(object)  # Progress
    succeeded = Signal(object)  # what `work` returned
    failed = Signal(str)  # one sentence for the user
    cancelled = Signal(str)

    def __init__(self, work: Work, parent=None) -> None:
        super().__init__(parent)
        self._work = work
        self._stop = threading.Event()

    def start(self, *args: object) -> None:
        """Start, and be cancelled and waited for when the application quits."""
        _track(self)
        super().start(*args)

    def cancel(self) -> None:
        self._stop.set()

    def run(self) -> None:
        def report(p: Progress) -> None:
            self.progress.emit(p)

        try:
            result = self._work(report, self._stop.is_set)
        except Cancelled as e:
            self.cancelled.emit(str(e))
        except EngineError as e:
            self.failed.emit(str(e))
        except OSError as e:
            # A disk or permission problem outside the transfer (e.g. the models folder
            # is read-only): still one sentence, never a traceback in a dialog.
            self.failed.emit(f"{e.strerror or e}: {e.filename or ''}".rstrip(": ") + ".")
        except Exception as e:  # a bug: keep the dialog alive and say so
            log.exception("model task failed")
            self.failed.emit(f"Unexpected error ({type(e).__name__}: {e}); see the log.")
        else:
            self.succeeded.emit(result)


# Every running task, so that quitting the application cancels and waits for them (a
# transfer or a training run must not outlive the window, nor be killed mid-write).
_RUNNING: set[ModelTask] = set()
QUIT_WAIT_MS = 60_000


def _track(task: ModelTask) -> None:
    app = QCoreApplication.instance()
    if app is not None and not app.property("overpaintModelTasksGuard"):
        app.setProperty("overpaintModelTasksGuard", True)
        app.aboutToQuit.connect(stop_all)
    _RUNNING.add(task)
    task.finished.connect(lambda: _RUNNING.discard(task))


def stop_all() -> None:
    for task in list(_RUNNING):
        task.cancel()
        task.wait(QUIT_WAIT_MS)
