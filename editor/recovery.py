"""Autosave and crash recovery, without widgets.

While a document has unsaved changes, `Autosaver` writes it every few seconds (QSettings
"recovery/autosave_seconds", default 60) to the recovery folder under the per-user data
folder, as an ordinary OpenRaster file plus a small JSON sidecar naming the original file.

The UI thread only copies the layers' pixel arrays (a memcpy per layer, see `editor.model.snapshot`);
compositing, PNG encoding and the atomic write run on one background thread, so painting
never waits for the disk. The recovery file is deleted when the document is saved, closed
or replaced; after a crash (or a kill) it stays behind and `RecoveryStore.orphans()` finds
it on the next start.

Each running editor holds a QLockFile next to its recovery files. That is how an orphan is
told apart from the autosave of another Overpaint that is still running: a lock whose
process is gone is stale and can be taken, a live one cannot (QLockFile also checks the
process name, so a recycled PID does not hide a crashed session).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QTimer, Signal

from editor.io.errors import FileError
from editor.io.project import load_ora, save_ora
from editor.model.document import MAX_CANVAS_SIDE, Document
from editor.model.snapshot import DocumentSnapshot, document_from_snapshot, snapshot
from engine.core.atomic_write import atomic_write, remove_stale_temporaries
from engine.core.paths import user_data_dir

log = logging.getLogger(__name__)

SETTINGS_KEY = "recovery/autosave_seconds"
DEFAULT_INTERVAL_S = 60
META_VERSION = 1
# A recovery file is our own: never refuse to read one the canvas could hold.
_RECOVERY_MAX_PIXELS = MAX_CANVAS_SIDE * MAX_CANVAS_SIDE

Describe = Callable[[], tuple["Path | None", "str | None"]]


def recovery_dir() -> Path:
    return user_data_dir() / "recovery"


def autosave_interval_s(qsettings: object | None) -> float:
    """The autosave interval from QSettings (seconds; 0 or less turns autosave off)."""
    if qsettings is None:
        return DEFAULT_INTERVAL_S
    try:
        return float(qsettings.value(SETTINGS_KEY, DEFAULT_INTERVAL_S))
    except (TypeError, ValueError):
        return DEFAULT_INTERVAL_S


# ---------------------------------------------------------------- the folder


@dataclass(frozen=True)
class RecoveryEntry:
    """One recovery file left behind by an editor that did not close normally."""

    ora_path: Path
    meta_path: Path
    document_path: Path | None  # the project it came from (None: never saved as .ora)
    source_name: str | None
    saved_at: float  # seconds since the epoch
    width: int = 0
    height: int = 0

    @property
    def session(self) -> str:
        return self.ora_path.stem

    def describe(self) -> str:
        name = self.source_name or "an untitled picture"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        return f"{name} (autosaved {when})"


@dataclass
class RecoverySession:
    """This editor's own slot in the recovery folder, locked while it runs."""

    folder: Path
    session_id: str
    lock: QLockFile = field(repr=False)

    @property
    def ora_path(self) -> Path:
        return self.folder / f"{self.session_id}.ora"

    @property
    def meta_path(self) -> Path:
        return self.folder / f"{self.session_id}.json"

    def remove_files(self) -> None:
        for path in (self.meta_path, self.ora_path):
            path.unlink(missing_ok=True)

    def release(self) -> None:
        self.lock.unlock()


class RecoveryStore:
    """The recovery folder: this editor's session and the orphans of crashed ones."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else recovery_dir()

    def new_session(self) -> RecoverySession:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            # The editor must start anyway; each autosave then reports the problem.
            log.warning("cannot create the recovery folder %s: %s", self.folder, e)
        session_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        lock = QLockFile(str(self.folder / f"{session_id}.lock"))
        lock.setStaleLockTime(0)
        if not lock.tryLock(0):
            log.warning("cannot lock recovery session %s", session_id)
        return RecoverySession(self.folder, session_id, lock)

    def orphans(self) -> list[RecoveryEntry]:
        """Recovery files whose editor is no longer running, newest first."""
        if not self.folder.is_dir():
            return []
        self._sweep()
        found = []
        for meta_path in self.folder.glob("*.json"):
            entry = _read_entry(meta_path)
            if entry is None or not entry.ora_path.is_file():
                continue
            if _owner_running(self.folder / f"{entry.session}.lock"):
                continue
            found.append(entry)
        found.sort(key=lambda e: e.saved_at, reverse=True)
        return found

    def _sweep(self) -> None:
        """Drop what killed sessions leave besides their recovery file: a stale lock with
        nothing to recover, and half-written temporary files of an interrupted autosave."""
        for lock in self.folder.glob("*.lock"):
            if not lock.with_suffix(".json").exists():
                _owner_running(lock)  # taking a stale lock removes it
        for tmp in self.folder.glob(".*.tmp"):
            session = tmp.name[1:].split(".", 1)[0]
            if not _owner_running(self.folder / f"{session}.lock"):
                tmp.unlink(missing_ok=True)

    def load(self, entry: RecoveryEntry, warnings: list[str] | None = None) -> Document:
        """The recovered document (clean; the caller marks it modified). Raises FileError."""
        return load_ora(entry.ora_path, max_pixels=_RECOVERY_MAX_PIXELS, warnings=warnings)

    def discard(self, entry: RecoveryEntry) -> None:
        for path in (entry.meta_path, entry.ora_path, self.folder / f"{entry.session}.lock"):
            path.unlink(missing_ok=True)

    def adopt(self, entry: RecoveryEntry, session: RecoverySession) -> None:
        """Make an orphan's files this session's own, so a second crash still has them."""
        os.replace(entry.ora_path, session.ora_path)
        _write_meta(session, _read_meta(entry.meta_path) | {"pid": os.getpid()})
        entry.meta_path.unlink(missing_ok=True)
        (self.folder / f"{entry.session}.lock").unlink(missing_ok=True)


def _owner_running(lock_path: Path) -> bool:
    if not lock_path.exists():
        return False
    lock = QLockFile(str(lock_path))
    lock.setStaleLockTime(0)  # age alone must never make a running editor's lock stale
    if lock.tryLock(0):
        lock.unlock()  # the owner is gone; removing its lock is part of cleaning up
        return False
    if lock.error() != QLockFile.LockError.LockFailedError:
        return False  # cannot even be read: no live editor holds it
    pid = lock.getLockInfo()[0]
    if not pid:
        # A garbled lock (a crash mid-write, a full disk) names no process; Qt keeps
        # refusing it, which would hide the crashed session's work forever.
        lock_path.unlink(missing_ok=True)
        return False
    return True


def _read_meta(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_entry(meta_path: Path) -> RecoveryEntry | None:
    meta = _read_meta(meta_path)
    if meta.get("version") != META_VERSION:
        return None
    try:
        document = meta.get("document")
        return RecoveryEntry(
            ora_path=meta_path.with_suffix(".ora"),
            meta_path=meta_path,
            document_path=Path(document) if isinstance(document, str) else None,
            source_name=meta.get("source_name")
            if isinstance(meta.get("source_name"), str)
            else None,
            saved_at=float(meta.get("saved_at", 0.0)),
            width=int(meta.get("width", 0)),
            height=int(meta.get("height", 0)),
        )
    except (TypeError, ValueError):
        return None


def _write_meta(session: RecoverySession, meta: dict) -> None:
    with atomic_write(session.meta_path, keep_backup=False) as tmp:
        tmp.write_text(json.dumps(meta), encoding="utf-8")


def write_recovery(
    snap: DocumentSnapshot,
    session: RecoverySession,
    document_path: Path | None,
    source_name: str | None,
) -> None:
    """Write the snapshot as the session's recovery file (atomic; background thread).

    Also clears what a killed save of the document itself left beside it.
    """
    if document_path is not None:
        remove_stale_temporaries(document_path)
    document = document_from_snapshot(snap)
    save_ora(document, session.ora_path, keep_backup=False)
    meta = {
        "version": META_VERSION,
        "pid": os.getpid(),
        "document": str(document_path) if document_path is not None else None,
        "source_name": source_name,
        "saved_at": time.time(),
        "width": snap.width,
        "height": snap.height,
        "layers": len(snap.layers),
    }
    # The sidecar is written second: whenever it exists, a complete .ora exists too.
    _write_meta(session, meta)


# ---------------------------------------------------------------- the autosaver


class Autosaver(QObject):
    """Periodically writes the tracked document's unsaved state to the recovery folder.

    All public methods are for the UI thread. Writes run one at a time on a private
    thread; a tick that comes while the previous write still runs is skipped, so at most
    one snapshot is held in memory.
    """

    failed = Signal(str)  # a sentence for the status bar, emitted on the UI thread

    def __init__(
        self,
        store: RecoveryStore,
        interval_s: float = DEFAULT_INTERVAL_S,
        describe: Describe | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.session = store.new_session()
        self.describe = describe or (lambda: (None, None))
        self.last_error = ""
        self.writes = 0  # completed recovery writes, for the status bar and tests
        self._document: Document | None = None
        self._revision = 0  # bumped on every history change
        self._saved_revision = 0
        self._pending: Future | None = None  # the last write
        self._last: Future | None = None  # the last job of any kind (writes, removals)
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="overpaint-autosave")
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.autosave_now)
        self.set_interval(interval_s)

    def set_interval(self, seconds: float) -> None:
        self._timer.stop()
        if seconds > 0:
            self._timer.start(max(int(seconds * 1000), 100))

    @property
    def interval_ms(self) -> int:
        return self._timer.interval() if self._timer.isActive() else 0

    def track(self, document: Document | None) -> None:
        """Follow `document` from now on; the previous one's recovery file goes away."""
        if self._document is not None:
            self._document.history.changed.disconnect(self._history_changed)
            self._document.history.clean_changed.disconnect(self._clean_changed)
        self._document = document
        self.discard()
        if document is not None:
            document.history.changed.connect(self._history_changed)
            document.history.clean_changed.connect(self._clean_changed)
            if not document.history.is_clean():
                self._revision += 1

    def autosave_now(self) -> Future | None:
        """Start writing a recovery file if there is something new to keep (else None)."""
        doc = self._document
        if self._closed or doc is None:
            return None
        if self._pending is not None and not self._pending.done():
            return None  # the next tick catches up
        self._collect()
        if doc.history.is_clean() or self._revision == self._saved_revision:
            return None
        snap = snapshot(doc)
        path, name = self.describe()
        self._saved_revision = self._revision
        self._pending = self._last = self._executor.submit(self._write, snap, path, name)
        return self._pending

    def discard(self) -> None:
        """Remove this session's recovery file (after any write still in progress)."""
        self._saved_revision = self._revision
        if not self._closed:
            self._last = self._executor.submit(self.session.remove_files)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the queued jobs are done (tests, closing); errors go to last_error."""
        if self._last is not None:
            futures.wait([self._last], timeout)
        self._collect()

    def close(self) -> None:
        """A normal end: no recovery file stays behind, the thread is joined."""
        if self._closed:
            return
        self._timer.stop()
        self.track(None)
        self._closed = True
        self._executor.shutdown(wait=True)
        self._collect()
        self.session.release()

    def _write(self, snap: DocumentSnapshot, path: Path | None, name: str | None) -> None:
        try:
            write_recovery(snap, self.session, path, name)
        except (FileError, OSError) as e:
            log.warning("autosave to %s failed: %s", self.session.ora_path, e)
            raise
        self.writes += 1

    def _collect(self) -> None:
        pending = self._pending
        if pending is None or not pending.done():
            return
        error = pending.exception()
        if error is not None:
            self.last_error = f"Autosave failed: {error}"
            self._saved_revision = -1  # try again on the next tick
            self.failed.emit(self.last_error)
        else:
            self.last_error = ""
        self._pending = None

    def _history_changed(self) -> None:
        self._revision += 1

    def _clean_changed(self, clean: bool) -> None:
        if clean:
            self.discard()
