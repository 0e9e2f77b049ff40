"""Searching the history: the SQL behind HistoryStore.search, and the Hit it returns.

Where the time goes (P16, 100,000 entries): FTS5's bm25() first counts, once per query,
every entry holding each phrase of the MATCH expression (its IDF), then scores each row.
For a word in most prompts that count is most of the query. So the words and filters
pick the candidates (the model and mode filters as FTS5 column filters, a cheap doclist
intersection, checked exactly by the covering index), and the ranking query holds only
the typed words that are not in most entries (see _common), restricted to those ids.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from engine.history import query

HIT_COLUMNS = (
    "g.id, g.created, g.prompt, g.negative_prompt, g.model, g.loras, g.mode, g.seed, "
    "g.width, g.height, g.path, g.kept"
)
# bm25 column weights: prompt, negative prompt, model, LoRAs, mode. A word in the prompt
# says more about the picture than the same word in the negative prompt.
_BM25 = "bm25(generations_fts, 10.0, 2.0, 3.0, 3.0, 1.0)"
_ROWID = "generations_fts.rowid"
# How many of the newest entries tell whether a word is common (see _common).
SAMPLE = 1000
SAMPLED_SHARE = 0.55


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


def hit_from_row(row: tuple[Any, ...]) -> Hit:
    """A Hit from a row of HIT_COLUMNS."""
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


def _first_id(conn: sqlite3.Connection, when: float) -> int | None:
    row = conn.execute(
        "SELECT id FROM generations WHERE created >= ? ORDER BY created, id LIMIT 1", (when,)
    ).fetchone()
    return None if row is None else int(row[0])


def search(
    conn: sqlite3.Connection,
    text: str,
    limit: int,
    since: float | None,
    until: float | None,
    model: str | None,
    mode: str | None,
    kept_only: bool,
    prefix_last: bool,
) -> list[Hit]:
    """See HistoryStore.search."""
    phrases = query.fts_phrases(text, prefix_last)
    if not phrases and text.strip():
        return []  # only punctuation: nothing can match
    if not phrases:
        where, args = query.filter_clauses(since, until, model, mode, kept_only)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (
            f"SELECT {HIT_COLUMNS} FROM generations g {cond} "
            "ORDER BY g.created DESC, g.id DESC LIMIT ?"
        )
        return [hit_from_row(row) for row in conn.execute(sql, [*args, int(limit)])]

    # Dates become an id range (entry order is time order), which FTS5 applies while it
    # walks its index; the other filters read a narrow covering index, not the wide rows
    # (request JSON, prompt).
    words = " ".join(phrases)
    where, args = query.filter_clauses(None, None, model, mode, kept_only)
    narrowed = " AND ".join(
        f"({part})" if part is words else part
        for part in (words, query.column_filter("mode", mode), query.column_filter("model", model))
        if part
    )
    join = (
        "JOIN generations g INDEXED BY generations_filters ON g.id = generations_fts.rowid"
        if where
        else ""
    )
    low, high = 0, 1 << 62  # ids in [low, high)
    if since is not None:
        found = _first_id(conn, since)
        if found is None:
            return []
        low = found
    if until is not None:
        high = _first_id(conn, until) or high
    # bm25 costs a few µs per match: a word in most of 100,000 prompts would take 300 ms.
    # So rank only the newest CANDIDATES matches, found by walking the index backwards
    # from the newest (cheap); a query matching fewer is ranked whole. One id range, so
    # FTS5 seeks instead of filtering.
    candidates = [
        r[0]
        for r in conn.execute(
            f"SELECT {_ROWID} FROM generations_fts {join} WHERE generations_fts MATCH ?"
            + "".join(f" AND {w}" for w in where)
            + f" AND {_ROWID} >= ? AND {_ROWID} < ? ORDER BY {_ROWID} DESC LIMIT ?",
            [narrowed, *args, low, high, query.CANDIDATES],
        )
    ]
    if not candidates:
        return []
    # Every candidate holds every word; only the rare words need to take part in bm25
    # (see _common). When all words are common, no entry is more about them than another:
    # the newest come first. The ranking query walks the rare words' matches within the
    # candidates' id span; "+" keeps the IN list a filter, as FTS5 would otherwise rerun
    # the whole MATCH once per listed id.
    top = conn.execute("SELECT max(id) FROM generations").fetchone()[0] or 0
    rare = [p for p in phrases if not _common(conn, p, top)]
    if not rare:
        return _hits(conn, candidates[: int(limit)])
    marks = ",".join("?" * len(candidates))
    ids = [
        r[0]
        for r in conn.execute(
            f"SELECT {_ROWID} FROM generations_fts WHERE generations_fts MATCH ? "
            f"AND {_ROWID} >= ? AND {_ROWID} <= ? AND +{_ROWID} IN ({marks}) "
            f"ORDER BY {_BM25}, {_ROWID} DESC LIMIT ?",
            [" ".join(rare), candidates[-1], candidates[0], *candidates, int(limit)],
        )
    ]
    return _hits(conn, ids)


def _common(conn: sqlite3.Connection, phrase: str, top: int) -> bool:
    """Whether the word ``phrase`` is in at least half of the entries (ids 1..``top``).

    bm25 clamps the IDF of such a word to 1e-6, so it hardly moves the ranking, yet bm25
    still counts every entry holding it, once per query: 6 ms for a word in 80,000 of
    100,000 entries, the slowest searches of P16 (fts5vocab would count the same way).
    So the share is read on the newest SAMPLE entries, a short walk of the index. Ids
    grow one by one (clear() empties the table): the sample holds ``top - first``
    entries, or fewer if some were removed, which only makes fewer words common. A
    sampled share is within about 5 points of the whole one (3 sigma at 1,000), so it
    must reach 55%: a word just under half is never left out, one just over it stays
    ranked, as today. A history within the sample is counted whole, exactly. A prefix
    ("lightho*") stays ranked: FTS5 merges the lists of all its words even to count a
    sample.
    """
    if phrase.endswith("*"):
        return False
    first = max(top - SAMPLE, 0)  # the sample: ids in (first, top]
    held = conn.execute(
        f"SELECT count(*) FROM generations_fts WHERE generations_fts MATCH ? AND {_ROWID} > ?",
        (phrase, first),
    ).fetchone()[0]
    share = 0.5 if first == 0 else SAMPLED_SHARE
    return held >= share * (top - first)


def _hits(conn: sqlite3.Connection, ids: list[int]) -> list[Hit]:
    """The Hits of ``ids``, in that order."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT {HIT_COLUMNS} FROM generations g WHERE g.id IN ({marks})", ids)
    by_id = {row[0]: row for row in rows}
    return [hit_from_row(by_id[i]) for i in ids if i in by_id]
