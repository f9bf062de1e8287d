"""Help texts and usage lines."""

from __future__ import annotations

import pytest
from helpers import (
    Cli,
    expect,
    run_in_process,
)


def _command_paths() -> list[list[str]]:
    from dmxedit.cli.tree import build, click_command

    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(click_command(build()), [])
    return paths


def test_help_before_the_command_shows_that_commands_help() -> None:
    run = run_in_process(["--help", "ratios"])
    assert run.code == 0 and "Usage: dmxedit ratios" in run.stdout


@pytest.mark.e2e
def test_help_texts_name_what_users_look_for() -> None:
    root = run_in_process(["--help"]).stdout
    assert "DMXAPI_API_KEY" in root and "DMXEDIT_DATA_DIR" in root
    assert "..." not in root.split("Commands:")[1]  # no summary cut short
    edit = " ".join(run_in_process(["edit", "--help"]).stdout.split())
    for said in (
        "auto: the first image's shape",
        "'-': standard input",
        "https://www.dmxapi.cn/v1",
    ):
        assert said in edit
    batch = " ".join(run_in_process(["batch", "--help"]).stdout.split())
    assert "-o, --output DIR Output folder [default: output]." in batch
    assert "standard output" not in batch.split("--output", 1)[1].split("--", 1)[0]


@pytest.mark.e2e
def test_usage_lines_have_no_braces_around_arguments(cli: Cli) -> None:
    paths = _command_paths()
    assert ["edit"] in paths and ["config", "set"] in paths and ["history", "show"] in paths
    for path in paths:
        usage = expect(cli(*path, "--help")).stdout.splitlines()[0]
        assert usage.startswith("Usage: dmxedit"), usage
        assert "{" not in usage and "}" not in usage, usage
    edit = expect(cli("edit", "--help")).stdout.splitlines()[0]
    assert edit == "Usage: dmxedit edit [OPTIONS] [IMAGE...]"  # none with --continue


@pytest.mark.e2e
def test_the_root_listing_names_every_command_with_its_own_whole_summary(cli: Cli) -> None:
    from dmxedit.cli import tree

    assert set(tree.SUMMARIES) == set(tree.NAMES)
    for name in tree.NAMES:
        assert tree.SUMMARIES[name] == tree.summary_of(tree._command(name)), name
    listing = " ".join(expect(cli("--help")).stdout.split())
    for name in tree.NAMES:
        assert f"{name} {tree.SUMMARIES[name]}" in listing, name
        assert not tree.SUMMARIES[name].endswith((",", "...")), name
