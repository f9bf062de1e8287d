"""`dmxedit mcp` (SPEC 14): the server's start to its tools/list answer, and one
edit_image call beside the same edit from the command line, against the fake server.

    python benchmarks/bench_mcp.py [--runs 7] [--image-mib 8]

The start is timed from spawning ``dmxedit mcp`` (the SDK's stdio client) to the
tools/list answer. An edit_image call is timed on a running server (the client's round
trip included); the CLI's edit is the whole process, start-up included, and the same
edit again as ``edit`` alone (its start-up, ``--version``, taken off) for the engine's
own share.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import anyio
from _common import base_env, best_of, dmxedit_command, fake_server, machine, ratio, workdir
from mcp import Client, StdioServerParameters


def _params(env: dict[str, str], cwd: Path) -> StdioServerParameters:
    command = dmxedit_command()
    return StdioServerParameters(
        command=command[0], args=[*command[1:], "mcp"], env=env, cwd=str(cwd)
    )


def start_to_list(runs: int, env: dict[str, str], cwd: Path) -> float:
    async def once() -> float:
        started = time.perf_counter()
        async with Client(_params(env, cwd)) as client:
            await client.list_tools()
            return time.perf_counter() - started

    return statistics.median(anyio.run(once) for _ in range(runs))


def edit_calls(runs: int, env: dict[str, str], cwd: Path, image: str) -> float:
    async def main() -> list[float]:
        found = []
        async with Client(_params(env, cwd)) as client:
            await client.call_tool("edit_image", {"images": [image], "prompt": "warm-up"})
            for _ in range(runs):
                started = time.perf_counter()
                result = await client.call_tool("edit_image", {"images": [image], "prompt": "x"})
                found.append(time.perf_counter() - started)
                assert not result.is_error, result
        return found

    return statistics.median(anyio.run(main))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--image-mib", type=int, default=8)
    args = parser.parse_args()
    from fakeserver import make_big_png  # tests/ is on the path through _common

    with workdir() as folder, fake_server() as base_url:
        env = base_env(base_url, folder)
        (folder / "photo.png").write_bytes(make_big_png(args.image_mib * 1024 * 1024))
        started = start_to_list(args.runs, env, folder)
        call = edit_calls(args.runs, env, folder, "photo.png")
        cli = best_of(args.runs, [*dmxedit_command(), "edit", "photo.png", "-p", "x"], env, folder)
        version = best_of(args.runs, [*dmxedit_command(), "--version"], env, folder)
    engine = cli.wall_s - version.wall_s
    print(machine())
    print(f"median of {args.runs} runs; a {args.image_mib} MiB PNG edited, fake server, no delay")
    print("| what | wall s |")
    print("|---|---|")
    print(f"| `dmxedit mcp` start to the tools/list answer | {started:.3f} |")
    print(f"| edit_image on a running server | {call:.3f} |")
    print(f"| `dmxedit edit` (the whole process) | {cli.wall_s:.3f} |")
    print(f"| `dmxedit edit` less `dmxedit --version` | {engine:.3f} |")
    print(
        f"edit_image / CLI edit: {ratio(call, cli.wall_s)}; / CLI less start-up: "
        f"{ratio(call, engine)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
