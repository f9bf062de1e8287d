"""The ledger: a SQLite record of every request that may be billed (SPEC section 7).

An entry is written before a request is sent and updated as it goes: ``sent`` when the
body has gone out, ``answered`` with the URLs (or where the b64 data is written), the
request id, usage and revised prompt, ``saved`` with the files, or ``failed`` /
``interrupted`` with the error. Each change is committed before the tool goes on, so a
paid result is never known only to the process's memory. The key is never stored.

``ledger.db`` lives in ``platformdirs.user_data_path("dmxedit")`` (``DMXEDIT_DATA_DIR``
overrides the folder), mode 0600 in a 0700 folder, in WAL mode. ``config set history
off`` or ``DMXEDIT_NO_HISTORY=1`` turn it off. Only commands that send (or read the
history) open it. Its schema and migrations are in :mod:`dmxedit.store.migrations`;
``@last`` and ``@N`` image arguments are read in :mod:`dmxedit.store.refs`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dmxedit.core import env
from dmxedit.core.errors import ConfigError
from dmxedit.core.i18n import T
from dmxedit.core.text import dumps, undecodable
from dmxedit.media.digests import FileKey
from dmxedit.store.migrations import migrate

ENV_DATA_DIR = env.DATA_DIR
ENV_NO_HISTORY = env.NO_HISTORY
R = TypeVar("R")
JSON_FIELDS = (
    "options",
    "inputs",
    "urls",
    "data_paths",
    "usage",
    "files",
    "unsaved_urls",
    "mismatch",
    "billing",
    "text",
    "turn",
)
#: How long a write waits for another process's lock (SQLite's busy timeout), and how
#: long dmxedit keeps retrying one that SQLite gives up on before the timeout (opening
#: a fresh ledger, switching to WAL, a read that must become a write).
BUSY_TIMEOUT_S = 30.0
RETRY_FOR_S = 60.0


def _busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def retrying(action: Callable[[], R], *, patience: float | None = None) -> R:
    """Run ``action``, again while another process holds the ledger's lock (SQLite
    gives up at once in a few cases its busy timeout does not cover)."""
    deadline = time.monotonic() + (RETRY_FOR_S if patience is None else patience)
    wait = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(wait + random.random() * wait)
        wait = min(wait * 2, 0.5)


def data_folder(environ: Mapping[str, str] | None = None) -> Path:
    override = env.data_dir(env.given(environ))
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_path

    return user_data_path("dmxedit")


def ledger_path(environ: Mapping[str, str] | None = None) -> Path:
    return data_folder(environ) / "ledger.db"


def enabled(history: bool, environ: Mapping[str, str] | None = None) -> bool:
    """The ledger is on unless the setting or DMXEDIT_NO_HISTORY turns it off."""
    return history and not env.no_history(env.given(environ))


def sha256_of(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


@dataclass
class Entry:
    """One ledger entry, as read back."""

    id: int
    created: float
    updated: float
    kind: str
    status: str
    model: str | None = None
    prompt: str | None = None
    options: Any = None
    inputs: Any = None
    output: str | None = None
    name: str | None = None
    results_file: str | None = None
    job_id: str | None = None
    urls: Any = None
    data_paths: Any = None
    request_id: str | None = None
    usage: Any = None
    revised_prompt: str | None = None
    files: Any = None
    error: str | None = None
    exit_code: int | None = None
    may_be_billed: int | None = None
    billed: int | None = None
    unsaved_urls: Any = None  # result URLs not saved yet (None: all saved, or none known)
    mismatch: Any = None  # what the saved images differ in from what was asked (receipt)
    billing: Any = None  # the billing check's verdict (SPEC 8), when one was made
    text: Any = None  # the model's own words beside its images (gemini door), a list
    parent: int | None = None  # the entry this one continues (a conversation, SPEC 13)
    #: The model's turn as the next turn sends it back (SPEC 13): its parts in order,
    #: ``{"text", "signature"}`` or ``{"image": i, "signature"}`` (i: the i-th saved file;
    #: signature: the SHA-256 naming its file under the data folder, or None)
    turn: Any = None

    @property
    def saved_files(self) -> list[str]:
        return [f["path"] for f in self.files or []]

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["may_be_billed"] = None if self.may_be_billed is None else bool(self.may_be_billed)
        if self.status == "saved":  # delivered and saved: paid, not "may have been billed"
            out["may_be_billed"] = None
        out["billed"] = None if self.billed is None else bool(self.billed)
        return out


class Ledger:
    """The open ledger database; safe to use from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = self._open(path)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                T("The ledger {path} cannot be opened: {exc}.", path=path, exc=exc),
                hint=T(
                    "Fix its folder's permissions, point {env_data_dir} elsewhere, "
                    "or turn it off with `dmxedit config set history off` "
                    "({env_no_history}=1).",
                    env_data_dir=ENV_DATA_DIR,
                    env_no_history=ENV_NO_HISTORY,
                ),
            ) from None

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        folder = path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix" and folder.stat().st_mode & 0o077 and folder.name == "dmxedit":
            os.chmod(folder, 0o700)  # dmxedit's own data folder, made by someone else
        if not path.exists():  # created 0600 before SQLite writes anything into it
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
        try:
            retrying(lambda: _wal(db))
            db.execute("PRAGMA synchronous=NORMAL")
            retrying(lambda: migrate(db))
        except BaseException:
            db.close()  # not a ledger (or not writable): never leave the connection open
            raise
        for extra in (f"{path}-wal", f"{path}-shm"):
            if os.path.exists(extra) and hasattr(os, "chmod"):
                os.chmod(extra, 0o600)
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        with self._lock:
            return retrying(lambda: self._db.execute(sql, list(args)))

    def check_writable(self) -> int:
        """Take the write lock and release it at once, writing nothing (``dmxedit
        doctor``); the number of entries. sqlite3.Error when it cannot be written."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT count(*) FROM entries").fetchone()
            finally:
                self._db.execute("ROLLBACK")
        return int(row[0])

    # -- the inputs' digests, by file identity --------------------------------------

    def known(self, key: FileKey) -> str | None:
        """The SHA-256 recorded for this file as it is now (path, size, mtime, inode), or
        None. A cache: any trouble reading it is a miss, never an error."""
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT sha256 FROM digests WHERE path = ? AND size = ? AND mtime_ns = ? "
                    "AND inode = ?",
                    list(key),
                ).fetchone()
        except sqlite3.Error:
            return None
        return str(row[0]) if row else None

    def remember(self, key: FileKey, sha256: str) -> None:
        """Record a file's SHA-256 under its identity (failures ignored: only a cache)."""
        try:
            self._write(
                "INSERT OR REPLACE INTO digests (path, size, mtime_ns, inode, sha256) "
                "VALUES (?, ?, ?, ?, ?)",
                [*key, sha256],
            )
        except sqlite3.Error:
            pass

    # -- writing ----------------------------------------------------------------------

    def create(self, **fields: Any) -> int:
        now = time.time()
        fields = {k: _encode(k, v) for k, v in fields.items()}
        names = ["created", "updated", *fields]
        cursor = self._write(
            f"INSERT INTO entries ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [now, now, *fields.values()],
        )
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def update(self, entry_id: int, *, touch: bool = True, **fields: Any) -> None:
        """Change an entry; committed when this returns (autocommit). ``touch=False``
        keeps ``updated``: a note about the entry (a billing verdict) is not a step of its
        request, and the billing check reads ``updated`` as the time the request ended."""
        fields = {k: _encode(k, v) for k, v in fields.items()}
        if touch:
            fields["updated"] = time.time()
        sets = ", ".join(f"{name} = ?" for name in fields)
        self._write(f"UPDATE entries SET {sets} WHERE id = ?", [*fields.values(), entry_id])

    # -- reading ----------------------------------------------------------------------

    def get(self, entry_id: int) -> Entry | None:
        rows = self._select("WHERE id = ?", [entry_id])
        return rows[0] if rows else None

    def query(
        self,
        *,
        limit: int | None = 20,
        failed: bool = False,
        since: float | None = None,
        grep: str | None = None,
    ) -> list[Entry]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if failed:
            where.append("status IN ('failed', 'interrupted')")
        if since is not None:
            where.append("created >= ?")
            args.append(since)
        if grep:
            where.append("(prompt LIKE ? ESCAPE '\\' OR revised_prompt LIKE ? ESCAPE '\\')")
            pattern = "%" + grep.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args += [pattern + "%", pattern + "%"]
        clause = "WHERE " + " AND ".join(where) + " ORDER BY id DESC"
        if limit is not None:
            clause += f" LIMIT {int(limit)}"
        return self._select(clause, args)

    def unsaved(self) -> list[Entry]:
        """Entries with a paid result not saved yet (a URL, or b64 data kept aside)."""
        rows = self._select(
            "WHERE status IN ('answered', 'failed', 'interrupted') "
            "AND (unsaved_urls IS NOT NULL OR data_paths IS NOT NULL) ORDER BY id",
            [],
        )
        return [e for e in rows if e.unsaved_urls or e.data_paths]

    def job_saved(
        self,
        results_file: str,
        job_id: str,
        files: list[str],
        delivered: Sequence[Any] = (),
        mismatch: Sequence[str] = (),
    ) -> None:
        """A batch re-run saved a job's paid result: its newest entry says so, with the
        receipt (what each file delivered, what differs from what was asked)."""
        rows = self._select(
            "WHERE results_file = ? AND job_id = ? ORDER BY id DESC LIMIT 1",
            [results_file, job_id],
        )
        if rows:
            items = file_items(files)
            for item, got in zip(items, delivered, strict=False):
                item["delivered"] = got
            self.update(
                rows[0].id,
                status="saved",
                files=[*(rows[0].files or []), *items],
                mismatch=[*(rows[0].mismatch or []), *mismatch] or None,
                unsaved_urls=None,
                error=None,
                exit_code=0,
            )

    def unanswered(self, *, settled: bool = False) -> list[Entry]:
        """Entries whose request went out and got no answer: they may have been billed.
        Those a billing check settled (billed or not) only with ``settled``."""
        return self._select(
            "WHERE status IN ('sent', 'interrupted', 'failed') AND urls IS NULL "
            "AND data_paths IS NULL AND files IS NULL AND COALESCE(may_be_billed, 0) = 1 "
            + ("" if settled else "AND billed IS NULL ")
            + "ORDER BY id",
            [],
        )

    def request_ids_between(
        self, start: float, end: float, *, exclude: int | None = None
    ) -> set[str]:
        """The request ids of entries made between two times (but ``exclude``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT request_id FROM entries WHERE created >= ? AND created <= ? "
                "AND request_id IS NOT NULL AND id != ?",
                [start, end, -1 if exclude is None else exclude],
            ).fetchall()
        return {str(row[0]) for row in rows if row[0]}

    def newest_for_job(self, results_file: str, job_id: str) -> Entry | None:
        rows = self._select(
            "WHERE results_file = ? AND job_id = ? ORDER BY id DESC LIMIT 1",
            [results_file, job_id],
        )
        return rows[0] if rows else None

    def sizes_of(self, request_ids: set[str]) -> dict[str, str]:
        """request id -> the size asked (1K when none was given), for known entries."""
        out: dict[str, str] = {}
        ids = sorted(request_ids)
        for at in range(0, len(ids), 500):
            chunk = ids[at : at + 500]
            marks = ", ".join("?" * len(chunk))
            for entry in self._select(f"WHERE request_id IN ({marks})", chunk):
                size = (entry.options or {}).get("size") or "1K"
                if entry.request_id:
                    out[entry.request_id] = str(size)
        return out

    def counts_between(self, start: float, end: float, model: str | None = None) -> dict[str, int]:
        """What the ledger itself says of a period: requests sent, saved, failed, and
        those that may have been billed (sent, no result), with the checked verdicts."""
        where = "WHERE created >= ? AND created < ?"
        args: list[Any] = [start, end]
        if model:
            where += " AND model = ?"
            args.append(model)
        with self._lock:
            rows = self._db.execute(
                "SELECT status, may_be_billed, billed, urls IS NOT NULL OR files IS NOT NULL "
                f"FROM entries {where}",
                args,
            ).fetchall()
        counts = {
            "entries": len(rows),
            "sent": 0,
            "saved": 0,
            "failed": 0,
            "may_be_billed": 0,
            "billed": 0,
            "not_billed": 0,
        }
        for status, may_be_billed, billed, answered in rows:
            if status != "created":
                counts["sent"] += 1
            if status == "saved":
                counts["saved"] += 1
            elif status in ("failed", "interrupted"):
                counts["failed"] += 1
            if status != "saved" and may_be_billed and not answered:
                counts["may_be_billed"] += 1
                if billed == 1:
                    counts["billed"] += 1
                elif billed == 0:
                    counts["not_billed"] += 1
        return counts

    def newest_saved(self) -> Entry | None:
        for entry in self._select("WHERE files IS NOT NULL ORDER BY id DESC", []):
            if any(Path(p).is_file() for p in entry.saved_files):
                return entry
        return None

    def by_file(self, path: Path) -> Entry | None:
        """The entry that produced ``path``: by its path, else by its SHA-256 (moved)."""
        wanted = str(path.resolve())
        digest = sha256_of(path)
        fallback: Entry | None = None
        for entry in self._select("WHERE files IS NOT NULL ORDER BY id DESC", []):
            for item in entry.files or []:
                if str(Path(item["path"]).resolve()) == wanted:
                    return entry
                if fallback is None and digest is not None and item.get("sha256") == digest:
                    fallback = entry
        return fallback

    def _select(self, clause: str, args: Sequence[Any]) -> list[Entry]:
        with self._lock:
            cursor = self._db.execute(f"SELECT * FROM entries {clause}", list(args))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [
            Entry(**{n: _decode(n, v) for n, v in zip(names, row, strict=True)}) for row in rows
        ]


def _encode(name: str, value: Any) -> Any:
    """A value as its column keeps it. Server text (half an emoji, NUL) comes already
    escaped (:func:`storable`). A path whose name is not UTF-8 (a lone surrogate for each
    undecodable byte) stays exact: escaped in JSON, or (a text column) kept as the bytes
    the file system names it by, which SQLite stores as a BLOB."""
    if name in JSON_FIELDS:
        return None if value is None else dumps(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and undecodable(value):
        try:
            return value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate no file name has: kept as it reads
            return value.encode("utf-8", "replace")
    return value


def _wal(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")


def _decode(name: str, value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    if name in JSON_FIELDS and isinstance(value, str):
        return json.loads(value)
    return value


def open_ledger(
    history: bool, env: Mapping[str, str] | None = None, *, create: bool = True
) -> Ledger | None:
    """The ledger, or None when it is turned off (or, without ``create``, not made yet)."""
    if not enabled(history, env):
        return None
    path = ledger_path(env)
    if not create and not path.exists():
        return None
    return Ledger(path)


def file_items(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    return [{"path": str(Path(p).resolve()), "sha256": sha256_of(Path(p))} for p in paths]
