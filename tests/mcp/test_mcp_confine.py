"""Confinement: input images only under the roots, outputs only under --output."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmxedit.core.errors import InputError
from dmxedit.mcp.confine import Confinement


@pytest.fixture
def tree(tmp_path: Path) -> Confinement:
    for name in ("a", "b", "secret"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "in.png").write_bytes(b"x")
    (tmp_path / "a" / "escape.png").symlink_to(tmp_path / "secret")
    return Confinement.of([str(tmp_path / "a"), str(tmp_path / "b")], None, tmp_path)


def test_relative_paths_resolve_against_the_first_root(tree: Confinement) -> None:
    assert tree.image("in.png", tree.roots) == str(tree.roots[0] / "in.png")
    assert tree.output == tree.roots[0] / "output"


@pytest.mark.parametrize("given", ["../secret/x.png", "escape.png/x.png", "/etc/hostname", "-"])
def test_outside_is_refused(tree: Confinement, given: str) -> None:
    with pytest.raises(InputError):
        tree.image(given, tree.roots)


def test_client_roots_narrow(tree: Confinement, tmp_path: Path) -> None:
    inner = tree.roots[0] / "sub"
    inner.mkdir()
    narrowed = tree.narrowed([inner.as_uri(), (tmp_path / "secret").as_uri()])
    assert narrowed == (inner,)
    with pytest.raises(InputError):
        tree.image("in.png", narrowed)
    assert tree.narrowed([tmp_path.as_uri()]) == tree.roots  # wider: the server's
    assert tree.narrowed(None) == tree.roots


def test_output_files_stay_in_the_output(tree: Confinement) -> None:
    assert tree.output_file(None, "jobs.results.jsonl").parent == tree.output
    with pytest.raises(InputError):
        tree.output_file("../elsewhere.jsonl", "x")


def test_a_root_that_is_no_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        Confinement.of([str(tmp_path / "nope")], None, tmp_path)
