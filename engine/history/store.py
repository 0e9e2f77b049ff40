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
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.history.query import CANDIDATES, column_filter, filter_clauses, fts_query
from engine.history.schema import NewerSchemaError, migrate
from engine.history.thumbnails import make_thumbnail
from engine.request import GenerationRequest

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 5.0
CACHE_KIB = 32 * 1024
MMAP_BYTES = 256 * 2**20
T = TypeVar("T")

_HIT_COLUMNS = (
    "g.id, g.created, g.prompt, g.negative_prompt, g.model, g.loras, g.mode, g.seed, "
    "g.width, g.height, g.path, g.kept"
)
# bm25 column weights: prompt, negative prompt, model, LoRAs, mode. A word in the prompt
# says more about the picture than the same word in the negative prompt.
_BM25 = "bm25(generations_fts, 10.0, 2.0, 3.0, 3.0, 1.0)"


@dataclass(frozen=True)
class Hit:
    """One search result. ``exists`` says whether the output file is still there."""

    id: int
    created: float  # seconds since the epoch
    prompt: str
    negative_prompt: str
    model: str
    loras: tuple[str, ...]
    mode: str
    seed: int
    width: int
    height: int
    path: str | None
    kept: bool
    exists: bool


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


def _hit(row: tuple[Any, ...]) -> Hit:
    path = row[10]
    return Hit(
        id=int(row[0]),
        created=float(row[1]),
        prompt=row[2],
        negative_prompt=row[3],
        model=row[4],
        loras=tuple(row[5].split()) if row[5] else (),
        mode=row[6],
        seed=int(row[7]),
        width=int(row[8]),
        height=int(row[9]),
        path=path,
        kept=bool(row[11]),
        exists=bool(path) and os.path.exists(path),
    )


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
            for attempt in (1, 2):
                try:
                    return fn(self._connect())
                except sqlite3.Error as exc:
                    kind = _kind(exc)
                    if kind == "corrupt" and attempt == 1:
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
    ) -> int | None:
        """Add one sample; its id, or None (with a warning) when it could not be recorded.

        ``request`` is the sample's own request (its seed, n_samples 1), ``rgba`` the
        picture to thumbnail (None: no thumbnail).
        """
        thumb = None
        if rgba is not None:
            try:
                thumb = make_thumbnail(rgba)
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

        def insert(conn: sqlite3.Connection) -> int:
            with self._write(conn):
                # Times never go backwards (a clock set back records the last time seen),
                # so entry order is time order and date filters become id ranges.
                cur = conn.execute(
                    "INSERT INTO generations (created, request, prompt, negative_prompt, "
                    "model, loras, seed, width, height, mode, path, kept) "
                    "VALUES (max(?, coalesce((SELECT max(created) FROM generations), 0)), "
                    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                entry_id = int(cur.lastrowid or 0)
                if thumb is not None:
                    conn.execute(
                        "INSERT INTO thumbnails (id, data) VALUES (?, ?)", (entry_id, thumb)
                    )
            return entry_id

        return self._run("this generation was not recorded", insert, None)

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
        matching more than CANDIDATES entries ranks the newest CANDIDATES of them."""
        match = fts_query(query, prefix_last)
        where, args = filter_clauses(since, until, model, mode, kept_only)
        if not match and query.strip():
            return []  # only punctuation: nothing can match
        if not match:
            cond = f"WHERE {' AND '.join(where)}" if where else ""
            sql = (
                f"SELECT {_HIT_COLUMNS} FROM generations g {cond} "
                "ORDER BY g.created DESC, g.id DESC LIMIT ?"
            )

            def newest(conn: sqlite3.Connection) -> list[Hit]:
                return [_hit(row) for row in conn.execute(sql, [*args, int(limit)])]

            return self._run("the search found nothing", newest, [])

        # Dates become an id range (entry order is time order), which FTS5 applies while
        # it walks its index; the other filters read a narrow covering index, not the
        # wide rows (request JSON, prompt).
        where, args = filter_clauses(None, None, model, mode, kept_only)
        match = " AND ".join(
            f"({part})" if part is match else part
            for part in (match, column_filter("mode", mode), column_filter("model", model))
            if part
        )
        join = (
            "JOIN generations g INDEXED BY generations_filters ON g.id = generations_fts.rowid"
            if where
            else ""
        )
        base = f"FROM generations_fts {join} WHERE generations_fts MATCH ?" + "".join(
            f" AND {w}" for w in where
        )
        rowid = "generations_fts.rowid"

        def first_id(conn: sqlite3.Connection, when: float) -> int | None:
            row = conn.execute(
                "SELECT id FROM generations WHERE created >= ? ORDER BY created, id LIMIT 1",
                (when,),
            ).fetchone()
            return None if row is None else int(row[0])

        def select(conn: sqlite3.Connection) -> list[Hit]:
            low, high = 0, 1 << 62  # ids in [low, high)
            if since is not None:
                found = first_id(conn, since)
                if found is None:
                    return []
                low = found
            if until is not None:
                high = first_id(conn, until) or high
            # bm25 costs a few µs per match: a word in most of 100,000 prompts would take
            # 300 ms. So rank only the newest CANDIDATES matches (the CANDIDATES-th newest
            # is found by walking the index backwards, which is cheap); a query matching
            # fewer is ranked whole. One id range, so FTS5 seeks instead of filtering.
            ranged = f"{base} AND {rowid} >= ? AND {rowid} < ?"
            bound = conn.execute(
                f"SELECT {rowid} {ranged} ORDER BY {rowid} DESC LIMIT 1 OFFSET ?",
                [match, *args, low, high, CANDIDATES - 1],
            ).fetchone()
            if bound is not None:
                low = max(low, int(bound[0]))
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT {rowid} {ranged} ORDER BY {_BM25}, {rowid} DESC LIMIT ?",
                    [match, *args, low, high, int(limit)],
                )
            ]
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT {_HIT_COLUMNS} FROM generations g WHERE g.id IN ({marks})", ids
            )
            by_id = {row[0]: row for row in rows}
            return [_hit(by_id[i]) for i in ids if i in by_id]

        return self._run("the search found nothing", select, [])

    def get(self, entry_id: int) -> Entry | None:
        def select(conn: sqlite3.Connection) -> Entry | None:
            row = conn.execute(
                f"SELECT {_HIT_COLUMNS}, g.request, t.data FROM generations g "
                "LEFT JOIN thumbnails t ON t.id = g.id WHERE g.id = ?",
                (int(entry_id),),
            ).fetchone()
            if row is None:
                return None
            return Entry(_hit(row[:12]), GenerationRequest.from_json(row[12]), row[12], row[13])

        return self._run("the entry could not be read", select, None)

    def thumbnail(self, entry_id: int) -> bytes | None:
        def select(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT data FROM thumbnails WHERE id = ?", (int(entry_id),)
            ).fetchone()
            return None if row is None else bytes(row[0])

        return self._run("its thumbnail could not be read", select, None)

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
