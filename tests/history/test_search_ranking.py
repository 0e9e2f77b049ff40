"""Ranking with common words, on real SQLite files: a word in half of the entries or
more is left out of bm25 (engine.history.search._common), which must not change what a
search finds nor, beyond ties, its order."""

from __future__ import annotations

import sqlite3
import time

import pytest

from engine.history import search
from engine.history.store import HistoryStore
from tests.history.conftest import request

_BM25 = "bm25(generations_fts, 10.0, 2.0, 3.0, 3.0, 1.0)"


def _ids(hits) -> list[int]:
    return [h.id for h in hits]


def _plain_bm25(store: HistoryStore, match: str) -> list[int]:
    """The order bm25 gives with every word of the query in it, from the file itself."""
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute(
            f"SELECT rowid FROM generations_fts WHERE generations_fts MATCH ? "
            f"ORDER BY {_BM25}, rowid DESC",
            (match,),
        )
        return [r[0] for r in rows]
    finally:
        conn.close()


def _history(store: HistoryStore) -> dict[str, int]:
    """'photo' in every entry but one; 'castle' in five. The best castle entries are the
    oldest, so recency alone would give the reverse order."""
    t = time.time()
    ids = {
        "castles": store.record(request("photo, castle castle castle"), None, created=t),
        "castle": store.record(request("photo of a castle on a hill"), None, created=t + 1),
        "long": store.record(
            request("photo of a castle " + " ".join(f"filler{i}" for i in range(20))),
            None,
            created=t + 2,
        ),
        "negative": store.record(
            request("a photo of a lake", negative_prompt="castle"), None, created=t + 3
        ),
        "no photo": store.record(request("castle at night"), None, created=t + 4),
    }
    for i, animal in enumerate("cat dog fox owl horse deer wolf bear hare lynx crow".split()):
        store.record(request(f"photo of a {animal} in the snow"), None, created=t + 5 + i)
    return ids


@pytest.mark.parametrize("sample", [search.SAMPLE, 8], ids=["whole history", "sampled"])
def test_a_common_word_mixed_with_a_rare_one_ranks_as_bm25(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch, sample: int
) -> None:
    # "sampled": the share of "photo" is read on the newest 8 entries, not counted whole.
    monkeypatch.setattr(search, "SAMPLE", sample)
    ids = _history(store)
    expected = [ids["castles"], ids["castle"], ids["long"], ids["negative"]]
    assert _ids(store.search("photo castle")) == expected
    assert _ids(store.search("castle photo")) == expected
    assert _plain_bm25(store, '"photo" "castle"') == expected
    # A filter narrows the same ranking.
    assert (
        _ids(store.search("photo castle", since=store.get(ids["castle"]).hit.created))
        == (expected[1:])
    )
    assert store.take_warning() is None


def test_a_word_in_fewer_than_half_of_the_entries_stays_ranked(store: HistoryStore) -> None:
    ids = _history(store)
    # "castle" is in 5 of 16 entries: bm25 ranks by it, the newest does not come first.
    assert _ids(store.search("castle")) == _plain_bm25(store, '"castle"')
    assert _ids(store.search("castle"))[0] == ids["castles"]


def test_an_all_common_query_lists_the_newest(store: HistoryStore) -> None:
    ids = _history(store)
    newest_first = sorted(set(range(1, 17)) - {ids["no photo"]}, reverse=True)
    assert _ids(store.search("photo", limit=100)) == newest_first
    # bm25 alone would put the short prompts first.
    assert _plain_bm25(store, '"photo"') != newest_first
    assert _ids(store.search("photo", limit=3)) == newest_first[:3]
    # "a" is in every entry too: still the newest, and a filter still applies.
    since = store.get(ids["long"]).hit.created
    assert _ids(store.search("a photo", since=since)) == [
        i for i in newest_first if i >= ids["long"]
    ]
    assert store.take_warning() is None
