"""The ledger's schema and its migrations: each applied once, in order, whatever
version of dmxedit made the ledger (SPEC section 7)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

FIRST_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    model TEXT,
    prompt TEXT,
    options TEXT,
    inputs TEXT,
    output TEXT,
    name TEXT,
    results_file TEXT,
    job_id TEXT,
    urls TEXT,
    data_paths TEXT,
    request_id TEXT,
    usage TEXT,
    revised_prompt TEXT,
    files TEXT,
    error TEXT,
    exit_code INTEGER,
    may_be_billed INTEGER,
    billed INTEGER
);
CREATE INDEX IF NOT EXISTS entries_created ON entries (created);
"""
#: The whole table as the migrations leave it (a ledger made before they existed has it).
SCHEMA = FIRST_SCHEMA.replace(
    "    billed INTEGER\n",
    "    billed INTEGER,\n    unsaved_urls TEXT,\n    mismatch TEXT,\n    billing TEXT,\n"
    "    text TEXT,\n    parent INTEGER,\n    turn TEXT\n",
)


def _add_column(name: str, kind: str) -> Callable[[sqlite3.Connection], None]:
    def add(db: sqlite3.Connection) -> None:
        columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
        if name not in columns:  # a ledger made before this column existed
            db.execute(f"ALTER TABLE entries ADD COLUMN {name} {kind}")

    return add


def _digests(db: sqlite3.Connection) -> None:
    """Inputs' SHA-256 by file identity (path, size, mtime, inode), as git's index keeps
    them: an input edited again is not read twice to be hashed."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS digests (path BLOB PRIMARY KEY, size INTEGER NOT NULL, "
        "mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, sha256 TEXT NOT NULL)"
    )


def _first(db: sqlite3.Connection) -> None:
    for statement in FIRST_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


#: The schema's changes, in order: each applied once (inside one ``BEGIN IMMEDIATE``
#: transaction with its record in ``migrations``), so a ledger of any earlier version,
#: or a fresh one opened by several processes at once, ends the same. Append only.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("0001-entries", _first),
    ("0002-unsaved-urls", _add_column("unsaved_urls", "TEXT")),
    ("0003-mismatch", _add_column("mismatch", "TEXT")),
    ("0004-billing", _add_column("billing", "TEXT")),
    ("0005-digests", _digests),
    ("0006-model-text", _add_column("text", "TEXT")),  # the gemini door's model words
    ("0007-parent", _add_column("parent", "INTEGER")),
    ("0008-turn", _add_column("turn", "TEXT")),
]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations this ledger lacks, in order, in one ``BEGIN IMMEDIATE``
    transaction (another process opening it waits, then finds them applied); the names
    applied now."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM migrations")}
    if all(name in done for name, _ in MIGRATIONS):
        return []
    db.execute("BEGIN IMMEDIATE")
    try:
        done = {row[0] for row in db.execute("SELECT name FROM migrations")}
        applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            step(db)
            db.execute("INSERT INTO migrations (name, applied) VALUES (?, ?)", [name, time.time()])
            applied.append(name)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied
