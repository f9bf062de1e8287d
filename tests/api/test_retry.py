"""What is resent, when and after how long: Retry-After, backoff, the shared pause."""

from __future__ import annotations

import email.utils
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import responses
from fakeserver import (
    make_png,
)
from helpers import (
    KEY,
    blob_of,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmxedit.api import retry
from dmxedit.api.client import Client
from dmxedit.api.request import build_request
from dmxedit.api.retry import Pacer, Policy
from dmxedit.core.events import Events
from dmxedit.core.settings import Settings
from dmxedit.media.images import load_images


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


NOW = 1_800_000_000.0


header_values = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats().map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "NaN", "Infinity", "1e-400", "0x10"]),
    st.integers(min_value=-(2**40), max_value=2**40).map(
        lambda t: email.utils.formatdate(t, usegmt=True) if -(2**35) < t < 2**35 else str(t)
    ),
    st.builds(
        lambda d, m, y, h: f"{d} {m} {y} {h}:00:00 GMT",
        st.integers(-5, 40),
        st.sampled_from(["Jan", "Feb", "Xyz", "Dec"]),
        st.integers(-10, 99999),
        st.integers(-3, 30),
    ),
)


def test_a_429_seen_by_one_client_pauses_another_sharing_the_pause(tmp_path: Path) -> None:
    clock = Clock()
    base = "https://api.example.test/v1"
    image = tmp_path / "in.png"
    image.write_bytes(make_png(8, 8))
    request = build_request(
        "edit", Settings(base_url=base), prompt="x", images=load_images([str(image)])
    )
    posted_at: dict[str, float] = {}
    other: list[Client] = []

    class Shared(Pacer):
        def pause(self, seconds: float) -> None:
            super().pause(seconds)
            # While the first client holds off, the second one starts its request.
            assert other[0].send(request, lambda: blob_of(tmp_path, b"")) is not None

    pacer = Shared(sleep=clock.sleep, clock=clock)
    first = Client(api_key=KEY, policy=Policy(retries=1), pacer=pacer)
    other.append(Client(api_key=KEY, pacer=pacer))
    first.events = Events()

    def answer(req: Any) -> tuple[int, dict[str, str], str]:
        who = "first" if "first" not in posted_at else "second"
        posted_at.setdefault(who, clock.now)
        if who == "first" and len(posted_at) == 1:
            return 429, {"Retry-After": "7"}, "{}"
        return 200, {}, json.dumps({"data": [{"url": "https://cdn.example.test/a.png"}]})

    with responses.RequestsMock() as mocked:
        mocked.add_callback(responses.POST, base + "/images/edits", callback=answer)
        first.send(request, lambda: blob_of(tmp_path, b""))
    assert posted_at["first"] == 0.0
    assert posted_at["second"] >= 7.0  # it waited for the pause the 429 asked for


def test_retry_after_forms() -> None:
    parse_ra = retry.parse_retry_after
    assert parse_ra({"Retry-After": "7"}) == 7.0
    assert parse_ra({"retry-after": " 2.5 "}) == 2.5
    assert parse_ra({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert parse_ra({"Retry-After": "-3"}) == 0.0
    assert parse_ra({"Retry-After": "soon"}) is None
    assert parse_ra({}) is None
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert parse_ra({"Retry-After": date}, now=NOW) == pytest.approx(90, abs=1)
    past = email.utils.formatdate(NOW - 90, usegmt=True)
    assert parse_ra({"Retry-After": past}, now=NOW) == 0.0


@given(
    retry_after=st.one_of(st.none(), header_values),
    retry_after_ms=st.one_of(st.none(), header_values),
)
@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_retry_after_is_always_finite_and_non_negative(
    retry_after: str | None, retry_after_ms: str | None
) -> None:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    value = retry.parse_retry_after(headers, now=NOW)
    assert value is None or (math.isfinite(value) and value >= 0)


@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0, max_value=100))
@settings(deadline=None)
def test_backoff_is_bounded_and_grows(attempt: int, base: float) -> None:
    rng = random.Random(attempt)
    delay = retry.backoff(attempt, base=base, rng=rng)
    ceiling = min(retry.MAX_BACKOFF, base * 2.0 ** (attempt - 1))
    assert 0.5 * ceiling <= delay <= ceiling
    assert delay <= retry.MAX_BACKOFF


def test_backoff_base_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DMXEDIT_RETRY_DELAY", "0")
    assert retry.backoff(5) == 0
    monkeypatch.setenv("DMXEDIT_RETRY_DELAY", "2")
    assert 1.0 <= retry.backoff(1) <= 2.0
    monkeypatch.setenv("DMXEDIT_RETRY_DELAY", "nonsense")
    assert retry.base_delay() == 1.0


def test_pacer_holds_every_caller_until_the_pause_ends() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = retry.Pacer(sleep=sleep, clock=lambda: clock[0])
    pacer.wait()
    assert slept == []
    pacer.pause(1.2)
    pacer.pause(0.5)  # a shorter pause does not cut a longer one
    pacer.wait()
    assert clock[0] == pytest.approx(1.2)
    assert all(s <= 0.5 for s in slept)
