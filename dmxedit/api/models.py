"""The model list (``GET /models``) and what an error body says about a model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dmxedit.api.http import ERROR_BODY_LIMIT, api_message, decode_text, loads
from dmxedit.core.catalog import SITES, is_image_model, other_sites
from dmxedit.core.errors import ApiError
from dmxedit.core.i18n import T
from dmxedit.core.text import redact

MODELS_ADVICE = T("Run `dmxedit models` to see the models your key can use.")
MODELS_LIMIT = 16 * 1024 * 1024  # a model list is far smaller; refuse a runaway body
# What relays of the new-api / one-api family say when no channel serves the model name
# ("当前分组 default 下对于模型 x 无可用渠道", "No available channel for model x under group
# default", code model_not_found), what OpenAI-style APIs say for an unknown model, and
# new-api's 403 for a key limited to other models ("该令牌无权访问模型 x").
_NO_CHANNEL = re.compile(
    r"no available channel|无可用渠道|model_not_found|model\b.{0,200}\b(?:does not exist|not found)"
    r"|模型.{0,100}不存在|不支持(?:该|此)?模型",
    re.I | re.S,
)
_FORBIDDEN_MODEL = re.compile(
    r"无权访问.{0,20}模型|not allowed to (?:use|access) (?:the )?model|"
    r"(?:no|without) (?:access|permission) to (?:the )?model",
    re.I | re.S,
)


def mib(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MiB"


def model_unusable(body: bytes, said: str | None = None) -> str | None:
    """Whether an error body says the model cannot be used: ``"forbidden"`` (the key is
    limited to other models), ``"no channel"`` (no channel serves that name: a typo, or a
    model outside the key's group), or None."""
    text = said if said is not None else api_message(body[:ERROR_BODY_LIMIT]) or ""
    if _FORBIDDEN_MODEL.search(text):
        return "forbidden"
    if _NO_CHANNEL.search(text) or b'"model_not_found"' in body[:ERROR_BODY_LIMIT]:
        return "no channel"  # the message, or new-api's error code
    return None


def site_hint(base_url: str) -> str:
    """What a 401 from ``base_url`` should make the user check: the key's site."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host in SITES:
        return T(
            "A key works only on the DMXAPI site that issued it: check that the base URL "
            "({base_url}) matches the key's site. A key made on another site needs its "
            "base URL: {others} (dmxedit config set base-url URL).",
            base_url=base_url,
            others=" or ".join(other_sites(host)),
        )
    return T(
        "A key works only on the DMXAPI site that issued it: check that the base URL "
        "({base_url}) matches the key's site.",
        base_url=base_url,
    )


def v1_hint(base_url: str) -> str | None:
    """What to say when the base URL does not end in /v1 (None when it does)."""
    if base_url.rstrip("/").endswith("/v1"):
        return None
    return T(
        "The base URL {base_url} does not end in /v1: DMXAPI's is like "
        "https://www.dmxapi.cn/v1 (dmxedit config set base-url URL).",
        base_url=base_url,
    )


@dataclass(frozen=True)
class ModelInfo:
    """One model of ``GET /models``: its id, owner and (new-api) endpoint types."""

    id: str
    owned_by: str | None = None
    endpoint_types: tuple[str, ...] = ()

    @property
    def image(self) -> bool:
        return is_image_model(self.id, self.endpoint_types)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owned_by": self.owned_by,
            "supported_endpoint_types": list(self.endpoint_types),
            "image": self.image,
        }

    @classmethod
    def of(cls, entry: Any) -> ModelInfo | None:
        """One entry of the list (an object, or a bare id); None when it names no model."""
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, dict):
            return None
        model_id = entry.get("id")
        if not isinstance(model_id, str) or not model_id.strip():
            return None
        kinds = entry.get("supported_endpoint_types")
        owner = entry.get("owned_by")
        return cls(
            id=model_id,
            owned_by=owner if isinstance(owner, str) else None,
            endpoint_types=tuple(str(k) for k in kinds) if isinstance(kinds, list) else (),
        )


def _model_list_body(
    raw: bytes,
    content_type: str,
    base_url: str,
    info: dict[str, Any],
    secrets: tuple[str | None, ...],
) -> list[Any]:
    """The entries of a model list answer; ApiError when it is not one."""
    status = info["status"]
    if len(raw) > MODELS_LIMIT:
        raise ApiError(
            T(
                "The model list is over {mib}; it was refused.",
                mib=mib(MODELS_LIMIT),
            ),
            **info,
        )
    text = redact(decode_text(raw, content_type).strip(), *secrets)
    try:
        body = loads(text)
    except ValueError:
        page = "html" in content_type.lower() or text[:200].lower().startswith(
            ("<!doctype", "<html")
        )
        raise ApiError(
            T(
                "The API answered {status} with {what}, not a model list.",
                status=status,
                what=T("a web page") if page else T("something that is not JSON"),
            ),
            hint=v1_hint(base_url) or T("Check the base URL (dmxedit config get base-url)."),
            **info,
        ) from None
    if isinstance(body, dict) and (body.get("success") is False or body.get("error")):
        said = redact(api_message(raw, content_type) or T("no message"), *secrets)
        raise ApiError(
            T(
                "The API answered {status} with an error: {said}",
                status=status,
                said=said,
            ),
            **info,
        )
    entries = body.get("data") if isinstance(body, dict) else body
    if not isinstance(entries, list):
        raise ApiError(
            T(
                "The API answered {status} with a body that is not a model list.",
                status=status,
            ),
            hint=v1_hint(base_url),
            **info,
        )
    return entries


def parse_models(
    raw: bytes,
    content_type: str,
    base_url: str,
    status: int = 200,
    rid: str | None = None,
    *,
    secrets: tuple[str | None, ...] = (),
) -> list[ModelInfo]:
    """The models of a ``/models`` answer: OpenAI's ``{"object": "list", "data": [...]}``
    (new-api adds ``supported_endpoint_types``), or a bare list; ApiError otherwise.
    Every text of it is redacted of ``secrets``."""
    info: dict[str, Any] = {"status": status, "request_id": rid}
    models: list[ModelInfo] = []
    seen: set[str] = set()
    for entry in _model_list_body(raw, content_type, base_url, info, secrets):
        model = ModelInfo.of(entry)
        if model is not None and model.id not in seen:
            seen.add(model.id)
            models.append(model)
    return models


__all__ = [
    "MODELS_ADVICE",
    "MODELS_LIMIT",
    "ModelInfo",
    "mib",
    "model_unusable",
    "parse_models",
    "site_hint",
    "v1_hint",
]
