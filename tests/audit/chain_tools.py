"""Helpers for the audit tests: appending events, tampering with stored rows behind the ORM."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from django.db import connections, transaction

from privacyops.audit.chain import event_hash
from privacyops.audit.models import AuditEvent
from privacyops.audit.services import audit_record
from privacyops.tenancy.actors import Actor


def append_events(count: int, *, tenant_ids: tuple[int | None, ...] = (None,)) -> list[AuditEvent]:
    events = []
    for n in range(count):
        with transaction.atomic():
            events.append(audit_record(
                actor=Actor.system(f"worker-{n % 3}"), action="job.started",
                tenant_id=tenant_ids[n % len(tenant_ids)], target_type="job", target_id=n,
                metadata={"attempt": n, "note": "café ☕"},
            ))
    return events


def field_update(which: int, /, **values: Any) -> None:
    """Edit a stored event the way someone with database access would: no save(), no update()."""
    pairs = [(AuditEvent._meta.get_field(name), None, value) for name, value in values.items()]
    assert AuditEvent.objects.filter(seq=which)._update(pairs) == 1


def raw_delete(**lookup: Any) -> None:
    AuditEvent.objects.filter(**lookup)._raw_delete(AuditEvent.objects.db)


def swap_seq(first: int, second: int) -> None:
    field_update(first, seq=-1)
    field_update(second, seq=first)
    field_update(-1, seq=second)


def forged(*, seq: int, prev_hash: str, correct_hash: bool = True, **changes: Any) -> AuditEvent:
    """An event written straight into the table, its hash computed as the real code would."""
    values: dict[str, Any] = {
        "seq": seq, "created_at": AuditEvent.objects.order_by("seq").last().created_at
        + timedelta(seconds=1),
        "tenant_id": None, "actor_type": "user", "actor_id": "666", "actor_label":
        "mallory@example.com", "action": "job.approved", "target_type": "job", "target_id": "9",
        "outcome": "success", "metadata": {}, **changes,
    }
    digest = event_hash(prev_hash, values) if correct_hash else "f" * 64
    return AuditEvent.objects.bulk_create([AuditEvent(prev_hash=prev_hash, hash=digest,
                                                      **values)])[0]


def append_concurrently(*, threads: int, per_thread: int) -> None:
    """Each thread appends on its own database connection, all starting at once."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(per_thread):
                with transaction.atomic():
                    audit_record(actor=Actor.system(f"thread-{worker}"), action="job.started",
                                 tenant_id=None, target_type="job", target_id=f"{worker}-{n}",
                                 metadata={"worker": worker, "n": n})
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=append, args=(worker,)) for worker in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in pool)


def assert_one_valid_chain(*, threads: int, per_thread: int) -> None:
    from privacyops.audit.selectors import audit_verify

    total = threads * per_thread
    result = audit_verify()
    assert result.ok, result.sentence()
    assert result.count == total
    rows = list(AuditEvent.objects.order_by("seq").values_list("seq", "metadata"))
    assert [seq for seq, _ in rows] == list(range(1, total + 1))
    for worker in range(threads):
        mine = [meta["n"] for _, meta in rows if meta["worker"] == worker]
        assert mine == list(range(per_thread)), f"thread {worker} lost or reordered events"


EVENT_FIELDS = ("seq", "created_at", "tenant_id", "actor_type", "actor_id", "actor_label",
                "action", "target_type", "target_id", "outcome", "metadata")


def rewrite_and_rehash(seq: int, **changes: Any) -> None:
    """A forger with database access: edit event `seq`, recompute every later hash and the head."""
    from privacyops.audit.models import AuditChainHead

    events = list(AuditEvent.objects.filter(seq__gte=seq).order_by("seq"))
    prev_hash = events[0].prev_hash
    for event in events:
        values = {name: getattr(event, name) for name in EVENT_FIELDS}
        if event.seq == seq:
            values.update(changes)
        digest = event_hash(prev_hash, values)
        field_update(event.seq, prev_hash=prev_hash, hash=digest,
                     **(changes if event.seq == seq else {}))
        prev_hash = digest
    AuditChainHead.objects.filter(pk=1).update(hash=prev_hash)


def truncate_and_rewind(keep: int) -> None:
    """A forger with database access: cut the events after #keep and rewind the head to it."""
    from privacyops.audit.models import AuditChainHead

    raw_delete(seq__gt=keep)
    last = AuditEvent.objects.get(seq=keep)
    AuditChainHead.objects.filter(pk=1).update(seq=keep, hash=last.hash)
