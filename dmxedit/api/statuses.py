"""What an HTTP error status from the image API means: the error to raise, or (a 429, a
5xx) the fault the retry policy decides on. The mapping of a status to an error is
:func:`dmxedit.api.http.status_error`'s; here is what the image API adds to it (a model
the key may not use, a model no channel serves, the billing words of a 5xx)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from dmxedit.api.http import ErrorAnswer, Party, status_error
from dmxedit.api.models import MODELS_ADVICE, model_unusable, site_hint, v1_hint
from dmxedit.api.retry import Decision, Failed, Fault, Outcome, classify_status
from dmxedit.core.errors import ApiError, AuthError, DmxError, NetworkError
from dmxedit.core.i18n import T, joined

MODEL_HINT = T("Choose another with --model NAME or `dmxedit config set model NAME`.")


def party(base_url: str, status: int = 0) -> Party:
    """The image API, in the words of its errors."""
    return Party(
        name=T("The API"),
        credential=T("the key"),
        auth_hint=T("{site_hint} Check also that the key is valid.", site_hint=site_hint(base_url)),
        refused_hint=v1_hint(base_url) if status == 404 else None,
    )


def refused(
    answer: ErrorAnswer,
    base_url: str,
    model: str | None,
    billing: Callable[[Decision], str],
) -> NoReturn:
    """Raise the error ``answer`` stands for, or a :class:`Failed` for the retry policy.
    ``model`` is the model the request asked for (None for a GET of the model list,
    which is never billed and may always be resent); ``billing`` words a decision."""
    status = answer.status
    unusable = model_unusable(answer.body, answer.said) if model else None
    if status in (401, 403) and unusable == "forbidden":
        raise AuthError(
            T(
                "The key may not use the model {model!r} ({text}). {models_advice}",
                model=model,
                text=answer.text,
                models_advice=MODELS_ADVICE,
            ),
            hint=T(
                "A key's settings on your DMXAPI site can limit its models: "
                "allow this one there, or choose another with --model.",
            ),
            **answer.info,
        )
    if unusable is not None and status not in (401, 403) and status >= 400:
        # A statement about the model name, not about load: resending cannot help.
        error: type[DmxError] = NetworkError if status >= 500 else ApiError
        raise error(
            T(
                "The API has no channel for the model {model!r} ({text}): the name "
                "may be mistyped, or your key cannot use it. {advice}",
                model=model,
                text=answer.text,
                advice=MODELS_ADVICE,
            ),
            hint=MODEL_HINT,
            **answer.info,
        )
    fault = classify_status(status)
    if fault is Fault.REFUSED:
        raise status_error(answer, party(base_url, status))
    # A GET is never billed: a 5xx is resent like a 503, by the same rules.
    outcome = Outcome(
        fault if model is not None else Fault.BUSY,
        status=status,
        headers=dict(answer.headers),
    )
    raise Failed(outcome, lambda decision: failed_error(answer, fault, decision, billing))


def failed_error(
    answer: ErrorAnswer, fault: Fault, decision: Decision, billing: Callable[[Decision], str]
) -> DmxError:
    """The error of a 429 or a 5xx, once the retry policy has decided."""
    parts = [status_error(answer, party("", answer.status)).message]
    if fault is not Fault.BUSY:
        parts.append(billing(decision))
    details: dict[str, Any] = {}
    hint = None
    if decision.wait_too_long is not None:
        wait = decision.wait_too_long
        parts.append(
            T(
                " It asks to wait {wait:.0f} s before trying again, longer than the "
                "120 s dmxedit waits on its own.",
                wait=wait,
            )
        )
        hint = T("Try again in {minutes} min or later.", minutes=max(1, round(wait / 60)))
        details["retry_after_s"] = round(wait, 3)
    return NetworkError(
        joined(parts, ""),
        hint=hint,
        details=details,
        may_be_billed=True if decision.may_be_billed else None,
        **answer.info,
    )


__all__ = ["MODEL_HINT", "failed_error", "party", "refused"]
