"""Sorting, totals, page X of Y and CSV export of the holds and audit lists.

The oracle of every order is the data this test created, sorted here in Python; of every CSV,
the rows the filters select, read from the database by the test itself.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.audit.services import audit_record
from privacyops.holds.models import LegalHold
from privacyops.jobs.models import JobStatus
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Role
from tests import factories

pytestmark = pytest.mark.django_db

HOLDS = "/platform/privacy/holds/"
HOLDS_CSV = "/platform/privacy/holds/export.csv"
AUDIT = "/platform/privacy/audit/"


@pytest.fixture
def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def hold_ids(response) -> list[int]:
    assert response.status_code == 200, response.status_code
    return [int(i) for i in re.findall(r'<tr id="hold-(\d+)"', response.content.decode())]


def event_seqs(response) -> list[int]:
    assert response.status_code == 200, response.status_code
    return [int(i) for i in re.findall(r'<tr id="event-(\d+)"', response.content.decode())]


def summary(response) -> str:
    found = re.search(r'<p class="list-summary[^"]*"[^>]*>(.*?)(?:·\s*<a|</p>)',
                      response.content.decode(), re.S)
    assert found, "no list summary"
    return " ".join(found.group(1).split())


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="legal-holds-')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def holds(tenant, other_tenant, staff, other_staff):
    now = timezone.now()
    made = [
        factories.hold_create(tenant=tenant, created_by=staff, scope_id="300",
                              reason="Beta litigation", expires_at=now + timedelta(days=3)),
        factories.hold_create(tenant=other_tenant, created_by=other_staff, scope_type="issuer",
                              scope_id="okta", reason="audit by regulator"),
        factories.hold_create(tenant=tenant, created_by=other_staff, scope_id="12",
                              reason="Alpha claim", expires_at=now - timedelta(days=1)),
        factories.hold_create(tenant=other_tenant, created_by=staff, scope_id="7",
                              reason="Court order", active=False, released_by=staff,
                              released_at=now, expires_at=now + timedelta(days=1)),
        factories.hold_create(tenant=tenant, created_by=staff, scope_type="tenant",
                              scope_id=str(tenant.pk), reason="=HYPERLINK(\"x\")"),
    ]
    for _ in range(2):
        factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                             blocking_hold=made[2])
    factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                         blocking_hold=made[0])
    return made


class TestHoldsSorting:
    @pytest.mark.parametrize(("sort", "key"), [
        ("scope", lambda h: (h.scope_type, h.scope_id, h.pk)),
        ("tenant", lambda h: (h.tenant.name, h.pk)),
        ("reason", lambda h: (h.reason, h.pk)),
        ("created_by", lambda h: (h.created_by.email, h.pk)),
        ("state", lambda h: (h.state, h.pk)),
        ("blocked", lambda h: (h.blocked_jobs.count(), h.pk)),
    ])
    def test_each_column_sorts_both_ways(self, staff_client, holds, sort, key):
        ascending = [h.pk for h in sorted(holds, key=key)]
        assert hold_ids(staff_client.get(HOLDS, {"sort": sort})) == ascending
        assert hold_ids(staff_client.get(HOLDS, {"sort": f"-{sort}"})) == ascending[::-1]

    def test_holds_that_never_expire_come_last_ascending_and_first_descending(
            self, staff_client, holds):
        dated = sorted((h for h in holds if h.expires_at), key=lambda h: (h.expires_at, h.pk))
        never = sorted((h for h in holds if not h.expires_at), key=lambda h: h.pk)
        ascending = [h.pk for h in dated + never]
        assert hold_ids(staff_client.get(HOLDS, {"sort": "expires"})) == ascending
        assert hold_ids(staff_client.get(HOLDS, {"sort": "-expires"})) == ascending[::-1]

    def test_the_header_says_which_column_and_which_way(self, staff_client, holds):
        html = staff_client.get(HOLDS, {"sort": "-tenant"}).content.decode()
        header = re.search(r'<th scope="col" aria-sort="descending">(.*?)</th>', html, re.S)
        assert header
        assert ">Tenant" in header.group(1)
        assert 'href="?sort=tenant"' in header.group(1)  # the next click: ascending
        assert html.count("aria-sort=") == 1

    def test_default_is_newest_first_with_the_total(self, staff_client, holds):
        response = staff_client.get(HOLDS)
        assert hold_ids(response) == [h.pk for h in holds][::-1]
        assert summary(response) == "5 holds"
        filtered = staff_client.get(HOLDS, {"state": "active"})
        in_force = [h.pk for h in holds if h.state == "active"]
        assert sorted(hold_ids(filtered)) == sorted(in_force)
        assert summary(filtered) == f"{len(in_force)} holds match these filters"

    def test_a_tenant_admin_counts_only_their_tenant(self, client, tenant, holds):
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        client.force_login(admin)
        response = client.get(HOLDS, {"sort": "scope"})
        own = sorted((h for h in holds if h.tenant_id == tenant.pk),
                     key=lambda h: (h.scope_type, h.scope_id, h.pk))
        assert hold_ids(response) == [h.pk for h in own]
        assert summary(response) == f"{len(own)} holds · page 1 of 1"

    def test_page_x_of_y_over_more_than_a_page(self, staff_client, tenant, staff):
        for n in range(53):
            factories.hold_create(tenant=tenant, created_by=staff, scope_id=f"{n:03d}")
        first = staff_client.get(HOLDS, {"sort": "scope"})
        second = staff_client.get(HOLDS, {"sort": "scope", "page": "2"})
        assert summary(first) == "53 holds · page 1 of 2"
        assert summary(second) == "53 holds · page 2 of 2"
        ordered = list(LegalHold.objects.order_by("scope_id").values_list("pk", flat=True))
        assert hold_ids(first) + hold_ids(second) == ordered
        assert 'href="?sort=scope&amp;page=2"' in first.content.decode()


class TestHoldsCsv:
    def test_the_filtered_holds_each_once_with_formulas_escaped(self, staff_client, holds):
        rows = csv_rows(staff_client.get(HOLDS_CSV, {"state": "active", "sort": "reason"}))
        in_force = [h for h in holds if h.state == "active"]
        assert sorted(int(r["id"]) for r in rows) == sorted(h.pk for h in in_force)
        by_id = {int(r["id"]): r for r in rows}
        formula = by_id[holds[4].pk]
        assert formula["reason"] == "'=HYPERLINK(\"x\")"
        first = by_id[holds[0].pk]
        assert (first["tenant"], first["scope_type"], first["scope_id"], first["state"],
                first["created_by"], first["blocked_jobs"]) == (
            "Acme Corp", "subject", "300", "active", "staff@example.com", "1")

    def test_the_link_on_the_page_carries_the_filters(self, staff_client, holds, tenant):
        html = staff_client.get(HOLDS, {"tenant": tenant.pk, "sort": "scope"}).content.decode()
        link = re.search(r'href="([^"]*export\.csv[^"]*)"', html)
        assert link
        url = link.group(1).replace("&amp;", "&")
        assert url == f"{HOLDS_CSV}?tenant={tenant.pk}"
        rows = csv_rows(staff_client.get(url))
        assert sorted(int(r["id"]) for r in rows) == sorted(
            h.pk for h in holds if h.tenant_id == tenant.pk)

    def test_a_tenant_admin_exports_only_their_tenant(self, client, tenant, holds):
        client.force_login(factories.user_create(tenant=tenant, role=Role.IT_ADMIN))
        rows = csv_rows(client.get(HOLDS_CSV))
        assert sorted(int(r["id"]) for r in rows) == sorted(
            h.pk for h in holds if h.tenant_id == tenant.pk)

    def test_bad_filters_answer_422_with_the_field(self, staff_client, holds):
        response = staff_client.get(HOLDS_CSV, {"state": "paused"})
        assert response.status_code == 422
        assert "State" in response.content.decode()


@pytest.fixture
def events(tenant, other_tenant, staff, other_staff):
    """Events of both tenants and the platform, actions and actors in no particular order."""
    made = []
    for n, (who, action, tenant_id, outcome) in enumerate([
        (staff, "job.approved", tenant.pk, "success"),
        (other_staff, "hold.placed", other_tenant.pk, "success"),
        (staff, "audit.exported", None, "success"),
        (other_staff, "job.failed", tenant.pk, "failure"),
        (staff, "hold.released", other_tenant.pk, "success"),
        (other_staff, "job.created", None, "success"),
    ]):
        made.append(audit_record(actor=Actor.for_user(who), action=action, tenant_id=tenant_id,
                                 target_type="job", target_id=str(90 - n), outcome=outcome))
    return list(AuditEvent.objects.order_by("seq"))


class TestAuditSorting:
    @pytest.mark.parametrize(("sort", "key"), [
        ("action", lambda e, names: (e.action, e.seq)),
        ("actor", lambda e, names: (e.actor_label, e.actor_id, e.seq)),
        ("target", lambda e, names: (e.target_type, e.target_id, e.seq)),
        ("outcome", lambda e, names: (e.outcome, e.seq)),
        ("tenant", lambda e, names: (names.get(e.tenant_id, "Platform"), e.seq)),
        ("time", lambda e, names: (e.seq,)),
    ])
    def test_each_column_sorts_both_ways(self, staff_client, events, tenant, other_tenant,
                                         sort, key):
        names = {tenant.pk: tenant.name, other_tenant.pk: other_tenant.name}
        ascending = [e.seq for e in sorted(events, key=lambda e: key(e, names))]
        assert event_seqs(staff_client.get(AUDIT, {"sort": sort})) == ascending
        assert event_seqs(staff_client.get(AUDIT, {"sort": f"-{sort}"})) == ascending[::-1]

    def test_totals_with_and_without_filters(self, staff_client, events, tenant):
        assert summary(staff_client.get(AUDIT)) == f"{len(events)} events"
        own = [e for e in events if e.tenant_id == tenant.pk]
        response = staff_client.get(AUDIT, {"tenant": tenant.pk, "sort": "action"})
        assert summary(response) == f"{len(own)} events match these filters · page 1 of 1"
        assert event_seqs(response) == [e.seq for e in sorted(own, key=lambda e: e.action)]

    def test_a_bad_date_range_keeps_the_sort_and_the_filters(self, staff_client, events):
        response = staff_client.get(AUDIT, {"sort": "action", "since": "2026-12-02",
                                            "until": "2026-12-01"})
        assert response.status_code == 422
        html = response.content.decode()
        assert '<option value="action" selected>Action, ascending</option>' in html
        assert 'value="2026-12-02"' in html
        assert "pick an end date on or after the start date" in html

    def test_the_csv_link_ignores_the_order_and_keeps_the_filters(self, staff_client, events,
                                                                  tenant):
        html = staff_client.get(AUDIT, {"tenant": tenant.pk, "sort": "-actor",
                                        "page": "1"}).content.decode()
        link = re.search(r'href="(/platform/privacy/audit/export\.csv[^"]*)"', html)
        assert link
        assert link.group(1) == f"/platform/privacy/audit/export.csv?tenant={tenant.pk}"
