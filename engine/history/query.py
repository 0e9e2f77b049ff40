"""Turning what a person types into a safe FTS5 query.

Words are quoted, so FTS5's own syntax (AND, NEAR, column:, quotes, parentheses) typed by
accident never raises; a word ending in ``*`` stays a prefix search ("lightho*"). Words
are joined by FTS5's implicit AND.
"""

from __future__ import annotations

import re
from typing import Any

# How many of the newest matches a search ranks by bm25 (see HistoryStore.search).
CANDIDATES = 500
# The shortest word search-as-you-type treats as a prefix (the FTS index keeps these).
MIN_AUTO_PREFIX = 3

_WORD = re.compile(r"(\w+)(\*?)")


def fts_phrases(text: str, prefix_last: bool = False) -> list[str]:
    """The FTS5 phrases of ``text``, one per word (``"red"``, ``"lig"*``), in order.

    ``prefix_last`` makes the last word a prefix too, for search as you type ("red lig"
    finds "red lighthouse"), unless the text ends with a space (the word is finished) or
    the word is shorter than MIN_AUTO_PREFIX.
    """
    words = [(w.lower(), star) for w, star in _WORD.findall(text)]
    if not words:
        return []
    # One or two letters would be a prefix of thousands of words: slow and useless.
    if prefix_last and not text[-1:].isspace() and len(words[-1][0]) >= MIN_AUTO_PREFIX:
        words[-1] = (words[-1][0], "*")
    # A word typed twice matches the same entries; once is enough, and each phrase costs
    # bm25 a count of every entry holding it.
    return [f'"{w}"{star}' for w, star in dict.fromkeys(words)]


def fts_query(text: str, prefix_last: bool = False) -> str:
    """The FTS5 MATCH expression for ``text`` ('' when it holds no word): its phrases,
    which FTS5 ANDs."""
    return " ".join(fts_phrases(text, prefix_last))


def column_filter(column: str, value: str | None) -> str:
    """An FTS5 condition that ``column`` holds the words of ``value`` as a phrase ('' when
    it has none). The index answers it without reading rows; the exact SQL test stays
    beside it, since "sd15" is also a phrase inside "sd15-inpainting"."""
    words = _WORD.findall(value or "")
    if not words:
        return ""
    return f'{column} : "{" ".join(w for w, _ in words)}"'


def filter_clauses(
    since: float | None,
    until: float | None,
    model: str | None,
    mode: str | None,
    kept_only: bool,
) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``generations g`` for the search filters, and their arguments."""
    where: list[str] = []
    args: list[Any] = []
    for clause, value in (
        ("g.created >= ?", since),
        ("g.created < ?", until),
        ("g.model = ?", model),
        ("g.mode = ?", mode),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    if kept_only:
        where.append("g.kept = 1")
    return where, args
