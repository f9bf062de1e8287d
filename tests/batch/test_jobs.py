"""Jobs files: lines, encodings, checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeserver import FakeDMX
from helpers import Cli, expect


@pytest.mark.e2e
def test_a_jobs_file_that_is_not_utf8_names_the_line_and_a_bom_is_accepted(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(b'{"prompt": "one"}\n{"prompt": "caf\xe9"}\n')
    run = cli("batch", str(jobs))
    assert run.code == 2 and "line 2: not UTF-8" in run.stderr, run.output
    assert server.requests == []
    jobs.write_bytes(b'\xef\xbb\xbf{"prompt": "one"}\n{"prompt": "two"}\n')
    expect(cli("batch", str(jobs)))
    assert len(server.posts()) == 2


def test_the_commands_max_side_is_checked_once_for_every_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Options are resolved once on their way down: --max-side is checked when the
    defaults are made, not again for each of a batch's jobs (a job's own key is)."""
    from fakeserver import make_png

    from dmxedit.batch import jobs
    from dmxedit.core.options import ImageOptions
    from dmxedit.core.settings import resolve

    calls: list[object] = []
    real = jobs.check_max_side  # type: ignore[attr-defined]

    def counting(value: object) -> int | None:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(jobs, "check_max_side", counting)
    (tmp_path / "a.png").write_bytes(make_png(8, 8))
    defaults = jobs.Defaults(resolve(env={}), ImageOptions(max_side=512))
    for line in range(1, 51):
        job = jobs.build_job({"images": ["a.png"], "prompt": "x"}, line, tmp_path, defaults)
        assert job.request.images[0].path is not None
    own = jobs.build_job(
        {"images": ["a.png"], "prompt": "x", "max_side": 256}, 51, tmp_path, defaults
    )
    assert own.request.images[0].path is not None
    assert calls == [512, 256]
