"""Generation history: every sample recorded in one SQLite file, searchable in full text.

`store.HistoryStore` is the database (WAL, busy timeout, FTS5, migrations in `schema`,
the search SQL in `search`); `pictures` keeps the input pictures of img2img/inpaint
entries and `replay` gives an entry's job back from them; `config` says whether history
is on and where the file lives; `recorder` records off the caller's thread and holds the
one-line hooks the CLI and the editor call; `cli` is `overpaint history`. No Qt here.
"""

from __future__ import annotations

from engine.history.config import database_path, history_enabled, open_history
from engine.history.store import Entry, HistoryStore, Hit

__all__ = ["Entry", "Hit", "HistoryStore", "database_path", "history_enabled", "open_history"]
