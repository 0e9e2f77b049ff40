"""The history database's tables and their migrations (PRAGMA user_version).

Each migration is a list of statements run in one write transaction; a database at
version N gets migrations N+1.. in order. Add a new list to MIGRATIONS to change the
schema; never edit one already released.
"""

from __future__ import annotations

import sqlite3

# v1: the generations, their thumbnails apart (so scans of the main table stay small),
# and an external-content FTS5 index kept in sync by triggers.
_V1 = [
    """CREATE TABLE generations (
        id INTEGER PRIMARY KEY,
        created REAL NOT NULL,
        request TEXT NOT NULL,
        prompt TEXT NOT NULL,
        negative_prompt TEXT NOT NULL,
        model TEXT NOT NULL,
        loras TEXT NOT NULL,
        seed INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        mode TEXT NOT NULL,
        path TEXT,
        kept INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX generations_created ON generations(created)",
    # Covering index for the search filters: checking a match against them reads this
    # narrow index instead of the wide row (request JSON, prompt).
    "CREATE INDEX generations_filters ON generations(id, created, model, mode, kept)",
    """CREATE TABLE thumbnails (
        id INTEGER PRIMARY KEY REFERENCES generations(id) ON DELETE CASCADE,
        data BLOB NOT NULL
    )""",
    """CREATE VIRTUAL TABLE generations_fts USING fts5(
        prompt, negative_prompt, model, loras, mode,
        content='generations', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2', prefix='3'
    )""",
    """CREATE TRIGGER generations_ai AFTER INSERT ON generations BEGIN
        INSERT INTO generations_fts(rowid, prompt, negative_prompt, model, loras, mode)
        VALUES (new.id, new.prompt, new.negative_prompt, new.model, new.loras, new.mode);
    END""",
    """CREATE TRIGGER generations_ad AFTER DELETE ON generations BEGIN
        INSERT INTO generations_fts(generations_fts, rowid, prompt, negative_prompt, model,
                                    loras, mode)
        VALUES ('delete', old.id, old.prompt, old.negative_prompt, old.model, old.loras,
                old.mode);
    END""",
    # Only the indexed columns: marking kept or setting the path leaves the index alone.
    """CREATE TRIGGER generations_au
        AFTER UPDATE OF prompt, negative_prompt, model, loras, mode ON generations BEGIN
        INSERT INTO generations_fts(generations_fts, rowid, prompt, negative_prompt, model,
                                    loras, mode)
        VALUES ('delete', old.id, old.prompt, old.negative_prompt, old.model, old.loras,
                old.mode);
        INSERT INTO generations_fts(rowid, prompt, negative_prompt, model, loras, mode)
        VALUES (new.id, new.prompt, new.negative_prompt, new.model, new.loras, new.mode);
    END""",
]

# v2: the input pictures of img2img/inpaint entries (engine.history.pictures): each
# picture once in blobs, named by its pixel hash; entry_inputs links entries to them.
# Blobs are big and rarely read: a table of their own keeps them out of every scan.
_V2 = [
    """CREATE TABLE blobs (
        id INTEGER PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,
        data BLOB NOT NULL
    )""",
    """CREATE TABLE entry_inputs (
        entry INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        blob INTEGER NOT NULL REFERENCES blobs(id),
        PRIMARY KEY (entry, role)
    ) WITHOUT ROWID""",
    "CREATE INDEX entry_inputs_blob ON entry_inputs(blob)",
]

MIGRATIONS: list[list[str]] = [_V1, _V2]
SCHEMA_VERSION = len(MIGRATIONS)


class NewerSchemaError(Exception):
    """The file was made by a newer Overpaint; this one must not write to it."""


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database to SCHEMA_VERSION. Two processes opening a new file at once
    both get here: the version is read again inside the write lock, so one migrates and
    the other sees it done."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise NewerSchemaError(f"schema version {version} > {SCHEMA_VERSION}")
        for statements in MIGRATIONS[version:]:
            for sql in statements:
                conn.execute(sql)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
