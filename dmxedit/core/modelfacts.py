"""What the model table says of one model, in words and as data: what `dmxedit models`
and `dmxedit ratios --model` show (SPEC section 12).

Pure functions over :class:`dmxedit.core.modelspec.Model` entries, no I/O, so the light
commands (``ratios``) can use them without the HTTP machinery.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from dmxedit.core.i18n import N_, T, Text, joined
from dmxedit.core.modelspec import Choice, Model, sizes_words, wxh
from dmxedit.core.modeltable import MODELS, OPTIONS, model_for, nearest

#: The two doors, in words.
DOOR_WORDS: Final = {
    "images": T(
        "images door: /v1/images/edits (multipart) and /v1/images/generations (JSON)",
    ),
    "gemini": T(
        "gemini door: /v1beta/models/MODEL:generateContent (x-goog-api-key)",
    ),
}
#: What a model outside the table gets, in words.
UNKNOWN_WORDS: Final = T(
    "not in dmxedit's table: sent through the images door (--api "
    "gemini for the other), its ratio and size as given, its own "
    "fields with --param",
)


#: What a model does, as a person reads it (--json keeps edit, generate).
KINDS: Final = {"edit": N_("edit"), "generate": N_("generate")}


def door_words(model: Model) -> str:
    """Its door and the endpoints it uses there, in words."""
    if model.door == "gemini":
        return DOOR_WORDS["gemini"]
    if model.inputs_as == "data_uri":
        return T(
            "images door: /v1/images/generations (JSON; inputs as data: URIs)",
        )
    if "generate" not in model.kinds:
        return T("images door: /v1/images/edits (multipart)")
    return DOOR_WORDS["images"]


def inputs_words(model: Model) -> str:
    """How many input images it takes: ``0-16 (warn > 14)``, ``1``, ``none``."""
    if "edit" not in model.kinds:
        return T("none (generations only)")
    if model.exact_inputs:
        return str(model.inputs)
    low = 0 if "generate" in model.kinds else 1
    if model.warn_inputs is not None:
        return T(
            "{low}-{inputs} (warn > {warn_inputs})",
            low=low,
            inputs=model.inputs,
            warn_inputs=model.warn_inputs,
        )
    return f"{low}-{model.inputs}"


def option_flag(name: str) -> str:
    flag = OPTIONS[name].flag
    return "-n/--count" if flag == "--count" else flag


def options_words(model: Model) -> str:
    """Its options with their values: ``--quality low/medium/high/auto, --mask, ...``."""
    parts = []
    for name, choice in model.options.items():
        values = choice.describe()
        parts.append(option_flag(name) if values == "on/off" else f"{option_flag(name)} {values}")
    return ", ".join(parts) or T("none besides the prompt")


def tokens_words(model: Model) -> str:
    """Its documented tokens per image at each tier, or ``unknown``."""
    if model.tokens is None:
        return T("unknown (DMXAPI documents none)")
    return ", ".join(f"{n} ({tier})" for tier, n in model.tokens.items())


def ratio_rows(model: Model, tiers: list[str]) -> list[tuple[str, list[str | None]]]:
    """Each ratio with its pixels at ``tiers`` (``WxH``, None where none is documented)."""
    return [
        (ratio, [wxh(p) if (p := model.pixels(ratio, t)) else None for t in tiers])
        for ratio in model.ratios
    ]


def extra_sizes(model: Model) -> list[str]:
    """What ``--size`` takes besides the ratio table (pixel models), in words."""
    words: list[str] = []
    if model.auto:
        words.append(T("--size auto (the default: the model picks the shape)"))
    if model.bare_tier:
        words.append(
            T(
                "--size {tiers} alone (sent as the tier)",
                tiers="/".join(model.tiers),
            )
        )
    if model.fixed:
        words.append(T("--size {fixed}", fixed=", ".join(model.fixed)))
    if model.free is not None:
        words.append(T("--size {describe}", describe=model.free.describe()))
    if model.size_field == "pixels" and model.ratios:
        tier = model.ratio_tier or (model.tiers[0] if model.tiers else "")
        words.append(T("--ratio alone means {tier}", tier=tier))
    return words


def facts(model: Model) -> dict[str, Any]:
    """Everything the table says of ``model``, as JSON-ready data."""
    return {
        "id": model.id,
        "name": model.name,
        "door": model.door,
        "pick": model.pick,
        "kinds": list(model.kinds),
        "inputs": {"max": model.inputs, "words": inputs_words(model)},
        "ratios": list(model.ratios),
        "tiers": list(model.tiers),
        "sizes": sizes_words(model),
        "size_field": model.size_field,
        "auto": model.auto,
        "rule": model.free.describe() if model.free is not None else None,
        "options": {option_flag(name): choice.describe() for name, choice in model.options.items()},
        "tokens": dict(model.tokens) if model.tokens is not None else None,
        "answers": model.answers,
        "aliases": list(model.aliases),
    }


def option_help(name: str, what: str) -> str:
    """An option's help, its values and the models that take it read from the table (no
    model named in code: a new entry shows up by itself)."""
    models = [m for m in MODELS if m.takes(name)]
    values = _values_of([m.options[name] for m in models])
    taken = ", ".join(m.id for m in models) or "none of the known models"
    return f"{what}{': ' + values if values else ''} (models that take it: {taken})."


def _values_of(choices: list[Choice]) -> str:
    """The values of an option over the models taking it: words, or the widest range."""
    words = list(dict.fromkeys(v for c in choices for v in c.values))
    if words:
        return ", ".join(words)
    lows = [c.low for c in choices if c.low is not None]
    highs = [c.high for c in choices if c.high is not None]
    return f"{min(lows)}-{max(highs)}" if lows and highs else ""


def short_sizes(model: Model) -> str:
    """Its sizes in a few characters: ``1K/2K/4K``, ``auto/1K/WxH``, ``WxH``."""
    words = (["auto"] if model.auto else []) + list(model.tiers)
    if model.free is not None or model.fixed:
        words.append("WxH")
    return "/".join(words) or "no --size"


def summary(model: Model) -> str:
    """One line of facts: ``gemini door  0-14 inputs; 14 ratios; 1K/2K/4K; --search``."""
    inputs = inputs_words(model)
    ratios = T("{n} ratios", n=len(model.ratios)) if model.ratios else T("no --ratio")
    flags = " ".join(option_flag(name) for name in model.options) or T("no options")
    sizes = short_sizes(model)
    values = {"door": model.door, "inputs": inputs, "ratios": ratios, "flags": flags}
    if inputs == "1":
        return T("{door} door  {inputs} input; {ratios}; {sizes}; {flags}", **values, sizes=sizes)
    return T("{door} door  {inputs} inputs; {ratios}; {sizes}; {flags}", **values, sizes=sizes)


def known_row(info: Mapping[str, Any]) -> dict[str, Any]:
    """A model of the key's list (a mapping with an ``id``) with what dmxedit knows of it:
    ``known``, ``door`` (None when unknown) and the table's ``table`` facts (None)."""
    spec = model_for(str(info["id"]))
    return {
        **info,
        "known": spec is not None,
        "door": spec.door if spec is not None else None,
        "table": facts(spec) if spec is not None else None,
    }


def facts_lines(model: Model) -> list[str]:
    """The same facts in words, one a line (indented under the model's id)."""
    return [
        T("  name     {name}", name=model.name),
        T("  pick     {pick}", pick=T(model.pick)),
        T("  door     {door_words}", door_words=door_words(model)),
        T("  makes    {kinds}", kinds=joined([Text(KINDS.get(k, k)) for k in model.kinds], ", ")),
        T("  inputs   {inputs_words}", inputs_words=inputs_words(model)),
        T(
            "  ratios   {ratios}",
            ratios=" ".join(model.ratios) or T("none (takes no --ratio)"),
        ),
        T("  sizes    {sizes_words}", sizes_words=sizes_words(model)),
        T("  options  {options_words}", options_words=options_words(model)),
        T("  tokens   {tokens_words}", tokens_words=tokens_words(model)),
    ]


def listing(listed: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The key's models (each a mapping with an ``id``) beside the table's: each listed
    one with ``known``, ``listed: true`` and the table's ``table`` facts (None when the
    table lacks it), then each table model the list lacks with ``listed: false``."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for info in listed:
        spec = model_for(str(info["id"]))
        seen.add(str(info["id"]))  # an alias listed does not make its model's own id usable
        table = facts(spec) if spec is not None else None
        out.append({**info, "known": spec is not None, "listed": True, "table": table})
    for model in MODELS:
        if model.id not in seen:
            out.append(
                {
                    "id": model.id,
                    "owned_by": None,
                    "supported_endpoint_types": [],
                    "image": True,
                    "known": True,
                    "listed": False,
                    "table": facts(model),
                }
            )
    return sorted(out, key=lambda m: (str(m["id"]).casefold(), str(m["id"])))


def unknown_hint(model_id: str) -> str:
    """What to do with a model id the table does not know."""
    close = nearest(model_id)
    if close:
        return T(
            "Did you mean {close}? `dmxedit models --known` lists the models dmxedit knows.",
            close=close,
        )
    return T("`dmxedit models --known` lists the models dmxedit knows.")


__all__ = [
    "DOOR_WORDS",
    "UNKNOWN_WORDS",
    "door_words",
    "extra_sizes",
    "facts",
    "facts_lines",
    "inputs_words",
    "known_row",
    "listing",
    "option_flag",
    "option_help",
    "options_words",
    "ratio_rows",
    "short_sizes",
    "summary",
    "tokens_words",
    "unknown_hint",
]
