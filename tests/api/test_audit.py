from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from privacyops.audit.models import AuditEvent, Outcome
from privacyops.audit.services import audit_record
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Role
from tests import factories
from tests.api.conftest import api_as, assert_error

pytestmark = pytest.mark.django_db


def _record(tenant_id, action="job.approved", target_id="1", outcome=Outcome.SUCCESS,
            actor=None):
    with transaction.atomic():
        return audit_record(actor=actor or Actor.system("worker"), action=action,
                            tenant_id=tenant_id, target_type="job", target_id=target_id,
                            outcome=outcome)


@pytest.fixture
def events(tenant, other_tenant, staff):
    return {
        "approved": _record(tenant.pk, target_id="11", actor=Actor.for_user(staff)),
        "failed": _record(tenant.pk, action="job.failed", target_id="12", outcome=Outcome.FAILURE),
        "other": _record(other_tenant.pk, action="hold.placed", target_id="13"),
    }


def _seqs(response):
    assert response.status_code == 200, response.content
    return {event["seq"] for event in response.json()["events"]}


class TestQueryEvents:
    @pytest.mark.parametrize(("params", "expected"), [
        ({"action": "job.failed"}, {"failed"}),
        ({"outcome": "failure"}, {"failed"}),
        ({"target_type": "job", "target_id": "13"}, {"other"}),
        ({"actor": "staff@example.com", "action": "job.approved"}, {"approved"}),
    ])
    def test_filters(self, staff_api, events, params, expected):
        assert _seqs(staff_api.get("/audit/events", **params)) == {events[n].seq for n in expected}

    def test_filter_by_tenant(self, staff_api, events, tenant):
        assert _seqs(staff_api.get("/audit/events", tenant_id=tenant.pk)) == {
            events["approved"].seq, events["failed"].seq}

    def test_time_range(self, staff_api, events):
        now = timezone.now()
        assert _seqs(staff_api.get("/audit/events", since=(now + timedelta(hours=1)).isoformat())) == set()
        window = staff_api.get("/audit/events", action="job.failed",
                               since=(now - timedelta(hours=1)).isoformat(), until=now.isoformat())
        assert _seqs(window) == {events["failed"].seq}

    def test_a_range_that_ends_before_it_starts_is_refused(self, staff_api):
        now = timezone.now()
        body = assert_error(staff_api.get("/audit/events", since=now.isoformat(),
                                          until=(now - timedelta(days=1)).isoformat()), 422, "invalid")
        assert body["details"]["field"] == "since"

    def test_unknown_outcome_names_the_field(self, staff_api):
        body = assert_error(staff_api.get("/audit/events", outcome="maybe"), 422, "invalid")
        assert body["message"].startswith("outcome:")

    def test_cursor_pages_newest_first(self, staff_api, tenant):
        recorded = [_record(tenant.pk, target_id=str(n)).seq for n in range(5)]
        first = staff_api.get("/audit/events", action="job.approved", limit=2).json()
        assert [e["seq"] for e in first["events"]] == recorded[::-1][:2]
        second = staff_api.get("/audit/events", action="job.approved", limit=2,
                               cursor=first["next_cursor"]).json()
        assert [e["seq"] for e in second["events"]] == recorded[::-1][2:4]
        last = staff_api.get("/audit/events", action="job.approved", limit=2,
                             cursor=second["next_cursor"]).json()
        assert [e["seq"] for e in last["events"]] == recorded[:1]
        assert last["next_cursor"] is None

    def test_events_carry_the_chain(self, staff_api, events):
        event = staff_api.get("/audit/events", action="job.failed").json()["events"][0]
        assert event["hash"] == events["failed"].hash
        assert event["prev_hash"] == events["approved"].hash
        assert event["outcome"] == "failure"

    def test_a_tenant_admin_reads_their_tenant_only(self, events, tenant):
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        assert _seqs(api_as(admin).get("/audit/events", action="job.failed")) == {
            events["failed"].seq}
        assert _seqs(api_as(admin).get("/audit/events", action="hold.placed")) == set()


class TestExport:
    def test_csv_streams_the_matching_events_oldest_first(self, staff_api, events, tenant):
        response = staff_api.get("/audit/export", format="csv", tenant_id=tenant.pk)
        assert response.status_code == 200
        assert response.streaming
        assert response["Content-Type"] == "text/csv"
        assert 'attachment; filename="audit-' in response["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert [int(r["seq"]) for r in rows[:2]] == [events["approved"].seq, events["failed"].seq]
        assert rows[1]["outcome"] == "failure"
        # The export is recorded before it is read, so the file ends with its own record.
        assert [r["action"] for r in rows[2:]] == ["audit.exported"]

    def test_jsonl(self, staff_api, events):
        response = staff_api.get("/audit/export", format="jsonl", action="hold.placed")
        assert response["Content-Type"] == "application/x-ndjson"
        lines = b"".join(response.streaming_content).decode().splitlines()
        assert [json.loads(line)["seq"] for line in lines] == [events["other"].seq]

    def test_the_export_is_itself_audited(self, staff_api, events, tenant, staff):
        staff_api.get("/audit/export", format="jsonl", tenant_id=tenant.pk, outcome="failure")
        exported = AuditEvent.objects.get(action="audit.exported")
        assert exported.tenant_id == tenant.pk
        assert exported.actor_type == "api_token"
        assert exported.actor_label == staff.email
        assert exported.metadata == {"format": "jsonl",
                                     "filters": {"tenant_id": tenant.pk, "outcome": "failure"}}

    def test_unknown_format_is_refused_and_not_audited(self, staff_api):
        body = assert_error(staff_api.get("/audit/export", format="xml"), 422, "invalid")
        assert body["message"].startswith("format:")
        assert not AuditEvent.objects.filter(action="audit.exported").exists()

    def test_a_tenant_admin_exports_their_tenant_only(self, events, tenant):
        admin = factories.user_create(tenant=tenant, role=Role.IT_ADMIN)
        response = api_as(admin).get("/audit/export", format="jsonl")
        seqs = {json.loads(line)["seq"]
                for line in b"".join(response.streaming_content).decode().splitlines()}
        assert events["other"].seq not in seqs
        assert {events["approved"].seq, events["failed"].seq} <= seqs
