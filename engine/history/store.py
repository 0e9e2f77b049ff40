"""The history database: record samples, search them, mark them kept, clear them.

One SQLite file in WAL mode with a busy timeout, so the editor and CLI runs can write at
once (each write is one short BEGIN IMMEDIATE transaction; readers never block). No
method raises a database or file error into its caller: a generation must never fail
because of its history. Instead the method returns None/[]/False and keeps one warning
sentence for the caller (`take_warning`, or the `on_warning` callback). A corrupt file
is renamed aside (never deleted) and a new one started; a locked or unwritable one is
reported and left alone.

One connection per store, shared by threads under a lock: the editor records from a
background thread and searches from the UI thread.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.history import pictures as pics
from engine.history import search as searching
from engine.history.schema import NewerSchemaError, migrate
from engine.history.search import HIT_COLUMNS, Hit, hit_from_row
from engine.history.thumbnails import make_thumbnail
from engine.region import apply_patch
from engine.request import GenerationInputs, GenerationRequest

log = logging.getLogger(__name__)

# SQLite's busy handler polls rather than queues, so a writer can lose the lock many times
# in a row to another program writing in a loop; on a loaded CI machine 5 s once ran out
# and a generation went unrecorded. Writes run off the UI thread, so waiting longer is cheap.
BUSY_TIMEOUT_S = 20.0
CACHE_KIB = 32 * 1024
MMAP_BYTES = 256 * 2**20
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """A whole history entry: the hit plus the request to replay and the thumbnail."""

    hit: Hit
    request: GenerationRequest
    request_json: str
    thumbnail: bytes | None

    @property
    def id(self) -> int:
        return self.hit.id


@dataclass
class PendingRecord:
    """An entry made ready outside the database (`HistoryStore.prepare`): its row, its
    thumbnail, and its input pictures by role as (hash, pixels), with the PNG bytes of
    those the database did not hold yet."""

    row: tuple[Any, ...]
    thumbnail: bytes | None
    pictures: dict[str, tuple[bytes, np.ndarray]] = field(default_factory=dict)
    encoded: dict[bytes, bytes] = field(default_factory=dict)


def _kind(exc: sqlite3.Error) -> str:
    """'corrupt', 'busy', or 'unavailable' (read-only, cannot open, disk full, ...)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text:
        return "corrupt"
    if "not a database" in text:
        return "corrupt"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return "busy"
    return "unavailable"


class HistoryStore:
    def __init__(
        self,
        path: Path | str,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.on_warning = on_warning
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._warning: str | None = None

    # Warnings -----------------------------------------------------------------------
    def take_warning(self) -> str | None:
        """The pending warning sentence (once), or None."""
        with self._lock:
            warning, self._warning = self._warning, None
        return warning

    def _warn(self, text: str) -> None:
        log.warning("%s", text)
        self._warning = text
        if self.on_warning is not None:
            try:
                self.on_warning(text)
            except Exception:  # a broken listener must not break a generation either
                log.exception("history warning listener failed")

    # Connection ---------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(self.path),
            timeout=self.busy_timeout_s,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # guarded by self._lock
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: commits skip fsync (only checkpoints sync); a power cut may
            # lose the last few entries, never corrupt the file. Keeps P17 in budget.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            # Search touches the FTS index and a narrow index at scattered places: a
            # larger page cache (memory-mapped reads) keeps a 100,000-entry history's
            # working set out of the read() path.
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _set_aside(self) -> Path:
        """Rename the damaged file (and its WAL/SHM) aside; never delete it."""
        self.close()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                os.replace(src, f"{aside}{suffix}")
        return aside

    def _run(self, what: str, fn: Callable[[sqlite3.Connection], T], failed: T) -> T:
        """fn(connection), with every database problem turned into one warning.

        ``what`` completes the warning ("this generation was not recorded").
        """
        with self._lock:
            set_aside = False
            deadline = time.monotonic() + self.busy_timeout_s
            while True:
                try:
                    return fn(self._connect())
                except sqlite3.Error as exc:
                    kind = _kind(exc)
                    if kind == "busy" and time.monotonic() < deadline:
                        # Some lock waits end in SQLITE_BUSY at once, without the busy
                        # handler: two programs switching a new file to WAL together, or
                        # recovering its WAL index. A fresh connection a moment later
                        # gets through.
                        self.close()
                        time.sleep(0.02 + 0.03 * random.random())
                        continue
                    if kind == "corrupt" and not set_aside:
                        set_aside = True
                        try:
                            aside = self._set_aside()
                        except OSError as move_exc:
                            self._warn(
                                f"The generation history {self.path} is damaged and could "
                                f"not be set aside ({move_exc.strerror or move_exc}); {what}."
                            )
                            return failed
                        self._warn(
                            f"The generation history was damaged; it was set aside as "
                            f"{aside.name} and a new one was started."
                        )
                        continue  # once more, on a fresh file
                    self.close()
                    if kind == "busy":
                        self._warn(f"The generation history is busy in another program; {what}.")
                    else:
                        self._warn(f"The generation history cannot be used ({exc}); {what}.")
                    return failed
                except NewerSchemaError:
                    self.close()
                    self._warn(f"The generation history was made by a newer Overpaint; {what}.")
                    return failed
                except OSError as exc:
                    self.close()
                    self._warn(
                        f"The generation history cannot be written in {self.path.parent} "
                        f"({exc.strerror or exc}); {what}."
                    )
                    return failed

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, where the busy timeout can wait for
        # it; a deferred transaction upgrading later could fail at once.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # Writing ------------------------------------------------------------------------
    def record(
        self,
        request: GenerationRequest,
        rgba: np.ndarray | None,
        path: Path | str | None = None,
        kept: bool = False,
        created: float | None = None,
        *,
        at: tuple[int, int] = (0, 0),
        backdrop: np.ndarray | None = None,
        inputs: GenerationInputs | None = None,
        base: np.ndarray | None = None,
    ) -> int | None:
        """Add one sample; its id, or None (with a warning) when it could not be recorded.

        ``request`` is the sample's own request (its seed, n_samples 1), ``rgba`` the
        picture to thumbnail (None: no thumbnail); the keywords of `prepare` add the job's
        input pictures and the picture the thumbnail shows.
        """
        pending = self.prepare(
            request, rgba, path, kept, created, at=at, backdrop=backdrop, inputs=inputs, base=base
        )
        ids = self.insert([pending])
        return ids[0] if ids else None

    def prepare(
        self,
        request: GenerationRequest,
        rgba: np.ndarray | None,
        path: Path | str | None = None,
        kept: bool = False,
        created: float | None = None,
        *,
        at: tuple[int, int] = (0, 0),
        backdrop: np.ndarray | None = None,
        inputs: GenerationInputs | None = None,
        base: np.ndarray | None = None,
    ) -> PendingRecord:
        """The slow part of recording, with no write lock held: the thumbnail and the PNGs
        of input pictures the database lacks. `insert` stores the result.

        ``rgba`` is the result patch laid at ``at`` on ``backdrop`` (or ``base``), the
        whole picture it was shown on, so the thumbnail shows that picture. ``inputs`` are
        the job's input pictures and ``base`` the whole picture a CLI run laid its result
        on; both are kept for replay (see engine.history.pictures).
        """
        shown = backdrop if backdrop is not None else base
        thumb = None
        if rgba is not None:
            try:
                pixels = rgba
                if shown is not None:
                    pixels = apply_patch(shown, rgba, at[0], at[1])
                thumb = make_thumbnail(pixels)
            except (ValueError, OSError) as exc:
                log.warning("no thumbnail for a history entry: %s", exc)
        h, w = (rgba.shape[:2]) if rgba is not None else (request.height, request.width)
        row = (
            time.time() if created is None else created,
            request.to_json(),
            request.prompt,
            request.negative_prompt,
            request.model,
            " ".join(name for name, _ in request.loras),
            int(request.seed),
            int(w),
            int(h),
            request.mode,
            None if path is None else str(Path(path).absolute()),
            int(bool(kept)),
        )
        pending = PendingRecord(row, thumb)
        for role, picture in pics.pictures_to_keep(request, inputs, base).items():
            try:
                pending.pictures[role] = (pics.pixel_hash(picture), picture)
            except (ValueError, TypeError) as exc:
                log.warning("the %s of a history entry is not kept: %s", role, exc)
        if pending.pictures:
            known = self._known_hashes({h for h, _ in pending.pictures.values()})
            for role, (digest, picture) in list(pending.pictures.items()):
                if digest in known or digest in pending.encoded:
                    continue
                try:
                    pending.encoded[digest] = pics.encode_picture(picture)
                except (ValueError, OSError) as exc:
                    log.warning("the %s of a history entry is not kept: %s", role, exc)
                    del pending.pictures[role]
        return pending

    def _known_hashes(self, digests: set[bytes]) -> set[bytes]:
        def select(conn: sqlite3.Connection) -> set[bytes]:
            marks = ",".join("?" * len(digests))
            rows = conn.execute(f"SELECT hash FROM blobs WHERE hash IN ({marks})", list(digests))
            return {bytes(r[0]) for r in rows}

        # Unknown is safe: the pictures are encoded and the insert skips those present.
        return self._run("its input pictures were not kept", select, set())

    def insert(self, pending: list[PendingRecord]) -> list[int]:
        """Store prepared entries in one transaction; their ids ([] with a warning when
        the history could not take them)."""

        def write(conn: sqlite3.Connection) -> list[int]:
            ids: list[int] = []
            with self._write(conn):
                for record in pending:
                    ids.append(self._insert_one(conn, record))
            return ids

        return self._run("this generation was not recorded", write, [])

    @staticmethod
    def _insert_one(conn: sqlite3.Connection, record: PendingRecord) -> int:
        # Times never go backwards (a clock set back records the last time seen), so
        # entry order is time order and date filters become id ranges.
        cur = conn.execute(
            "INSERT INTO generations (created, request, prompt, negative_prompt, "
            "model, loras, seed, width, height, mode, path, kept) "
            "VALUES (max(?, coalesce((SELECT max(created) FROM generations), 0)), "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            record.row,
        )
        entry_id = int(cur.lastrowid or 0)
        if record.thumbnail is not None:
            conn.execute(
                "INSERT INTO thumbnails (id, data) VALUES (?, ?)", (entry_id, record.thumbnail)
            )
        for role, (digest, picture) in record.pictures.items():
            blob = conn.execute("SELECT id FROM blobs WHERE hash = ?", (digest,)).fetchone()
            if blob is None:
                # Known when prepared but gone since (history cleared meanwhile).
                data = record.encoded.get(digest) or pics.encode_picture(picture)
                cur = conn.execute("INSERT INTO blobs (hash, data) VALUES (?, ?)", (digest, data))
                blob = (cur.lastrowid,)
            conn.execute(
                "INSERT INTO entry_inputs (entry, role, blob) VALUES (?, ?, ?)",
                (entry_id, role, blob[0]),
            )
        return entry_id

    def _update(self, sql: str, args: tuple[Any, ...]) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                return conn.execute(sql, args).rowcount > 0

        return self._run("the change was not recorded", update, False)

    def mark_kept(self, entry_id: int, kept: bool = True) -> bool:
        return self._update("UPDATE generations SET kept = ? WHERE id = ?", (int(kept), entry_id))

    def set_path(self, entry_id: int, path: Path | str | None) -> bool:
        value = None if path is None else str(Path(path).absolute())
        return self._update("UPDATE generations SET path = ? WHERE id = ?", (value, entry_id))

    def clear(self) -> bool:
        """Delete every entry and give the space back (the file stays, empty)."""

        def wipe(conn: sqlite3.Connection) -> bool:
            with self._write(conn):
                conn.execute("DELETE FROM entry_inputs")
                conn.execute("DELETE FROM blobs")
                conn.execute("DELETE FROM thumbnails")
                conn.execute("DELETE FROM generations")
                conn.execute("INSERT INTO generations_fts(generations_fts) VALUES ('rebuild')")
            # Deleted text must not linger in free pages or the WAL.
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return True

        return self._run("the history was not cleared", wipe, False)

    # Reading ------------------------------------------------------------------------
    def search(
        self,
        query: str = "",
        limit: int = 50,
        *,
        since: float | None = None,
        until: float | None = None,
        model: str | None = None,
        mode: str | None = None,
        kept_only: bool = False,
        prefix_last: bool = False,
    ) -> list[Hit]:
        """Entries matching ``query`` (words ANDed, ``word*`` a prefix), best bm25 first,
        then newest (entry order); an empty query lists the newest. Filters: ``since`` <=
        created < ``until`` (epoch seconds), exact model and mode, kept only. A query
        matching more than query.CANDIDATES entries ranks the newest CANDIDATES of them.
        Words in at least half of the entries (which bm25 weighs at 1e-6) are left out of
        the ranking; a query of only such words lists the newest first."""
        return self._run(
            "the search found nothing",
            lambda conn: searching.search(
                conn, query, limit, since, until, model, mode, kept_only, prefix_last
            ),
            [],
        )

    def get(self, entry_id: int) -> Entry | None:
        def select(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(
                f"SELECT {HIT_COLUMNS}, g.request, t.data FROM generations g "
                "LEFT JOIN thumbnails t ON t.id = g.id WHERE g.id = ?",
                (int(entry_id),),
            ).fetchone()
            if row is None:
                return None
            hit = hit_from_row(row[:12])
            return Entry(hit, GenerationRequest.from_json(row[12]), row[12], row[13])

        return self._run("the entry could not be read", select, None)

    def find_request(self, request: GenerationRequest) -> list[int]:
        """The entries recorded with exactly ``request``, kept ones first, newest first:
        how an export names its entry and `overpaint rerun` finds the input pictures of a
        PNG. Several can match (the same settings on another picture)."""

        def select(conn: sqlite3.Connection) -> list[int]:
            rows = conn.execute(
                "SELECT id, request FROM generations WHERE seed = ? AND mode = ? AND prompt = ? "
                "ORDER BY kept DESC, id DESC",
                (int(request.seed), request.mode, request.prompt),
            )
            found = []
            for entry_id, text in rows:
                try:
                    if GenerationRequest.from_json(text) == request:
                        found.append(int(entry_id))
                except (ValueError, TypeError, KeyError):
                    continue
            return found

        return self._run("the entries could not be looked up", select, [])

    def thumbnail(self, entry_id: int) -> bytes | None:
        def select(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT data FROM thumbnails WHERE id = ?", (int(entry_id),)
            ).fetchone()
            return None if row is None else bytes(row[0])

        return self._run("its thumbnail could not be read", select, None)

    def input_pictures(self, entry_id: int) -> dict[str, bytes | None] | None:
        """The entry's stored input pictures as PNG bytes by role (None where the picture
        itself is gone); None when they could not be read."""

        def select(conn: sqlite3.Connection) -> dict[str, bytes | None]:
            rows = conn.execute(
                "SELECT e.role, b.data FROM entry_inputs e LEFT JOIN blobs b ON b.id = e.blob "
                "WHERE e.entry = ?",
                (int(entry_id),),
            )
            return {role: None if data is None else bytes(data) for role, data in rows}

        return self._run("its input pictures could not be read", select, None)

    def count(self) -> int:
        return self._run(
            "it could not be counted",
            lambda conn: int(conn.execute("SELECT count(*) FROM generations").fetchone()[0]),
            0,
        )

    def models(self) -> list[str]:
        """The models that appear in the history (for a filter list)."""
        return self._run(
            "its models could not be listed",
            lambda conn: [
                r[0] for r in conn.execute("SELECT DISTINCT model FROM generations ORDER BY 1")
            ],
            [],
        )
