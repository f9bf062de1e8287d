"""dmxedit imports and runs its light commands where POSIX-only modules do not exist
(issue 15, point 3): Windows has no fcntl, pty, resource, termios, grp or pwd, and no
SIGHUP. The suite runs on Linux only, so this is as near as it gets: a fresh interpreter
with those modules blocked and SIGHUP removed imports every module of the package and
runs ``--version``, ``--help``, ``ratios`` and ``config path`` through the entry point.
A static check keeps POSIX-only names behind a guard where the run does not reach them.
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dmxedit"
POSIX_ONLY_MODULES = ("fcntl", "pty", "resource", "termios", "tty", "grp", "pwd")
# Attributes that do not exist on Windows (os.fchmod came to Windows in 3.13 only).
POSIX_ONLY_ATTRIBUTES = {
    "os": {
        "fchmod", "fchown", "chown", "lchown", "getuid", "geteuid", "getgid", "getegid",
        "getgroups", "setsid", "getsid", "getpgid", "getpgrp", "killpg", "fork", "forkpty",
        "sync", "statvfs", "fstatvfs", "mkfifo", "mknod", "getloadavg", "uname", "nice",
        "O_NOFOLLOW", "O_DIRECTORY", "O_CLOEXEC", "O_NONBLOCK", "O_SYNC", "O_DSYNC",
        "pipe2", "WNOHANG", "getpriority", "setpriority", "sched_getaffinity", "ttyname",
        "posix_fadvise", "posix_fallocate", "pread", "pwrite", "preadv", "pwritev",
    },
    "signal": {
        "SIGHUP", "SIGQUIT", "SIGKILL", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGPIPE",
        "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGWINCH", "alarm", "setitimer",
        "getitimer", "pause", "siginterrupt", "pthread_kill", "pthread_sigmask", "sigwait",
    },
}  # fmt: skip

PROBE = r"""
import json, os, pkgutil, signal, sys, importlib

blocked = json.loads(sys.argv[1])
for name in blocked:
    sys.modules[name] = None  # `import name` now raises ImportError, as on Windows
for name in ("SIGHUP",):
    if hasattr(signal, name):
        delattr(signal, name)
if hasattr(os, "fchmod"):
    del os.fchmod  # absent on Windows before 3.13

import dmxedit
imported = []
for info in pkgutil.walk_packages(dmxedit.__path__, "dmxedit."):
    if info.name == "dmxedit.__main__":
        continue  # it runs the CLI: the entry point is run below
    if info.name == "dmxedit.mcp.server":
        # The MCP SDK's glue: the SDK imports fcntl behind its own sys.platform check,
        # so blocking fcntl on Linux is no stand-in for Windows there.
        continue
    importlib.import_module(info.name)
    imported.append(info.name)

from dmxedit.cli.app import main
outputs = {}
for args in (["--version"], ["--help"], ["ratios"], ["ratios", "--json"], ["config", "path"]):
    sys.argv = ["dmxedit", *args]
    try:
        main()
    except SystemExit as exc:
        outputs[" ".join(args)] = exc.code
    sys.stdout.flush()
leaked = [n for n in blocked if sys.modules.get(n) is not None]
print("\n" + json.dumps({"imported": imported, "codes": outputs, "leaked": leaked}))
"""


def _probe(tmp_path: Path, blocked: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    env = dict(os.environ, DMXEDIT_CONFIG=str(tmp_path / "cfg" / "config.toml"))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(blocked))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    *out, last = proc.stdout.rstrip("\n").split("\n")
    return json.loads(last), "\n".join(out)


def test_every_module_imports_and_the_light_commands_run_without_posix_modules(
    tmp_path: Path,
) -> None:
    found, out = _probe(tmp_path, POSIX_ONLY_MODULES)
    modules = {p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".") for p in
               PACKAGE.rglob("*.py") if p.name != "__init__.py"}  # fmt: skip
    assert modules - {"dmxedit.__main__", "dmxedit.mcp.server"} <= set(found["imported"])
    assert found["codes"] == {
        "--version": 0,
        "--help": 0,
        "ratios": 0,
        "ratios --json": 0,
        "config path": 0,
    }
    assert found["leaked"] == []
    assert "dmxedit " in out and "16:9" in out and "5504x3072" in out
    assert str(tmp_path / "cfg" / "config.toml") in out
    assert "Commands" in out  # --help's listing


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside ``if hasattr(...)`` / ``if os.name ...`` / ``if sys.platform ...``, a
    ``try`` that catches ImportError or AttributeError, or a function only POSIX calls
    (its name ends in ``_posix``)."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, (ast.If, ast.IfExp)) and child is not parent.test:
            test = ast.unparse(parent.test)
            if any(word in test for word in ("hasattr", "os.name", "sys.platform", "POSIX")):
                return True
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                caught = ast.unparse(handler.type) if handler.type else "BaseException"
                if any(w in caught for w in ("ImportError", "AttributeError", "Exception")):
                    return True
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and parent.name.endswith(
            "_posix"
        ):
            return True
        child, parent = parent, parents.get(parent)
    return False


def _unguarded_uses(source: str) -> list[str]:
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module.split(".")[0]]
        for name in names:
            if name in POSIX_ONLY_MODULES and not _guarded(node, parents):
                found.append(f"line {line}: import {name}")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.attr in POSIX_ONLY_ATTRIBUTES.get(node.value.id, ())
            and not _guarded(node, parents)
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_posix_only_names_are_used_only_behind_a_guard() -> None:
    problems = {
        str(path.relative_to(ROOT)): uses
        for path in sorted(PACKAGE.rglob("*.py"))
        if (uses := _unguarded_uses(path.read_text(encoding="utf-8")))
    }
    assert problems == {}, (
        "POSIX-only modules or attributes used without a guard (hasattr, os.name, "
        f"try/except ImportError): {problems}"
    )


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("import fcntl\n", True),
        ("try:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n", False),
        ("import os\nos.fchmod(1, 0o600)\n", True),
        ("import os\nif hasattr(os, 'fchmod'):\n    os.fchmod(1, 0o600)\n", False),
        ("import signal\nsignal.signal(signal.SIGHUP, print)\n", True),
        ("import os\nif os.name == 'posix':\n    import termios\n", False),
        ("def f():\n    import pty\n", True),
    ],
)
def test_the_static_check_sees_what_it_should(source: str, flagged: bool) -> None:
    assert bool(_unguarded_uses(source)) is flagged


@pytest.mark.parametrize(("system", "saved"), [("nt", True), ("posix", False)])
def test_a_file_system_without_hard_links_on_windows_still_saves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, system: str, saved: bool
) -> None:
    """Windows reports EINVAL for a hard link on FAT/exFAT: the result is saved by the
    exclusive-create fallback there (on POSIX, EINVAL stays an error)."""
    import errno

    from dmxedit.store import results

    temp = tmp_path / "temp.part"
    temp.write_bytes(b"image")
    target = tmp_path / "edited.png"

    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EINVAL, "Incorrect function")

    monkeypatch.setattr(os, "link", no_link)
    monkeypatch.setattr(os, "name", system)
    if saved:
        assert results._claim(str(temp), target) is True
        assert target.read_bytes() == b"image" and not temp.exists()
    else:
        with pytest.raises(OSError):
            results._claim(str(temp), target)


def _stream(encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, write_through=True)


def test_a_pipe_in_a_windows_code_page_still_carries_a_chinese_prompt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Windows a pipe gets the ANSI code page (cp1252 here); --json with a Chinese
    prompt must come out (as UTF-8), not end in an encoding error."""
    from dmxedit.cli.context import RunContext

    out, err = _stream("cp1252"), _stream("cp1252")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.delenv("PYTHONIOENCODING", raising=False)
    ctx = RunContext.from_process()
    ctx.emit_json({"prompt": "让画面下雪 ❄"})
    ctx.stderr.write("dmxedit: 保存 ❄\n")
    ctx.stderr.flush()
    raw = out.buffer
    assert isinstance(raw, io.BytesIO)
    assert json.loads(raw.getvalue().decode("utf-8")) == {"prompt": "让画面下雪 ❄"}
    errors = err.buffer
    assert isinstance(errors, io.BytesIO) and "保存 ❄" in errors.getvalue().decode("utf-8")


def test_an_encoding_the_user_chose_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from dmxedit.cli.context import portable_streams

    out = _stream("cp1252")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("PYTHONIOENCODING", "cp1252")
    portable_streams()
    assert out.encoding == "cp1252"
