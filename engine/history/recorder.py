"""The hooks that put generations into the history: the CLI's, and the editor's.

The CLI records once its files are written (`record_cli_results`). The editor records every candidate as it arrives and marks the
accepted one kept; `BackgroundRecorder` does that work (thumbnail, input pictures,
transaction) on a thread of its own, so the UI thread only copies the pixels and queues
a closure.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.history.config import history_enabled, open_history
from engine.history.store import HistoryStore
from engine.request import GenerationInputs, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)


def record_cli_results(
    results: Sequence[GenerationResult],
    paths: Sequence[Path],
    base: np.ndarray | None = None,
    store: HistoryStore | None = None,
    inputs: GenerationInputs | None = None,
    backdrop: np.ndarray | None = None,
) -> str | None:
    """The CLI's hook, once its files are written: each sample recorded as kept, with its
    file, all in one transaction; the one warning sentence to print, else None.

    ``base`` is the input picture the patches were laid on (img2img/inpaint): the
    thumbnail shows the whole written picture, and it is kept with ``inputs`` so
    `overpaint history rerun` can replay the entry; ``backdrop`` is a picture for the
    thumbnail only. Does nothing when history is off in Settings (or OVERPAINT_HISTORY=0).
    A store passed in stays open.

    (Preparing the entries on a thread while the PNG is written was tried: on a busy
    machine the thread's GIL hand-offs cost the job more than the thumbnail it hid.)
    """
    own = store is None
    store = store or open_history()
    if store is None:
        return None
    try:
        pending = [
            store.prepare(
                res.request, res.rgba, path, kept=True, at=(res.x, res.y),
                backdrop=backdrop, inputs=inputs, base=base,
            )
            for res, path in zip(results, paths, strict=True)
        ]  # fmt: skip
        if pending:
            store.insert(pending)
        return store.take_warning()
    finally:
        if own:
            store.close()


class Ticket:
    """A queued record; ``id`` is filled in once the background thread has stored it."""

    __slots__ = ("id",)

    def __init__(self) -> None:
        self.id: int | None = None


class BackgroundRecorder:
    """Records on its own thread, in order, so the caller never waits for the disk.

    `record` returns a Ticket at once (one that stays empty while history is off); `mark_kept(ticket)` and `set_path(ticket, ...)`
    queued after it run after it. Warnings reach ``on_warning``, and ``on_changed`` is
    called once each queued change is stored (so a list of entries can show it), both on
    the recorder's thread (a Qt signal emitted there is delivered on the UI thread).
    """

    def __init__(
        self,
        store: HistoryStore | None = None,
        on_warning: Callable[[str], None] | None = None,
        enabled: Callable[[], bool] | None = None,
        on_changed: Callable[[], None] | None = None,
    ) -> None:
        self.on_changed = on_changed
        # Asked at each record, so turning history off in Settings takes effect at once.
        self.enabled = enabled or history_enabled
        self.store = store if store is not None else open_history(force=True)
        if on_warning is not None:
            self.store.on_warning = on_warning
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def _submit(self, job: Callable[[], None]) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="history-recorder", daemon=True
                )
                self._thread.start()
        self._queue.put(job)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                job()
                if self.on_changed is not None:
                    self.on_changed()
            except Exception:  # the store never raises for the database; this is a bug
                log.exception("recording a generation failed")
            finally:
                self._queue.task_done()

    def record(
        self,
        request: GenerationRequest,
        rgba: np.ndarray | None,
        path: Path | str | None = None,
        kept: bool = False,
        *,
        at: tuple[int, int] = (0, 0),
        backdrop: Callable[[], np.ndarray | None] | None = None,
        inputs: GenerationInputs | None = None,
    ) -> Ticket:
        """Queue one sample: ``rgba`` laid at ``at`` on what ``backdrop()`` returns (the
        whole picture, made on the recorder's thread) makes the thumbnail; ``inputs``
        (the job's pictures, which nobody paints into) are kept for replay."""
        ticket = Ticket()
        if not self.enabled():
            return ticket
        # The caller may paint into its array later: keep our own copy.
        pixels = None if rgba is None else np.array(rgba, copy=True)

        def job() -> None:
            shown = None
            if backdrop is not None:
                try:
                    shown = backdrop()
                except Exception:  # the thumbnail then shows the patch alone
                    log.exception("the picture behind a history thumbnail failed")
            ticket.id = self.store.record(
                request, pixels, path=path, kept=kept, at=at, backdrop=shown, inputs=inputs
            )

        self._submit(job)
        return ticket

    def mark_kept(self, ticket: Ticket, kept: bool = True) -> None:
        self._submit(lambda: ticket.id is not None and self.store.mark_kept(ticket.id, kept))

    def set_path(self, ticket: Ticket, path: Path | str | None) -> None:
        self._submit(lambda: ticket.id is not None and self.store.set_path(ticket.id, path))

    def flush(self) -> None:
        """Wait until everything queued so far is stored."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Finish the queue, stop the thread and close the database."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self.store.close()
