"""retrying's stop flag (an MCP call's cancel): nothing new goes out once it is set, an
attempt already out is never cut, and without it (the CLI) every resend happens as before."""

from __future__ import annotations

import pytest

from dmxedit.api.retry import Failed, Fault, Outcome, Pacer, Policy, retrying
from dmxedit.core.errors import DmxError, Interrupted


def busy(attempts: list[int]) -> None:
    attempts.append(len(attempts) + 1)
    if len(attempts) < 3:
        raise Failed(Outcome(Fault.BUSY, 503, {"Retry-After": "0"}), lambda d: DmxError("busy"))


def test_without_stop_every_allowed_resend_goes_out() -> None:
    attempts: list[int] = []
    _, count = retrying(lambda: busy(attempts), Policy(2), Pacer(sleep=lambda s: None), _no_op)
    assert attempts == [1, 2, 3] and count == 3


def test_a_stop_set_during_the_wait_sends_nothing_more() -> None:
    attempts: list[int] = []
    stopped = False

    def wait(seconds: float) -> None:  # the client cancels during the Retry-After wait
        nonlocal stopped
        stopped = True

    with pytest.raises(Interrupted) as caught:
        retrying(lambda: busy(attempts), Policy(2), Pacer(sleep=wait), _no_op, lambda: stopped)
    assert attempts == [1]
    assert caught.value.may_be_billed is False and "nothing was sent" in caught.value.message


def test_a_stop_set_before_the_first_attempt_sends_nothing() -> None:
    attempts: list[int] = []
    with pytest.raises(Interrupted):
        retrying(lambda: busy(attempts), Policy(2), Pacer(), _no_op, lambda: True)
    assert attempts == []


def test_an_attempt_out_when_the_stop_is_set_finishes() -> None:
    stopped = False

    def once() -> str:
        nonlocal stopped
        stopped = True  # cancelled while the request is out: its answer is taken
        return "answer"

    assert retrying(once, Policy(2), Pacer(), _no_op, lambda: stopped) == ("answer", 1)


def _no_op(attempt: int, wait: float, reason: str) -> None:
    pass
