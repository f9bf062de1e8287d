"""One engine (issue 5 point 1, issue 6 point 2): `edit`, `generate`, `edit --each` and
`batch` all send through `pipeline.execute` with the same Client and Saver classes, and
errors reach one boundary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakeserver import PNG_BYTES, make_png
from helpers import run_in_process

from dmxedit.api.client import Client
from dmxedit.cli.app import run
from dmxedit.engine import pipeline
from dmxedit.engine.result import ImageResult
from dmxedit.store.results import Saver


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []

    def fake_execute(request: Any, client: Any, saver: Any, **kwargs: Any) -> ImageResult:
        assert type(client) is Client and type(saver) is Saver
        seen.append((request.kind, request.prompt))
        return ImageResult(
            files=[],
            urls=[],
            model=request.model,
            prompt=request.prompt,
            aspect_ratio=request.ratio,
            size=request.size,
            response_format=request.response_format,
            elapsed_s=0.0,
            kind=request.kind,
        )

    monkeypatch.setattr(pipeline, "execute", fake_execute)
    monkeypatch.setenv("DMXAPI_API_KEY", "sk-engine000000000000")
    monkeypatch.setenv("DMXAPI_BASE_URL", "http://127.0.0.1:9/v1")
    return seen


def test_every_door_goes_through_pipeline_execute(
    calls: list[tuple[str, str]], tmp_path: Path
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_png(8, 8))
    other = tmp_path / "b.png"
    other.write_bytes(make_png(9, 8))
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"images": [str(image)], "prompt": "batch edit"})
        + "\n"
        + json.dumps({"prompt": "batch generate"})
        + "\n"
    )
    assert run(["edit", str(image), "-p", "single edit", "-q"]) == 0
    assert run(["generate", "-p", "single generate", "-q"]) == 0
    assert run(["edit", "--each", str(image), str(other), "-p", "each", "-q"]) == 0
    assert run(["batch", str(jobs), "-q"]) == 0
    assert sorted(calls) == sorted(
        [
            ("edit", "single edit"),
            ("generate", "single generate"),
            ("edit", "each"),
            ("edit", "each"),
            ("edit", "batch edit"),
            ("generate", "batch generate"),
        ]
    )


def test_tracebacks_only_with_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing.png")
    assert run(["edit", missing, "-p", "x"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    monkeypatch.setenv("DMXEDIT_DEBUG", "1")
    assert run(["edit", missing, "-p", "x"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_an_unexpected_exception_is_exit_1_and_says_it_is_a_bug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dmxedit.cli import ratios

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("something impossible")

    monkeypatch.setattr(ratios, "ratio_rows", broken)
    assert run(["ratios"]) == 1
    err = capsys.readouterr().err
    assert "something impossible" in err and "bug" in err and "Traceback" not in err


@pytest.mark.e2e
def test_validation_names_every_problem_at_once(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(PNG_BYTES)
    (tmp_path / "notes.txt").write_text("hello")
    run = run_in_process(
        [
            "edit",
            str(good),
            "missing.png",
            str(tmp_path / "notes.txt"),
            "-p",
            " ",
            "--ratio",
            "7:3",
            "--size",
            "8K",
            "--dry-run",
        ]
    )
    assert run.code == 2, run.output
    for said in ("5 problems", "missing.png", "notes.txt", "prompt is empty", "7:3", "8K"):
        assert said in run.stderr, run.output
    assert run.stdout == ""
    one = run_in_process(["edit", str(good), "-p", "x", "--size", "8K", "--dry-run"])
    assert one.code == 2 and "problems" not in one.stderr and "is not a size" in one.stderr
