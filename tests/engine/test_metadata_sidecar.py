"""The ``--save-metadata`` sidecar names each input with its SHA-256, whether the ledger
is on or off (issue 21, point 19: the hashes are computed as the inputs are sent, and a
seeded bug that computed them only for the ledger left the sidecar without them)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fakeserver import FakeDMX, make_png
from helpers import Cli, Run, expect

OFF = {"DMXEDIT_NO_HISTORY": "1"}


def sidecar_inputs(run: Run) -> list[dict[str, object]]:
    (saved,) = run.stdout.split()
    data = json.loads(Path(saved + ".json").read_text(encoding="utf-8"))
    inputs: list[dict[str, object]] = data["inputs"]
    return inputs


@pytest.mark.parametrize("env", [OFF, {}], ids=["ledger off", "ledger on"])
def test_the_sidecar_has_each_inputs_sha256(
    cli: Cli, server: FakeDMX, tmp_path: Path, env: dict[str, str]
) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(make_png(12, 10))
    second.write_bytes(make_png(9, 7, filler=3))
    run = expect(cli("edit", str(first), str(second), "-p", "x", "--save-metadata", env=env))
    inputs = sidecar_inputs(run)
    assert [item["sha256"] for item in inputs] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)
    ]
    assert (tmp_path / "data" / "ledger.db").exists() == (env != OFF)


def test_a_batch_jobs_sidecar_has_its_inputs_sha256_with_the_ledger_off(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_png(12, 10))
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"id": "j", "images": ["a.png"], "prompt": "x"}) + "\n")
    run = expect(cli("batch", str(jobs), "--save-metadata", env=OFF))
    (item,) = sidecar_inputs(run)
    assert item["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
