"""Billing verdicts for requests whose answer was lost."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_billing_verdict_keeps_the_time_the_request_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`recover --check` and `batch --reconcile` search from the entry's send to a minute
    after ``updated`` (its failure): recording a verdict must not move ``updated``, or
    each later check of an open verdict would search a wider window and count other
    requests' charges as this one's."""
    from dmxedit.engine import billing
    from dmxedit.store import ledger

    book = ledger.Ledger(tmp_path / "ledger.db")
    entry = book.create(kind="edit", status="sent", model="nano-banana-2")
    book.update(entry, status="failed", may_be_billed=True)
    ended = book.get(entry)
    assert ended is not None
    later = ended.updated + 3600.0
    monkeypatch.setattr("dmxedit.store.ledger.time.time", lambda: later)
    billing.record(book, entry, billing.Verdict(None, "unavailable", "no answer", [], later))
    after = book.get(entry)
    assert after is not None and after.billing is not None
    assert after.updated == ended.updated
    book.close()
