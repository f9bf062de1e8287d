"""`dmxedit doctor`'s model check against the model table (SPEC section 12): a model the
table does not know is a warning naming the nearest known one, a model the key's list
lacks fails as before (naming the table's knowledge of it), and the line names the door."""

from __future__ import annotations

import pytest
from fakeserver import FakeDMX, model_entry
from helpers import Cli, Run, expect

pytestmark = pytest.mark.e2e


def model_line(run: Run) -> tuple[str, str]:
    for line in run.stdout.splitlines():
        status, name, rest = line.split(None, 2)
        if name == "model":
            return status, rest
    raise AssertionError(run.output)


def test_a_known_listed_model_is_ok_and_names_its_door(cli: Cli, server: FakeDMX) -> None:
    status, rest = model_line(expect(cli("doctor")))
    assert status == "ok" and "dmxedit knows it (images door" in rest
    server.models.append(model_entry("gemini-3.1-flash-image", "vertex-ai", "image-generation"))
    status, rest = model_line(expect(cli("doctor", "-m", "gemini-3.1-flash-image")))
    assert status == "ok" and "gemini door: /v1beta/models/MODEL:generateContent" in rest


def test_an_alias_in_the_list_is_known(cli: Cli, server: FakeDMX) -> None:
    status, rest = model_line(expect(cli("doctor", "-m", "gemini-3-pro-image-preview")))
    assert status == "ok" and "gemini door" in rest


def test_a_listed_model_outside_the_table_is_a_warning(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", "-m", "hunyuan-t2i"), 0, "1 warning")
    status, rest = model_line(run)
    assert status == "warn" and "not in dmxedit's model table" in rest
    assert "images door (--api gemini for the other)" in rest
    assert "dmxedit models --known" in rest


def test_a_listed_typo_of_a_known_model_suggests_it(cli: Cli, server: FakeDMX) -> None:
    server.models.append(model_entry("gpt-image-2-preview", "openai", "image-generation"))
    status, rest = model_line(expect(cli("doctor", "-m", "gpt-image-2-preview")))
    assert status == "warn" and "Did you mean gpt-image-2?" in rest


def test_a_known_model_the_key_lacks_is_warned_saying_dmxedit_knows_it(
    cli: Cli, server: FakeDMX
) -> None:
    # SPEC 12: doctor warns (the key's list may lag behind the service)
    status, rest = model_line(expect(cli("doctor", "-m", "gpt-image-2")))
    assert status == "warn" and "may not be able to use the model gpt-image-2" in rest
    assert "dmxedit knows it (images door" in rest and "the key's list lacks it" in rest


def test_a_model_neither_listed_nor_known_names_the_nearest_known(
    cli: Cli, server: FakeDMX
) -> None:
    status, rest = model_line(expect(cli("doctor", "-m", "gpt-image-3")))
    assert status == "warn" and "the nearest known model is gpt-image-2" in rest


def test_without_the_keys_list_an_unknown_model_is_still_warned(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", "-m", "gemini-3.1-flash-imge", key=None), 3)
    status, rest = model_line(run)
    assert status == "warn" and "not in dmxedit's model table" in rest
    assert "Did you mean gemini-3.1-flash-image?" in rest
    assert "the key's list was not read" in rest
    status, _ = model_line(expect(cli("doctor", key=None), 3))
    assert status == "skip"  # a known model: nothing to say without the list
