"""The history store on real SQLite files: recording, search, filters, ranking, safety."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from engine.history.config import database_path, history_enabled, open_history
from engine.history.recorder import BackgroundRecorder, record_cli_results
from engine.history.schema import SCHEMA_VERSION
from engine.history.store import HistoryStore
from engine.history.thumbnails import decode_thumbnail
from tests.history.conftest import picture, read_only, request

ROOT = Path(__file__).resolve().parents[2]


def _ids(hits) -> list[int]:
    return [h.id for h in hits]


def _others(store: HistoryStore, n: int, created: float | None = None) -> None:
    """Entries without the searched words, of a usual length: a word in half of the
    entries or more is left out of the ranking (engine.history.search._common), which
    these tests are not about."""
    for i in range(n):
        prompt = f"a quiet harbour at dawn with fishing boats, gulls and old stone walls {i}"
        store.record(request(prompt), None, created=created)


def test_record_and_get_round_trip(store: HistoryStore, tmp_path: Path) -> None:
    req = request(
        "a red lighthouse at dusk",
        negative_prompt="blurry",
        model="dreamshaper",
        loras=(("pixelart", 0.8),),
        seed=42,
        width=640,
        height=512,
    )
    big = picture((200, 40, 30), size=600)
    entry_id = store.record(req, big, path=tmp_path / "out.png")
    entry = store.get(entry_id)
    assert entry.request == req
    hit = entry.hit
    assert (hit.prompt, hit.negative_prompt, hit.model, hit.loras, hit.mode, hit.seed) == (
        "a red lighthouse at dusk", "blurry", "dreamshaper", ("pixelart",), "txt2img", 42,
    )  # fmt: skip
    assert (hit.width, hit.height, hit.kept, hit.exists) == (600, 600, False, False)
    thumb = decode_thumbnail(entry.thumbnail)
    assert max(thumb.shape[:2]) <= 256
    assert (
        np.abs(
            thumb[thumb.shape[0] // 2, thumb.shape[1] // 2, :3].astype(int) - (200, 40, 30)
        ).max()
        < 8
    )
    assert store.get(entry_id + 1) is None
    assert store.take_warning() is None
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_prefix_search_and_words_from_every_indexed_column(store: HistoryStore) -> None:
    light = store.record(request("a red lighthouse on a cliff"), picture())
    store.record(request("a light bulb"), picture())
    lora = store.record(
        request("a cat", loras=(("watercolour_v2", 1.0),), model="anything-v3"), None
    )
    assert _ids(store.search("lightho*")) == [light]
    assert store.search("lightho") == []  # a whole word unless asked for a prefix
    assert _ids(store.search("red lightho", prefix_last=True)) == [light]  # as you type
    assert store.search("red lightho ", prefix_last=True) == []  # the word was finished
    assert _ids(store.search("watercolour_v2")) == [lora]
    assert _ids(store.search("anything")) == [lora]
    assert _ids(store.search("txt2img cat")) == [lora]
    # FTS5 syntax typed by accident is just words, never an error.
    assert _ids(store.search('red "lighthouse AND (')) == []
    assert _ids(store.search('"lighthouse (cliff')) == [light]
    assert store.search("***") == [] and store.take_warning() is None


def test_ranking_bm25_then_recency(store: HistoryStore) -> None:
    t = time.time()
    _others(store, 5, created=t - 10)
    # Recency alone would give the reverse order: bm25 has to decide.
    old_short = store.record(request("castle on a hill"), None, created=t)
    new_short = store.record(request("castle on a hill"), None, created=t + 1)
    long = store.record(
        request("castle " + " ".join(f"filler{i}" for i in range(30))), None, created=t + 2
    )
    in_negative = store.record(request("a harbour", negative_prompt="castle"), None, created=t + 3)
    # Same text: newest first; a short prompt about it beats a long one; the negative
    # prompt counts least.
    assert _ids(store.search("castle")) == [new_short, old_short, long, in_negative]


def test_filters_date_model_mode_kept(store: HistoryStore) -> None:
    day = 86400.0
    now = time.time()
    a = store.record(request("blue sea", model="m1"), None, created=now - 3 * day)
    b = store.record(request("blue sea", model="m2", mode="img2img"), None, created=now - day)
    c = store.record(request("blue sky", model="m1", mode="inpaint"), None, created=now)
    store.mark_kept(b)
    assert _ids(store.search("blue", since=now - 2 * day)) == [c, b]
    assert _ids(store.search("blue", until=now - 2 * day)) == [a]
    assert _ids(store.search("blue", model="m1")) == [c, a]
    assert _ids(store.search("sea", mode="img2img")) == [b]
    assert _ids(store.search("blue", kept_only=True)) == [b]
    assert _ids(store.search("", limit=2)) == [c, b]  # no words: the newest
    assert _ids(store.search("", model="m1", mode="txt2img")) == [a]
    assert store.models() == ["m1", "m2"]


def test_moved_output_file_stays_findable_and_says_so(store: HistoryStore, tmp_path: Path) -> None:
    out = tmp_path / "lighthouse.png"
    out.write_bytes(b"png")
    entry_id = store.record(request("lighthouse"), picture(), path=out, kept=True)
    (hit,) = store.search("lighthouse")
    assert (hit.path, hit.exists, hit.kept) == (str(out), True, True)
    moved = tmp_path / "elsewhere.png"
    out.rename(moved)
    (hit,) = store.search("lighthouse")
    assert (hit.path, hit.exists) == (str(out), False)
    assert store.get(entry_id).thumbnail  # the thumbnail and request remain
    assert store.set_path(entry_id, moved)
    assert store.search("lighthouse")[0].exists


def test_two_processes_writing_at_once_both_land(tmp_path: Path) -> None:
    db, go, n = tmp_path / "history.sqlite3", tmp_path / "go", 150
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.history.writer_process", str(db), tag, str(n), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for tag in ("alpha", "beta")
    ]
    for w in writers:  # both have imported and opened the store: the file starts them together
        assert w.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [w.communicate(timeout=120)[0].strip() for w in writers]
    assert outputs == [str(n), str(n)], outputs  # every record landed, no warning
    store = HistoryStore(db)
    assert store.count() == 2 * n
    assert len(store.search("alpha", limit=1000)) == n
    assert len(store.search("beta", limit=1000)) == n
    store.close()


def test_corrupt_database_is_set_aside_and_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    garbage = b"this is not a database, just damaged bytes " * 200
    db.write_bytes(garbage)
    warnings: list[str] = []
    store = HistoryStore(db, on_warning=warnings.append)
    entry_id = store.record(request("after the crash"), picture())
    assert entry_id is not None  # the generation is recorded in a fresh file
    assert len(warnings) == 1 and "set aside" in warnings[0]
    (aside,) = tmp_path.glob("history.sqlite3.corrupt-*")
    assert aside.read_bytes() == garbage  # renamed, never deleted
    assert _ids(store.search("crash")) == [entry_id]
    store.close()


def test_corruption_found_in_an_open_database(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    store = HistoryStore(db)
    store.record(request("first"), picture())
    store.close()
    with open(db, "r+b") as f:  # wipe the header: SQLite no longer knows the file
        f.write(b"\0" * 100)
    store = HistoryStore(db)
    assert store.search("first") == []
    assert "set aside" in store.take_warning()
    assert store.record(request("second"), None) is not None
    store.close()


def test_locked_database_warns_instead_of_raising(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    HistoryStore(db).close()
    store = HistoryStore(db, busy_timeout_s=0.2)
    assert store.count() == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert store.record(request("while locked"), picture()) is None
        warning = store.take_warning()
        assert "busy" in warning and "not recorded" in warning
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.record(request("after the lock"), picture()) is not None
    assert list(tmp_path.glob("*.corrupt-*")) == []  # busy is not damage
    store.close()


def test_busy_at_once_is_retried_on_a_fresh_connection(tmp_path: Path, monkeypatch) -> None:
    """A SQLITE_BUSY that comes without the busy handler (as when two programs switch a
    new file to WAL together) is retried on a fresh connection within the busy timeout.

    The lock is real (another connection's BEGIN EXCLUSIVE). The only patch wraps
    HistoryStore._connect to turn each new connection's busy handler off, so the store
    fails at once instead of waiting, and to release the lock just before the store
    opens its fresh connection: the retry, not the busy handler, gets the record through.
    """
    db = tmp_path / "history.sqlite3"
    holder = sqlite3.connect(db, isolation_level=None)
    connections: list[sqlite3.Connection] = []
    connect = HistoryStore._connect

    def without_busy_handler(self: HistoryStore) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        if holder.in_transaction:  # the retry after the first immediate failure
            holder.execute("ROLLBACK")
        conn = connect(self)
        conn.execute("PRAGMA busy_timeout = 0")
        connections.append(conn)
        return conn

    monkeypatch.setattr(HistoryStore, "_connect", without_busy_handler)
    warnings: list[str] = []
    store = HistoryStore(db, on_warning=warnings.append)
    assert store.count() == 0  # the store's connection is open before the lock
    holder.execute("BEGIN EXCLUSIVE")
    try:
        entry_id = store.record(request("through the retry"), None)
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
    assert len(connections) == 2  # failed once at once, then a fresh connection
    assert entry_id is not None and warnings == []
    assert _ids(store.search("retry")) == [entry_id]
    store.close()


def test_read_only_data_folder_warns(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with read_only(folder):
        store = HistoryStore(folder / "history.sqlite3")
        assert store.record(request("nowhere to go"), picture()) is None
        assert "cannot" in store.take_warning()
        assert store.search("nowhere") == []
        store.close()
    missing = HistoryStore(tmp_path / "file" / "history.sqlite3")
    (tmp_path / "file").write_bytes(b"")  # the data folder's place holds a file
    assert missing.record(request("x"), None) is None and missing.take_warning()


def test_newer_schema_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    store = HistoryStore(db)
    assert store.record(request("x"), None) is None
    assert "newer Overpaint" in store.take_warning()
    store.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 99


def test_clear_deletes_everything(store: HistoryStore) -> None:
    for i in range(5):
        store.record(request(f"secret prompt {i}"), picture())
    assert store.clear()
    assert store.count() == 0 and store.search("secret") == []
    store.close()
    assert b"secret prompt" not in store.path.read_bytes()  # not left in free pages
    assert store.record(request("afterwards"), None) is not None


def test_switch_in_the_editor_settings_reaches_the_cli(monkeypatch) -> None:
    from editor.ui.settings import Settings

    monkeypatch.delenv("OVERPAINT_HISTORY", raising=False)
    assert history_enabled()
    settings = Settings()
    settings.history_enabled = False
    settings.sync()
    assert not history_enabled() and open_history() is None
    assert open_history(force=True).path == database_path()  # reading and clearing still work
    monkeypatch.setenv("OVERPAINT_HISTORY", "1")
    assert history_enabled()
    settings.history_enabled = True
    settings.sync()
    monkeypatch.setenv("OVERPAINT_HISTORY", "off")
    assert not history_enabled()
    assert record_cli_results([], []) is None


def test_background_recorder_records_in_order_and_copies_pixels(tmp_path: Path) -> None:
    on = [True]
    store = HistoryStore(tmp_path / "history.sqlite3")
    recorder = BackgroundRecorder(store, enabled=lambda: on[0])
    pixels = picture((10, 200, 10))
    ticket = recorder.record(request("green field"), pixels)
    pixels[...] = 0  # the caller paints over its array at once
    recorder.mark_kept(ticket)
    recorder.set_path(ticket, tmp_path / "field.png")
    on[0] = False
    skipped = recorder.record(request("not recorded"), pixels)
    recorder.flush()
    assert skipped.id is None
    entry = store.get(ticket.id)
    assert entry.hit.kept and entry.hit.path == str(tmp_path / "field.png")
    assert decode_thumbnail(entry.thumbnail)[5, 5, 1] > 150
    assert store.count() == 1
    recorder.close()


def test_common_words_rank_the_newest_candidates(store: HistoryStore, monkeypatch) -> None:
    import engine.history.query as store_module

    t = time.time()
    _others(store, 6, created=t - 10)
    best_but_old = store.record(request("castle"), None, created=t)
    newer = [
        store.record(request(f"castle with filler words {i}"), None, created=t + 1 + i)
        for i in range(4)
    ]
    assert store.search("castle")[0].id == best_but_old  # ranked whole: bm25 first
    monkeypatch.setattr(store_module, "CANDIDATES", 3)
    assert {h.id for h in store.search("castle")} == set(newer[1:])
    # Entry order is time order: a clock set back does not record an earlier time.
    back = store.record(request("late"), None, created=t - 1000)
    assert store.get(back).hit.created == store.get(newer[-1]).hit.created


def test_a_word_typed_twice_is_searched_once(store: HistoryStore) -> None:
    from engine.history.query import fts_query

    _others(store, 3)
    short = store.record(request("castle"), None)
    long = store.record(request("castle on a hill with a long winding road"), None)
    assert fts_query("Castle castle hill", prefix_last=True) == '"castle" "hill"*'
    assert _ids(store.search("castle castle")) == _ids(store.search("castle")) == [short, long]
