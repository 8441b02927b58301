"""`audit verify` checks long chains in several processes: its verdict equals one walk's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from privacyops.audit import selectors
from privacyops.audit.models import AuditChainHead, AuditEvent
from privacyops.audit.selectors import audit_verify
from tests.audit.chain_tools import append_events, field_update, forged, raw_delete, swap_seq

EVENTS = 40  # three stretches: 1 to 13, 14 to 26, 27 to 40


def _edit(seq: int) -> Callable[[], None]:
    return lambda: field_update(seq, action="job.rejected")


def _delete(seq: int) -> Callable[[], None]:
    return lambda: raw_delete(seq=seq)


def _delete_range(low: int, high: int) -> Callable[[], None]:
    return lambda: raw_delete(seq__gte=low, seq__lte=high)


def _forge_after_head() -> None:
    last = AuditEvent.objects.order_by("seq").last()
    forged(seq=last.seq + 1, prev_hash=last.hash)


def _rewrite_head() -> None:
    AuditChainHead.objects.filter(pk=1).update(hash="e" * 64)


TAMPERING: dict[str, Callable[[], None]] = {
    "intact": lambda: None,
    "edit first event": _edit(1),
    "edit last of a stretch": _edit(13),
    "edit first of a stretch": _edit(14),
    "edit last event": _edit(40),
    "delete first of a stretch": _delete(14),
    "delete last of a stretch": _delete(26),
    "delete a whole middle stretch": _delete_range(14, 26),
    "truncate the tail across stretches": _delete_range(20, 40),
    "swap across a boundary": lambda: swap_seq(13, 14),
    "forge after the head": _forge_after_head,
    "forge before the first": lambda: forged(seq=0, prev_hash="0" * 64),
    "rewrite the head": _rewrite_head,
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("tampering", list(TAMPERING), ids=list(TAMPERING))
def test_parallel_verdict_equals_one_walk(tampering, monkeypatch):
    append_events(EVENTS)
    TAMPERING[tampering]()
    one_walk = audit_verify()
    monkeypatch.setattr(selectors, "PARALLEL_VERIFY_MIN_EVENTS", 0)
    in_parallel = audit_verify(processes=3)
    assert in_parallel == one_walk
    assert one_walk.ok == (tampering == "intact")
