"""The tools' input schemas come from the CLI's typed options: none can drift."""

from __future__ import annotations

import pytest

from dmxedit.cli.options import shared
from dmxedit.core.modeltable import OPTIONS
from dmxedit.mcp import schemas

#: CLI image options edit_image does not take, each with its reason (an agent has no use
#: for it, or must not have it).
NOT_FOR_AGENTS = {
    "output": "outputs are confined to the server's --output folder",
    "base_url": "the server's operator decides where the key is sent",
    "retry_server_errors": "resending after a 5xx may bill twice",
}


def test_every_cli_image_option_is_in_edit_image() -> None:
    properties = schemas.edit_image()["properties"]
    missing = [name for name in shared() if name not in properties and name not in NOT_FOR_AGENTS]
    assert missing == []
    assert not set(NOT_FOR_AGENTS) & set(properties)
    assert set(NOT_FOR_AGENTS) <= set(schemas.NOT_FOR_AGENTS)


#: Options of the ``edit``/``generate`` commands that are no image options: the command's
#: output mode, the prompt's source, the batch flags of --each/--variants.
NOT_IMAGE_OPTIONS = {"prompt_file", "dry_run", "json_out", "quiet", "verbose"}
NOT_IMAGE_OPTIONS |= {"concurrency", "results", "resend_unknown"}


@pytest.mark.parametrize(
    ("command", "tool"), [("edit", "edit_image"), ("generate", "generate_image")]
)
def test_every_option_of_the_command_is_in_its_tool_or_excused(command: str, tool: str) -> None:
    """The commands' own options too (--variants, --each, --continue), not only SHARED."""
    import typer

    from dmxedit.cli.app import app

    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    given = {p.name for p in params if p.name not in ("images", "prompt")}
    properties = set(schemas.schemas()[tool]["properties"])
    assert given - properties - set(schemas.NOT_FOR_AGENTS) - NOT_IMAGE_OPTIONS == set()
    assert {"variants", "each", "continue_ref"} <= set(schemas.NOT_FOR_AGENTS)
    assert not set(schemas.NOT_FOR_AGENTS) & properties


def test_api_and_response_format_are_enums() -> None:
    properties = schemas.edit_image()["properties"]
    assert properties["api"]["enum"] == ["gemini", "images"]
    assert properties["response_format"]["enum"] == ["url", "b64_json"]


def test_model_options_carry_the_tables_values() -> None:
    properties = schemas.edit_image()["properties"]
    for name in OPTIONS:
        assert name in properties
    assert "high" in properties["quality"]["enum"]
    assert properties["count"]["type"] == "integer"
    assert properties["count"]["minimum"] == 1 and properties["count"]["maximum"] >= 10
    assert properties["search"]["type"] == "boolean"
    assert properties["params"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": schemas.WORDS["params"],
    }
    assert "gpt-image-1.5" in properties["quality"]["description"]


def test_generate_takes_no_input_options() -> None:
    properties = schemas.generate_image()["properties"]
    assert "images" not in properties and "mask" not in properties
    assert "max_side" not in properties
    assert schemas.generate_image()["required"] == ["prompt"]


def test_every_schema_is_an_object() -> None:
    for name, schema in schemas.schemas().items():
        assert schema["type"] == "object", name
        assert schema["additionalProperties"] is False
