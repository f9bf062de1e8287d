"""Shared machinery of the benchmarks: the fake server in its own process, payloads, and
measuring a child's wall time and peak RSS (``os.wait4``'s ``ru_maxrss``)."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakeserver import make_big_png, make_png  # noqa: E402

KEY = "sk-benchmark000000000000abcd"
MiB = 1024 * 1024


@dataclass
class Measure:
    wall_s: float
    peak_mib: float
    code: int


def dmxedit_command() -> list[str]:
    candidate = Path(sys.executable).parent / "dmxedit"
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("dmxedit")
    if found:
        return [found]
    return [sys.executable, "-m", "dmxedit"]


def base_env(base_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DMXAPI_", "DMXEDIT_"))}
    # As after `pip install`: bytecode is written and reused (some sandboxes turn it off).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        DMXAPI_API_KEY=KEY,
        DMXAPI_BASE_URL=base_url,
        # No DMXEDIT_CONFIG: the config file is found the way users' is (platformdirs).
        HOME=str(workdir / "home"),
        XDG_CONFIG_HOME=str(workdir / "home" / ".config"),
        XDG_CACHE_HOME=str(workdir / "home" / ".cache"),
        NO_PROXY="127.0.0.1,localhost",
        NO_COLOR="1",
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(proxy, None)
    return env


# A small launcher forks the measured command and reports its wall time and peak RSS.
# Linux carries the peak RSS across fork and exec, so the command must not be forked
# from this (large) process directly: the launcher's own few MiB are the floor instead.
_LAUNCHER = """
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(out, "w") as fh:
    fh.write(f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def measure(
    cmd: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Measure:
    """Run ``cmd`` once; its wall time and its own peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".measure") as report:
        proc = subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, report.name, *cmd],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        wall, rss_kib, code = report.read().split()
    if int(code) != 0:
        sys.stderr.write(f"command failed ({code}): {' '.join(cmd)[:200]}\n")
        sys.stderr.write(proc.stderr.decode("utf-8", "replace")[-2000:])
    return Measure(float(wall), int(rss_kib) / 1024, int(code))


def best_of(runs: int, cmd: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> Measure:
    """The median wall time and the largest peak RSS over ``runs`` runs."""
    found = [measure(cmd, env, cwd) for _ in range(runs)]
    return Measure(
        statistics.median(m.wall_s for m in found),
        max(m.peak_mib for m in found),
        max(m.code for m in found),
    )


@contextmanager
def fake_server(*, delay: float = 0.0, mode: str = "url", result_bytes: int = 0) -> Iterator[str]:
    """The project's fake DMXAPI server in a process of its own; yields its base URL."""
    cmd = [sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--delay", str(delay)]
    cmd += ["--mode", mode, "--result-bytes", str(result_bytes)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError("the fake server did not start")
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dmxedit-bench-") as name:
        yield Path(name)


def write_images(folder: Path, count: int, size: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = make_big_png(size) if size > 4096 else make_png(64, 48)
    paths = []
    for i in range(count):
        path = folder / f"image{i:02d}.png"
        path.write_bytes(data)
        paths.append(path)
    return paths


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"
