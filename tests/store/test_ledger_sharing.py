"""One ledger, many processes: named migrations applied once under BEGIN IMMEDIATE, a
busy ledger waited for (never "database is locked"), text SQLite refuses kept escaped."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fakeserver import FakeDMX
from helpers import jobs_file, start

from dmxedit.core.text import storable
from dmxedit.store import ledger as ledger_module
from dmxedit.store import migrations as migrations_module
from dmxedit.store.ledger import Ledger
from dmxedit.store.migrations import MIGRATIONS, SCHEMA

OPENER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dmxedit.store.ledger import Ledger
    start = float(sys.argv[2])
    while time.time() < start:
        pass
    book = Ledger(Path(sys.argv[1]))
    for i in range(20):
        entry = book.create(kind="edit", status="created", model="m", prompt=f"p{i}")
        book.update(entry, status="sent", may_be_billed=True)
    book.close()
    """
)


def test_eight_processes_open_a_fresh_ledger_at_once(tmp_path: Path) -> None:
    import time

    path = tmp_path / "data" / "ledger.db"
    start = time.time() + 1.5  # every process waits for the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(path), str(start)],
            stderr=subprocess.PIPE,
        )
        for _ in range(8)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM entries").fetchone()[0] == 160
    names = [r[0] for r in db.execute("SELECT name FROM migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]  # each applied once
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_a_ledger_made_before_the_migrations_gets_the_missing_ones(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA.replace(",\n    mismatch TEXT,\n    billing TEXT", ""))
    db.execute(
        "INSERT INTO entries (created, updated, kind, status) VALUES (1, 1, 'edit', 'saved')"
    )
    db.commit()
    db.close()
    book = Ledger(path)
    entry = book.get(1)
    assert entry is not None and entry.billing is None and entry.mismatch is None
    book.close()
    book = Ledger(path)  # opened again: nothing left to apply
    assert migrations_module.migrate(book._db) == []
    book.close()


def db_error(text: str) -> int:
    raise sqlite3.OperationalError(text)


def test_a_busy_ledger_is_waited_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [0]

    def flaky() -> int:
        calls[0] += 1
        if calls[0] < 4:
            raise sqlite3.OperationalError("database is locked")
        return 7

    monkeypatch.setattr("dmxedit.store.ledger.time.sleep", lambda s: None)
    assert ledger_module.retrying(flaky) == 7 and calls[0] == 4
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        ledger_module.retrying(
            lambda: (_ for _ in ()).throw(sqlite3.OperationalError("no such table"))
        )


def test_text_sqlite_refuses_never_fails_a_write(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "ledger.db")
    entry = book.create(kind="edit", status="created", prompt="a\x00b", revised_prompt="\ud83d")
    book.update(entry, usage={"k\udc00": ["\ud83d"]}, error="x\ud83d")
    got = book.get(entry)
    assert got is not None and got.prompt == "a\x00b"
    assert got.usage == {"k\udc00": ["\ud83d"]}  # JSON keeps it exact
    book.close()
    assert storable({"t": ["\ud83d\x00"]}) == {"t": ["\\ud83d\\u0000"]}
    assert storable("fine ✓") == "fine ✓"


def test_eight_shards_started_at_once_all_run(server: FakeDMX, tmp_path: Path) -> None:
    jobs = jobs_file(tmp_path, 16)
    procs = [start(server, tmp_path, "batch", str(jobs), "--shard", f"{k}/8") for k in range(1, 9)]
    outcomes = [proc.communicate(timeout=180) for proc in procs]
    errors = [err.decode() for _, err in outcomes]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert not any("locked" in err for err in errors)
    assert len(server.posts()) == 16
    db = sqlite3.connect(tmp_path / "data" / "ledger.db")
    assert db.execute("SELECT count(*) FROM entries WHERE status = 'saved'").fetchone()[0] == 16
    db.close()
    lines = [
        json.loads(line)
        for shard in jobs.parent.glob("*.results.jsonl")
        for line in shard.read_text(encoding="utf-8").splitlines()
    ]
    assert sum(1 for r in lines if r["status"] == "ok") == 16


@pytest.mark.parametrize("step", ["_wal", "migrate"])
def test_opening_waits_out_a_lock_sqlite_gives_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    real = getattr(ledger_module, step)
    calls = [0]

    def flaky(db: sqlite3.Connection) -> object:
        calls[0] += 1
        if calls[0] < 3:  # another process switching to WAL or migrating right now
            raise sqlite3.OperationalError("database is locked")
        return real(db)

    monkeypatch.setattr(ledger_module, step, flaky)
    monkeypatch.setattr("dmxedit.store.ledger.time.sleep", lambda s: None)
    book = Ledger(tmp_path / "ledger.db")
    assert book.create(kind="edit", status="created") == 1 and calls[0] == 3
    book.close()
