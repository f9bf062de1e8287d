"""Fast start (issue 3, point 6): the commands that never talk to the API, against a
minimal one-command Typer app's ``--version`` on the same interpreter and Typer.

    python benchmarks/bench_startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import typer
from _common import Measure, base_env, best_of, dmxedit_command, machine, ratio, workdir

MINIMAL = """
from typing import Annotated

import typer

app = typer.Typer()


def _version(value: bool) -> None:
    if value:
        print("minimal 1.0")
        raise typer.Exit()


@app.command()
def main(
    name: str = "x",
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    print(name)


app()
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument(
        "--compare-python",
        action="append",
        default=[],
        metavar="PYTHON",
        help="also time the minimal app under this interpreter (e.g. a venv with typer 0.29)",
    )
    args = parser.parse_args()
    with workdir() as tmp:
        script = tmp / "minimal.py"
        script.write_text(MINIMAL)
        env = base_env("http://127.0.0.1:9/v1", tmp)
        env["LANG"] = "C.UTF-8"  # English; the zh_CN cases below set LANG=zh_CN.UTF-8
        cases = {
            "minimal Typer app --version": [sys.executable, str(script), "--version"],
            "dmxedit --version": [*dmxedit_command(), "--version"],
            "dmxedit --help": [*dmxedit_command(), "--help"],
            "dmxedit ratios": [*dmxedit_command(), "ratios"],
            "dmxedit config list": [*dmxedit_command(), "config", "list"],
            "dmxedit edit (an error)": [*dmxedit_command(), "edit"],
        }
        # Issue #26: the same commands in Chinese (the catalog read when a message shows).
        chinese = {
            f"{name} zh_CN": cmd for name, cmd in cases.items() if name.startswith("dmxedit")
        }
        cases.update(chinese)
        zh_env = {**env, "LANG": "zh_CN.UTF-8"}
        for other in args.compare_python:
            version = subprocess.run(
                [other, "-c", "import typer; print(typer.__version__)"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            cases[f"minimal app, typer {version}"] = [other, str(script), "--version"]
        # Interleave the runs so a busy moment hits every case alike.
        found: dict[str, list[Measure]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                found[name].append(best_of(1, cmd, zh_env if name in chinese else env))
    medians = {name: sorted(m.wall_s for m in runs)[len(runs) // 2] for name, runs in found.items()}
    base = medians["minimal Typer app --version"]
    print(f"machine: {machine()}; typer {typer.__version__}; median of {args.runs} runs")
    print(f"{'command':<36} {'wall s':>8} {'vs minimal':>11} {'zh_CN/en':>9}")
    for name, wall in medians.items():
        english = medians.get(name[: -len(" zh_CN")]) if name.endswith(" zh_CN") else None
        versus = ratio(wall, english) if english else ""
        print(f"{name:<36} {wall:>8.3f} {ratio(wall, base):>11} {versus:>9}")
    worst = max(v for k, v in medians.items() if k.startswith("dmxedit"))
    print(f"\nslowest dmxedit command / minimal app: {ratio(worst, base)} (limit 1.2x)")
    failed = any(m.code not in (0, 2) for runs in found.values() for m in runs)  # edit: 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
