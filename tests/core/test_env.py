"""The world read once (STYLE 17): every environment variable dmxedit reads is named in
``dmxedit/core/env.py`` and read from a mapping passed down from the entry point (the
CLI's ``RunContext.env``; ``os.environ`` for a library call), never from ``os.environ``
deep in the core."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from helpers import jobs_file

from dmxedit.core import env
from dmxedit.core.settings import config_path, resolve

ROOT = Path(__file__).resolve().parents[2]
#: The entry point: the CLI's run context takes the process's environment, once.
ENTRY = ("dmxedit/core/env.py", "dmxedit/cli/context.py")
#: Modules other developers are changing now; their reads are folded in after the merge.
_READ = re.compile(r"os\.environ|os\.getenv|getenv\(|environ\.get\(")
_NAME = re.compile(r"[\"'](DMXAPI_[A-Z_]+|DMXEDIT_[A-Z_]+|JOB_COMPLETION_INDEX|NO_COLOR)[\"']")


def environment_reads() -> list[tuple[str, str]]:
    """(path, "path:line: text") of every place outside core/env.py that reads the
    process's environment or spells a variable's name."""
    out = []
    for file in sorted((ROOT / "dmxedit").rglob("*.py")):
        path = file.relative_to(ROOT).as_posix()
        if path == ENTRY[0]:
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            read = _READ.search(code) and path not in ENTRY
            if read or _NAME.search(code):
                out.append((path, f"{path}:{number}: {line.strip()}"))
    return out


def test_no_module_reads_the_environment_itself() -> None:
    found = [what for _path, what in environment_reads()]
    assert not found, "\n".join(found)


def test_the_readings_take_the_mapping_they_are_given() -> None:
    assert env.given(None) is os.environ
    given: dict[str, str] = {}
    assert env.given(given) is given
    assert env.no_history({env.NO_HISTORY: "1"}) and not env.no_history({env.NO_HISTORY: "0"})
    assert not env.no_history({})
    assert env.debug({env.DEBUG: "yes"}) and not env.debug({env.DEBUG: ""})
    assert env.no_color({env.NO_COLOR: "1"}) and not env.no_color({})
    assert env.config_file({env.CONFIG: "/x/c.toml"}) == "/x/c.toml"
    assert env.config_file({env.CONFIG: ""}) is None
    assert env.job_index({env.JOB_COMPLETION_INDEX: "2"}) == "2"
    assert env.retry_delay({}) == "1"
    assert env.setting({env.API_KEY: "sk-1"}, env.API_KEY) == "sk-1"
    assert env.setting({env.API_KEY: ""}, env.API_KEY) is None
    assert env.setting({env.API_KEY: "sk-1"}, None) is None
    assert env.proxies({"https_proxy": "http://p:1", "HOME": "/h"}) == {"https_proxy": "http://p:1"}


def test_settings_come_from_the_mapping_not_the_process(tmp_path: Path) -> None:
    mapping = {env.CONFIG: str(tmp_path / "c.toml"), env.API_KEY: "sk-from-the-mapping"}
    assert config_path(mapping) == tmp_path / "c.toml"
    settings = resolve(env=mapping)
    assert settings.api_key == "sk-from-the-mapping" and settings.sources["api-key"] == "env"
    assert "DMXAPI_API_KEY" not in os.environ  # conftest cleared it: nothing came from there


def test_batch_shard_auto_reads_the_run_contexts_environment(tmp_path: Path) -> None:
    """`--shard auto/N` takes JOB_COMPLETION_INDEX from the environment the run was given
    (here only in the context's mapping, not in the process)."""
    from dmxedit.cli.app import run
    from dmxedit.cli.context import RunContext

    jobs = jobs_file(tmp_path, 4)
    assert env.JOB_COMPLETION_INDEX not in os.environ
    ctx = RunContext.in_memory(env={**os.environ, env.JOB_COMPLETION_INDEX: "1"})
    code = run(["batch", str(jobs), "--shard", "auto/2", "--dry-run", "--json"], ctx)
    assert code == 0, ctx.errors()
    assert json.loads(ctx.output())["shard"] == "2/2"
