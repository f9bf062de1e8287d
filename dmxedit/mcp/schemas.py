"""The tools' input schemas, derived from the typed options the command line uses.

Each image option is a field of :class:`dmxedit.core.options.ImageOptions`; its JSON type
comes from the field's annotation, the values a model option takes from the model table
(:data:`dmxedit.core.modeltable.MODELS`, :data:`~dmxedit.core.modeltable.DOOR_OPTIONS`)
and its words from :data:`~dmxedit.core.modeltable.OPTIONS`. A new option therefore
reaches the tools without a change here (``tests/mcp/test_mcp_schemas.py`` fails when
a command-line image option is missing from ``edit_image``), except the few that make
no sense for an agent (:data:`NOT_FOR_AGENTS`, each with its reason).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from dmxedit.batch.concurrency import MAX_FIXED
from dmxedit.core.catalog import FORMATS
from dmxedit.core.modelspec import Choice
from dmxedit.core.modeltable import DOOR_OPTIONS, MODELS, OPTIONS, takers
from dmxedit.core.options import ImageOptions

#: ImageOptions fields (and image options of the ``edit``/``generate`` commands) no image
#: tool takes, and why.
NOT_FOR_AGENTS: dict[str, str] = {
    "variants": "N candidates are N paid calls: an agent calls edit_image or generate_image "
    "N times (each result is its own ledger entry), or asks for count where the model takes "
    "it, or runs a jobs file with start_batch",
    "each": "one edit per image is a batch: start_batch with a jobs file of one line each",
    "continue_ref": "a conversation's next turn is its own tool, continue_edit",
    "output": "outputs are confined to the server's --output folder",
    "base_url": "where the key is sent is the server's setting, never an agent's",
    "api_key": "the key is the server's; a tool never takes or shows it",
    "retry_server_errors": "resending after a 5xx may bill twice: the server's decision",
}

#: What the options that are not model options (SPEC 12) do, in the tools' words.
WORDS: dict[str, str] = {
    "ratio": "Aspect ratio W:H, e.g. 5:4 (see the ratios tool); auto: the first image's shape.",
    "size": "Output size: 1K, 2K or 4K, or WxH for the models that take pixel sizes.",
    "model": "The model (see list_models) [default: the server's setting].",
    "response_format": "url or b64_json: how the API hands back the image.",
    "timeout": "Seconds to wait for the answer [default: 600].",
    "connect_timeout": "Seconds to wait for a connection [default: 10].",
    "download_timeout": "Seconds a result download may take in all [default: 300].",
    "retries": "Retries of calls that are safe to retry [default: 2].",
    "save_metadata": "Write <image>.json beside each image.",
    "params": "Extra request fields as KEY=VALUE strings.",
    "max_side": "Downscale input images whose long side is over N pixels.",
    "name": "File name template: {stem} {ts} {i} {id} {variant} {ratio} {size} {model}.",
    "api": "The door of a model not in dmxedit's table: images or gemini.",
}

#: The values the options that are not model options take (the command line's choices).
ENUMS: dict[str, list[str]] = {"api": sorted(DOOR_OPTIONS), "response_format": list(FORMATS)}

#: The options of an edit that a generation does not take (no input images).
EDIT_ONLY = ("max_side", "mask")


def _json_type(annotation: Any) -> dict[str, Any]:
    """The JSON schema type of an ImageOptions field's annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _json_type(args[0])
    if origin is tuple:
        return {"type": "array", "items": _json_type(args[0])}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return {"type": simple[annotation]}
    raise TypeError(f"no JSON type for {annotation!r}")  # a new kind of field: say how


def _choices(name: str) -> list[Choice]:
    found = [m.options[name] for m in MODELS if name in m.options]
    found += [door[name] for door in DOOR_OPTIONS.values() if name in door]
    return found


def _model_option(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A model option's schema: its values over every model, and which models take it."""
    info = OPTIONS[name]
    schema["description"] = f"{info.help} (models: {', '.join(takers(name)) or 'none known'})."
    choices = _choices(name)
    words = sorted({v for c in choices for v in c.values})
    if words and schema.get("type") == "string":
        schema["enum"] = words
    lows = [c.low for c in choices if c.low is not None]
    highs = [c.high for c in choices if c.high is not None]
    if lows and highs and schema.get("type") == "integer":
        schema["minimum"], schema["maximum"] = min(lows), max(highs)
    return schema


def option_properties(kind: str = "edit") -> dict[str, dict[str, Any]]:
    """Every ImageOptions field an agent may give, as JSON schema properties."""
    hints = typing.get_type_hints(ImageOptions)
    out: dict[str, dict[str, Any]] = {}
    for f in dataclasses.fields(ImageOptions):
        if f.name in NOT_FOR_AGENTS or (kind != "edit" and f.name in EDIT_ONLY):
            continue
        schema = _json_type(hints[f.name])
        if f.name in OPTIONS:
            schema = _model_option(f.name, schema)
        else:
            schema["description"] = WORDS.get(f.name, f.name.replace("_", " "))
        if f.name in ENUMS:
            schema["enum"] = ENUMS[f.name]
        out[f.name] = schema
    return out


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    out["additionalProperties"] = False
    return out


PROMPT = {"type": "string", "description": "What to do (edit) or to make (generate)."}
IMAGES = {
    "type": "array",
    "items": {"type": "string"},
    "minItems": 1,
    "maxItems": 16,
    "description": "Input image paths under the server's roots (relative: to the first root).",
}


def edit_image() -> dict[str, Any]:
    return _obj(
        {"images": IMAGES, "prompt": PROMPT, **option_properties("edit")}, ("images", "prompt")
    )


def continue_edit() -> dict[str, Any]:
    """SPEC 13's next turn: the thread of a ledger entry, plus a prompt and new images."""
    props = {
        "continue": {
            "type": ["integer", "string"],
            "description": "The ledger id of the turn to continue (an edit_image result's "
            "ledger_id), or @last. Gemini-door models only; model and options default to "
            "that turn's.",
        },
        "prompt": PROMPT,
        "images": {**IMAGES, "minItems": 0, "maxItems": 14, "description": "New input images."},
        **{k: v for k, v in option_properties("edit").items() if k not in ("mask", "count")},
    }
    return _obj(props, ("continue", "prompt"))


def generate_image() -> dict[str, Any]:
    return _obj({"prompt": PROMPT, **option_properties("generate")}, ("prompt",))


def estimate() -> dict[str, Any]:
    props = {
        "images": {**IMAGES, "minItems": 0, "description": "Input images (none: a generation)."},
        "prompt": {"type": "string", "description": "The prompt (optional for an estimate)."},
        **option_properties("edit"),
    }
    return _obj(props)


def _str(words: str) -> dict[str, Any]:
    return {"type": "string", "description": words}


def _int(words: str, low: int = 1) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "description": words}


def schemas() -> dict[str, dict[str, Any]]:
    """Every tool's input schema, by tool name."""
    return {
        "edit_image": edit_image(),
        "generate_image": generate_image(),
        "continue_edit": continue_edit(),
        "list_models": _obj(
            {"all": {"type": "boolean", "description": "Every model, not only image models."}}
        ),
        "ratios": _obj(
            {
                "model": _str("The model [default: the server's setting]."),
                "size": _str("One size only."),
            }
        ),
        "estimate": estimate(),
        "start_batch": _obj(
            {
                "jobs": _str("A JSON Lines jobs file under the roots (see `dmxedit batch`)."),
                "concurrency": {
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": MAX_FIXED},
                        {"type": "string", "enum": ["auto"]},
                    ],
                    "description": f"Jobs at once (1-{MAX_FIXED}), or auto (starts at 2 and "
                    "adapts to the API's 429 answers) [default: 4].",
                },
                "resend_unknown": {
                    "type": "boolean",
                    "description": "Send again jobs cut off after they went out (may bill twice).",
                },
                **{k: v for k, v in option_properties("edit").items() if k not in ("mask",)},
            },
            ("jobs",),
        ),
        "batch_status": _obj(
            {"handle": _str("The handle start_batch returned (none: every batch).")}
        ),
        "history": _obj(
            {
                "limit": _int("At most N entries [default: 20]."),
                "failed": {
                    "type": "boolean",
                    "description": "Only failed or interrupted requests.",
                },
                "since": _str("Only since DATE (2026-11-30, or 3d, 12h)."),
                "grep": _str("Only prompts containing TEXT."),
                "id": _int("One entry by its ledger id."),
            }
        ),
        "recover": _obj(
            {
                "check": {
                    "type": "boolean",
                    "description": "Also ask the billing log about requests sent without an answer "
                    "(needs the system token).",
                }
            }
        ),
        "balance": _obj({}),
    }
