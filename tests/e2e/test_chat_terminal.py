"""`dmxedit chat` on a real terminal (SPEC 13): the prompt, a turn, Ctrl-C during a turn
(recorded as SPEC 4 says, then the prompt again), /quit; and `recover` lists the
interrupted turn afterwards."""

from __future__ import annotations

import os
import re
import select
import sys
import time
from pathlib import Path

import fakegemini
import pytest
from fakeserver import FakeDMX, Reply
from helpers import KEY, dmxedit_command, ledger_rows, run_in_process, server_env

FLASH = "gemini-3.1-flash-image"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pseudo-terminal"),
]


class Terminal:
    """dmxedit running on a pseudo-terminal of its own."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        import pty

        pid, fd = pty.fork()
        if pid == 0:  # the child
            os.chdir(cwd)
            os.execve(dmxedit_command()[0], ["dmxedit", *args], env)
        self.pid, self.fd, self.seen = pid, fd, b""

    def read_until(self, what: bytes, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while what not in ANSI.sub(b"", self.seen[start:]) and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                self.seen += data
        text = ANSI.sub(b"", self.seen[start:])
        assert what in text, text.decode("utf-8", "replace")
        return text.decode("utf-8", "replace")

    def type(self, text: bytes) -> None:
        os.write(self.fd, text)

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_chat_on_a_terminal_survives_ctrl_c_mid_turn(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if v is not None}
    env.update({k: v for k, v in server_env(server, KEY, None).items() if v is not None})
    env.update(TERM="xterm", COLUMNS="120")
    term = Terminal(["chat", str(png), "-m", FLASH], env, tmp_path)
    term.read_until(b"dmxedit> ")
    term.type(b"add a hat\n")
    first = term.read_until(b"dmxedit> ")
    assert "Saved output/" in first and ".png" in first
    slow = fakegemini.inline_answer(signature=fakegemini.issue_signature(server, server.result))
    server.script(fakegemini.path(FLASH), Reply(json=slow, delay=30))
    term.type(b"make it night\n")
    term.read_until(b"Waiting for the model")
    term.type(b"\x03")  # Ctrl-C: SIGINT to the foreground process
    said = term.read_until(b"dmxedit> ")
    assert "nterrupt" in said and "billed" in said  # what became of the turn, then the prompt
    term.type(b"/quit\n")
    assert term.wait() == 0
    typed = tmp_path / "data" / "chat_history"  # readline's history, kept for next time
    assert "add a hat" in typed.read_text() and oct(typed.stat().st_mode & 0o777) == "0o600"
    rows = ledger_rows(tmp_path)
    assert [r["status"] for r in rows] == ["saved", "interrupted"]
    assert rows[1]["may_be_billed"] == 1 and rows[1]["parent"] == rows[0]["id"]
    listed = run_in_process(["recover"], env=server_env(server, KEY, None))
    assert f"{rows[1]['id']}" in listed.stdout + listed.stderr, listed.output
