"""The tools' input schemas come from the CLI's typed options: none can drift."""

from __future__ import annotations

from dmxedit.cli.options import SHARED
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
    missing = [name for name in SHARED if name not in properties and name not in NOT_FOR_AGENTS]
    assert missing == []
    assert not set(NOT_FOR_AGENTS) & set(properties)
    assert set(NOT_FOR_AGENTS) <= set(schemas.NOT_FOR_AGENTS)


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
