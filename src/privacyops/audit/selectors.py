"""Reading the audit log: filtered, tenant-scoped, cursor-paged, streamed for export."""

from __future__ import annotations

import heapq
import io
import json
import multiprocessing
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django.conf import settings
from django.db import connections
from django.db.models import Max, Q, QuerySet

from privacyops.audit.chain import (
    ARCHIVED,
    CANONICAL_FIELDS,
    GENESIS_HASH,
    RawJSON,
    Segment,
    Unreadable,
    VerifyResult,
    canonical_json,
    object_without_duplicates,
    stitch,
    verify_rows,
    verify_segment,
)
from privacyops.audit.checkpoints import SignedHead, checkpoints_verdict, describe
from privacyops.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditTombstone
from privacyops.errors import ValidationFailed
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import tenants_visible_to
from privacyops.web.csv import safe_writer


@dataclass(frozen=True)
class AuditFilters:
    tenant_id: int | None = None
    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    outcome: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_events_visible_to(viewer: User, action: str = "audit.view") -> QuerySet[AuditEvent]:
    if viewer.is_authenticated and viewer.is_staff:
        return AuditEvent.objects.all()
    tenant_ids = list(tenants_visible_to(viewer, action).values_list("pk", flat=True))
    return AuditEvent.objects.filter(tenant_id__in=tenant_ids)


def audit_events_filtered(
    viewer: User, filters: AuditFilters, *, action: str = "audit.view"
) -> QuerySet[AuditEvent]:
    if filters.outcome and filters.outcome not in {"success", "failure"}:
        raise ValidationFailed("outcome must be 'success' or 'failure'.", field="outcome")
    if filters.since and filters.until and filters.since > filters.until:
        raise ValidationFailed("The start of the time range is after its end.", field="since")
    events = audit_events_visible_to(viewer, action)
    if filters.tenant_id is not None:
        events = events.filter(tenant_id=filters.tenant_id)
    if filters.actor:
        events = events.filter(Q(actor_id=filters.actor) | Q(actor_label__iexact=filters.actor))
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    if filters.target_id:
        events = events.filter(target_id=filters.target_id)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    if filters.since:
        events = events.filter(created_at__gte=filters.since)
    if filters.until:
        events = events.filter(created_at__lt=filters.until)
    return events.order_by("-seq")


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: int | None


def audit_page(
    viewer: User, filters: AuditFilters, *, cursor: int | None = None, limit: int = 50
) -> AuditPage:
    """Newest first; `cursor` is the seq of the last event of the previous page."""
    limit = max(1, min(limit, 500))
    events = audit_events_filtered(viewer, filters)
    if cursor is not None:
        events = events.filter(seq__lt=cursor)
    rows = list(events[: limit + 1])
    next_cursor = rows[limit - 1].seq if len(rows) > limit else None
    return AuditPage(rows[:limit], next_cursor)


EXPORT_COLUMNS = (
    "seq", "created_at", "tenant_id", "actor_type", "actor_id", "actor_label", "action",
    "target_type", "target_id", "outcome", "metadata", "prev_hash", "hash",
)


def _export_rows(events: QuerySet[AuditEvent]) -> Iterator[tuple[object, ...]]:
    yield from events.order_by("seq").values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000)


def audit_export_csv(events: QuerySet[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = safe_writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for row in _export_rows(events):
        values = list(row)
        values[1] = cast(datetime, values[1]).isoformat()
        values[10] = json.dumps(values[10], sort_keys=True)
        writer.writerow(values)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def audit_export_jsonl(events: QuerySet[AuditEvent]) -> Iterator[str]:
    lines: list[str] = []
    for row in _export_rows(events):
        record = dict(zip(EXPORT_COLUMNS, row, strict=True))
        record["created_at"] = cast(datetime, record["created_at"]).isoformat()
        lines.append(json.dumps(record, sort_keys=True) + "\n")
        if len(lines) >= 500:
            yield "".join(lines)
            lines.clear()
    yield "".join(lines)


_VERIFY_CHUNK_ROWS = 5000


def _tombstone_rows(after: int | None = None,
                    through: int | None = None) -> Iterator[tuple[Any, ...]]:
    """Archived events as chain rows: their place and links, content :data:`ARCHIVED`."""
    tombstones = AuditTombstone.objects.order_by("seq")
    if after is not None:
        tombstones = tombstones.filter(seq__gt=after)
    if through is not None:
        tombstones = tombstones.filter(seq__lte=through)
    for seq, prev_hash, stored_hash in tombstones.values_list("seq", "prev_hash", "hash"):
        yield (seq, *([None] * 9), ARCHIVED, prev_hash, stored_hash)


def _by_seq(row: Sequence[Any]) -> tuple[bool, Any]:
    return row[0].__class__ is not int, row[0]


def _with_tombstones(rows: Iterable[Sequence[Any]], after: int | None = None,
                     through: int | None = None) -> Iterable[Sequence[Any]]:
    """The stored events with the archived ones in their places (merged by seq)."""
    tombstones = AuditTombstone.objects.all()
    if after is not None:
        tombstones = tombstones.filter(seq__gt=after)
    if through is not None:
        tombstones = tombstones.filter(seq__lte=through)
    if not tombstones.exists():
        return rows  # the usual case: no merge cost per row
    return heapq.merge(rows, _tombstone_rows(after, through), key=_by_seq)


def _chain_rows() -> Iterator[list[Any]]:
    """The chain in seq order, as verify_rows reads it, with the ORM's per-row work inlined.

    The same SELECT the ORM would run, through the same (server-side on PostgreSQL) chunked
    cursor as ``QuerySet.iterator``; ``created_at`` and ``metadata`` are turned into what the
    model fields would give (an aware UTC datetime's isoformat, parsed JSON) without going
    through the converters row by row, which cost more than hashing the event.
    """
    queryset = AuditEvent.objects.order_by("seq").values_list(
        *CANONICAL_FIELDS, "prev_hash", "hash")
    compiler = queryset.query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    connection = connections[queryset.db]
    created_field = AuditEvent._meta.get_field("created_at")
    metadata_field = AuditEvent._meta.get_field("metadata")
    created_col = created_field.get_col(AuditEvent._meta.db_table)
    metadata_col = metadata_field.get_col(AuditEvent._meta.db_table)
    created_converters = (
        connection.ops.get_db_converters(created_col) + created_col.get_db_converters(connection)
    )
    use_tz = settings.USE_TZ
    utc = connection.timezone
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(_VERIFY_CHUNK_ROWS):
            for raw in chunk:
                row = list(raw)
                created = row[1]
                if created.__class__ is datetime and created.tzinfo is not None:
                    pass  # already aware (PostgreSQL): the converters leave it as it is
                elif created.__class__ is datetime and use_tz:
                    created = created.replace(tzinfo=utc)  # timezone.make_aware, as on SQLite
                else:
                    for converter in created_converters:
                        created = converter(created, created_field, connection)
                row[1] = created.isoformat(timespec="microseconds")
                metadata = row[10]
                if connection.vendor == "postgresql":
                    # Django reads jsonb as text; any other value means another column type.
                    row[10] = (_jsonb_canonical(metadata) if metadata.__class__ is str
                               else _NOT_JSONB)
                elif metadata.__class__ is str:
                    row[10] = RawJSON(metadata)  # verify_rows hashes the stored text as is
                elif metadata is not None:
                    row[10] = metadata_field.from_db_value(metadata, metadata_col, connection)
                yield row


def _jsonb_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _JSONB_ESCAPES:
            out.append(_JSONB_ESCAPES[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


_JSONB_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                  "\r": "\\r", "\t": "\\t"}


def _jsonb_text(value: Any) -> str:
    """How PostgreSQL prints a jsonb value: keys by length then bytes, ", " and ": "."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _jsonb_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, list):
        return "[" + ", ".join(_jsonb_text(item) for item in value) + "]"
    keys = sorted(value, key=lambda key: (len(key.encode()), key.encode()))
    return "{" + ", ".join(f"{_jsonb_string(key)}: {_jsonb_text(value[key])}" for key in keys) + "}"


def _jsonb_canonical(text: str) -> RawJSON | Unreadable:
    """The canonical text of metadata stored as jsonb, or why the stored text is refused.

    jsonb keeps one spelling of a value (it drops duplicate keys and spacing, orders keys
    itself), so the text PostgreSQL prints is a function of what every query reads. It must
    be exactly that function of what it parses to here: a column changed to another type
    (json, text keeps duplicate keys) or a number stored with another scale is refused.
    """
    try:
        parsed = json.loads(text, object_pairs_hook=object_without_duplicates)
        if _jsonb_text(parsed) != text:
            raise ValueError(text)
        return RawJSON(canonical_json(parsed))
    except (ValueError, RecursionError, InvalidOperation):
        return Unreadable("its stored metadata is not in the one spelling jsonb prints for it "
                          "(duplicate keys, another number scale or a changed column type), "
                          "so the database may read other values than the ones hashed "
                          "(edited).")


_SQLITE_DATETIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?")
_SQLITE_CREATED_REFUSED = Unreadable(
    "its stored time is not in the one spelling the database writes for it, so queries by "
    "time may read another moment than the one hashed (edited).")


def _sqlite_created(text: Any) -> str | Unreadable:
    """SQLite's stored 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC) as the canonical isoformat.

    Only the text Django writes for that moment is accepted (microseconds only when not zero):
    another spelling of the same moment compares differently in SQL.
    """
    if text.__class__ is not str or not _SQLITE_DATETIME.fullmatch(text):
        return _SQLITE_CREATED_REFUSED
    if len(text) == 26:
        if text.endswith(".000000"):
            return _SQLITE_CREATED_REFUSED
        return f"{text[:10]}T{text[11:]}+00:00"
    return f"{text[:10]}T{text[11:]}.000000+00:00"


def _sqlite_chain_rows(after: int | None = None,
                       through: int | None = None) -> Iterator[tuple[Any, ...]]:
    """The chain on SQLite (seq in (after, through]): the stored texts, no converters.

    created_at and metadata are stored in (nearly) their canonical spelling already, so the
    rows are hashed as they are stored.
    """
    connection = connections[AuditEvent.objects.db]
    quote = connection.ops.quote_name
    columns = [quote(name) for name in (*CANONICAL_FIELDS, "prev_hash", "hash")]
    columns[1] = f"CAST({columns[1]} AS TEXT)"  # no declared type: sqlite3 leaves the text
    bounds, params = ["1 = 1"], []
    if after is not None:
        bounds.append(f"{quote('seq')} > %s")
        params.append(after)
    if through is not None:
        bounds.append(f"{quote('seq')} <= %s")
        params.append(through)
    sql = (f"SELECT {', '.join(columns)} FROM {quote(AuditEvent._meta.db_table)} "  # noqa: S608
           f"WHERE {' AND '.join(bounds)} ORDER BY {quote('seq')}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(_VERIFY_CHUNK_ROWS):
            for raw in chunk:
                metadata = raw[10]
                yield (raw[0], _sqlite_created(raw[1]), *raw[2:10],
                       RawJSON(metadata) if metadata.__class__ is str else _NOT_TEXT,
                       raw[11], raw[12])


_NOT_JSONB = Unreadable("its stored metadata is not read back as jsonb (the column type was "
                        "changed), so the database may read other values than the ones hashed "
                        "(edited).")
_NOT_TEXT = Unreadable("its stored metadata is not JSON text (edited).")


PARALLEL_VERIFY_MIN_EVENTS = 100_000


def _verify_stretch(bounds: tuple[int | None, int | None]) -> Segment:
    """Runs in a forked process: verify seq in (after, through] on a connection of its own."""
    after, through = bounds
    try:
        return verify_segment(
            _with_tombstones(_sqlite_chain_rows(after, through), after, through),
            start_seq=1 if after is None else after + 1,
            start_prev=GENESIS_HASH if after is None else None,
        )
    finally:
        connections.close_all()


def _chain_verdict(processes: int) -> VerifyResult:
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    vendor = connections[AuditEvent.objects.db].vendor
    if vendor != "sqlite":
        return verify_rows(_with_tombstones(_chain_rows()), head=head or (0, ""))
    last_seq = AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    if processes <= 1 or last_seq < PARALLEL_VERIFY_MIN_EVENTS:
        return verify_rows(_with_tombstones(_sqlite_chain_rows()), head=head or (0, ""))
    cuts = [last_seq * k // processes for k in range(1, processes)]
    stretches = list(zip([None, *cuts], [*cuts, None], strict=True))
    connections.close_all()  # each forked process opens its own connection
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        segments = pool.map(_verify_stretch, stretches)
    starts = [1 if after is None else after + 1 for after, _ in stretches]
    return stitch(list(zip(starts, segments, strict=True)), head=head or (0, ""))


def _stored_hashes(seqs: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    ordered = sorted(seqs)
    for start in range(0, len(ordered), 500):
        batch = ordered[start:start + 500]
        for model in (AuditEvent, AuditTombstone):
            found.update(model.objects.filter(seq__in=batch).values_list("seq", "hash"))
    return found


def audit_verify(*, processes: int = 1, checkpoint: SignedHead | None = None) -> VerifyResult:
    """Walk the whole chain in seq order and name the first broken link, then hold the chain
    against every signed checkpoint (and `checkpoint`, read from a file kept elsewhere).

    With `processes` > 1 (the console command) a long chain on SQLite is checked in that many
    stretches at once, then stitched: the verdict is the same as one walk's.
    """
    result = _chain_verdict(processes)
    if not result.ok:
        return result
    seqs = set(AuditCheckpoint.objects.values_list("seq", flat=True))
    if checkpoint is not None:
        seqs.add(checkpoint.seq)
    verdict = checkpoints_verdict(count=result.count, hashes_at=_stored_hashes(seqs),
                                  external=checkpoint)
    if verdict.broken_seq is not None:
        return VerifyResult(False, result.count, verdict.broken_seq, verdict.reason)
    return VerifyResult(True, result.count, note=describe(verdict.matched, verdict.archived))
