from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from privacyops.audit.chain import verify_rows
from privacyops.audit.models import AuditEvent
from privacyops.audit.selectors import (
    EXPORT_COLUMNS,
    AuditFilters,
    audit_events_filtered,
    audit_export_csv,
    audit_export_jsonl,
    audit_page,
)
from privacyops.audit.services import audit_record
from privacyops.errors import ValidationFailed
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Role
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(tenant, other_tenant, staff):
    return {
        "staff": staff,
        "admin": factories.user_create(email="admin@example.com", tenant=tenant, role=Role.ADMIN),
        "member": factories.user_create(email="member@example.com", tenant=tenant,
                                        role=Role.MEMBER),
        "other_admin": factories.user_create(email="admin@globex.example.com",
                                             tenant=other_tenant, role=Role.SUPER_ADMIN),
    }


@pytest.fixture
def log(tenant, other_tenant, people):
    """A small log: (actor, action, tenant, target, outcome) per event, in append order."""
    plan = [
        (people["admin"], "gdpr.export", tenant.pk, ("subject", "7"), "success"),
        (people["staff"], "job.approved", tenant.pk, ("job", "1"), "success"),
        (people["other_admin"], "gdpr.erase", other_tenant.pk, ("subject", "7"), "success"),
        (people["member"], "gdpr.erase", tenant.pk, ("subject", "8"), "failure"),
        (people["staff"], "hold.placed", other_tenant.pk, ("hold", "3"), "success"),
        (people["staff"], "audit.verified", None, ("", ""), "success"),
        (people["admin"], "job.created", tenant.pk, ("job", "2"), "success"),
        (people["other_admin"], "job.approved", other_tenant.pk, ("job", "1"), "failure"),
    ]
    events = []
    for user, action, tenant_id, (target_type, target_id), outcome in plan:
        with transaction.atomic():
            events.append(audit_record(actor=Actor.for_user(user), action=action,
                                       tenant_id=tenant_id, target_type=target_type,
                                       target_id=target_id, outcome=outcome,
                                       metadata={"n": len(events)}))
    return events


def seqs(events) -> list[int]:
    return [event.seq for event in events]


class TestFilters:
    @pytest.mark.parametrize(("filters", "expected"), [
        (lambda t: AuditFilters(tenant_id=t["tenant"]), [7, 4, 2, 1]),
        (lambda t: AuditFilters(actor="admin@example.com"), [7, 1]),
        (lambda t: AuditFilters(actor="ADMIN@example.com"), [7, 1]),
        (lambda t: AuditFilters(action="job.approved"), [8, 2]),
        (lambda t: AuditFilters(target_type="subject", target_id="7"), [3, 1]),
        (lambda t: AuditFilters(target_id="1"), [8, 2]),
        (lambda t: AuditFilters(outcome="failure"), [8, 4]),
        (lambda t: AuditFilters(tenant_id=t["other"], action="job.approved",
                                outcome="failure"), [8]),
        (lambda t: AuditFilters(action="job.cancelled"), []),
    ], ids=["tenant", "actor", "actor-any-case", "action", "target", "target-id", "outcome",
            "combined", "nothing"])
    def test_staff_filter_the_whole_log(self, log, people, tenant, other_tenant, filters,
                                        expected):
        chosen = filters({"tenant": tenant.pk, "other": other_tenant.pk})
        assert seqs(audit_events_filtered(people["staff"], chosen)) == expected

    def test_actor_matches_the_user_id_too(self, log, people):
        found = audit_events_filtered(people["staff"], AuditFilters(actor=str(people["admin"].pk)))
        assert seqs(found) == [7, 1]

    def test_time_range_includes_its_start_and_excludes_its_end(self, log, people):
        since, until = log[2].created_at, log[6].created_at
        found = audit_events_filtered(people["staff"], AuditFilters(since=since, until=until))
        assert seqs(found) == [6, 5, 4, 3]

    @pytest.mark.parametrize(("filters", "field"), [
        (AuditFilters(outcome="maybe"), "outcome"),
        (AuditFilters(since=datetime.fromisoformat("2030-01-02T00:00:00+00:00"),
                      until=datetime.fromisoformat("2030-01-01T00:00:00+00:00")), "since"),
    ])
    def test_nonsense_filters_are_refused_with_the_field(self, people, filters, field):
        with pytest.raises(ValidationFailed) as refused:
            audit_events_filtered(people["staff"], filters)
        assert refused.value.details["field"] == field


class TestTenantScoping:
    def test_a_tenant_admin_sees_only_their_tenant(self, log, people, tenant):
        assert seqs(audit_events_filtered(people["admin"], AuditFilters())) == [7, 4, 2, 1]

    def test_asking_for_another_tenant_shows_nothing(self, log, people, other_tenant):
        found = audit_events_filtered(people["admin"], AuditFilters(tenant_id=other_tenant.pk))
        assert seqs(found) == []

    def test_platform_events_without_a_tenant_are_staff_only(self, log, people):
        assert 6 not in seqs(audit_events_filtered(people["other_admin"], AuditFilters()))
        assert 6 in seqs(audit_events_filtered(people["staff"], AuditFilters()))

    @pytest.mark.parametrize("who", ["member", "anonymous"])
    def test_members_and_anonymous_see_nothing(self, log, people, who):
        viewer = AnonymousUser() if who == "anonymous" else people[who]
        assert seqs(audit_events_filtered(viewer, AuditFilters())) == []


class TestCursorPaging:
    def test_pages_cover_every_event_once_newest_first(self, people):
        with transaction.atomic():
            for n in range(23):
                audit_record(actor=Actor.system(), action="job.started", tenant_id=None,
                             target_id=n)
        seen, cursor, sizes = [], None, []
        while True:
            page = audit_page(people["staff"], AuditFilters(), cursor=cursor, limit=5)
            sizes.append(len(page.events))
            seen += seqs(page.events)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert sizes == [5, 5, 5, 5, 3]
        assert seen == list(range(23, 0, -1))

    def test_events_appended_while_paging_do_not_shift_older_pages(self, log, people):
        first = audit_page(people["staff"], AuditFilters(), limit=3)
        with transaction.atomic():
            audit_record(actor=Actor.system(), action="job.started", tenant_id=None)
        second = audit_page(people["staff"], AuditFilters(), cursor=first.next_cursor, limit=3)
        assert seqs(first.events) == [8, 7, 6]
        assert seqs(second.events) == [5, 4, 3]

    def test_paging_keeps_the_filter_and_the_scope(self, log, people):
        first = audit_page(people["admin"], AuditFilters(), limit=3)
        second = audit_page(people["admin"], AuditFilters(), cursor=first.next_cursor, limit=3)
        assert (seqs(first.events), seqs(second.events)) == ([7, 4, 2], [1])
        assert second.next_cursor is None

    def test_a_full_last_page_has_no_next_cursor(self, log, people):
        page = audit_page(people["staff"], AuditFilters(), limit=8)
        assert len(page.events) == 8
        assert page.next_cursor is None


def _db_rows(events) -> list[dict]:
    return [dict(zip(EXPORT_COLUMNS, row, strict=True))
            for row in events.order_by("seq").values_list(*EXPORT_COLUMNS)]


class TestExport:
    def test_csv_holds_every_column_of_every_event(self, log, people):
        text = "".join(audit_export_csv(AuditEvent.objects.all()))
        header, *rows = list(csv.reader(io.StringIO(text)))
        assert tuple(header) == EXPORT_COLUMNS
        expected = _db_rows(AuditEvent.objects.all())
        assert len(rows) == len(expected) == 8
        for row, db in zip(rows, expected, strict=True):
            parsed = dict(zip(header, row, strict=True))
            assert int(parsed["seq"]) == db["seq"]
            assert datetime.fromisoformat(parsed["created_at"]) == db["created_at"]
            assert parsed["tenant_id"] == ("" if db["tenant_id"] is None else str(db["tenant_id"]))
            assert json.loads(parsed["metadata"]) == db["metadata"]
            for column in ("actor_type", "actor_id", "actor_label", "action", "target_type",
                           "target_id", "outcome", "prev_hash", "hash"):
                assert parsed[column] == db[column]

    def test_jsonl_of_a_date_range_verifies_offline(self, log, people):
        in_range = audit_events_filtered(
            people["staff"], AuditFilters(since=log[0].created_at, until=log[5].created_at))
        lines = "".join(audit_export_jsonl(in_range)).splitlines()
        records = [json.loads(line) for line in lines]
        assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
        for record, db in zip(records, _db_rows(in_range), strict=True):
            assert datetime.fromisoformat(record["created_at"]) == db["created_at"]
            assert {**record, "created_at": db["created_at"]} == db
        rows = [(*(r[c] for c in EXPORT_COLUMNS[:-2]), r["prev_hash"], r["hash"]) for r in records]
        rows = [(row[0], datetime.fromisoformat(row[1]), *row[2:]) for row in rows]
        assert verify_rows(rows, head=None).ok

    def test_large_exports_stream_in_chunks_without_losing_rows(self, people):
        with transaction.atomic():
            for n in range(700):
                audit_record(actor=Actor.system(), action="job.started", tenant_id=None,
                             target_id=n, metadata={"padding": "x" * 80})
        csv_chunks = list(audit_export_csv(AuditEvent.objects.all()))
        jsonl_chunks = list(audit_export_jsonl(AuditEvent.objects.all()))
        assert len(csv_chunks) > 1
        assert len(jsonl_chunks) > 1
        csv_rows = list(csv.reader(io.StringIO("".join(csv_chunks))))[1:]
        jsonl_rows = "".join(jsonl_chunks).splitlines()
        assert [int(row[0]) for row in csv_rows] == list(range(1, 701))
        assert [json.loads(line)["seq"] for line in jsonl_rows] == list(range(1, 701))
