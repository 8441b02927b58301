"""List operations cost the same number of queries for 3 rows as for 30 (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from privacyops.audit.services import audit_record
from privacyops.intake.lifecycle import request_record
from privacyops.jobs.models import JobStatus
from privacyops.tenancy.actors import Actor
from tests import factories

pytestmark = pytest.mark.django_db


def _queries(api, path: str) -> int:
    api.get(path)  # warm up: the token's last_used_at is written on the first call only
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path)
    assert response.status_code == 200
    return len(captured)


def _add_rows(tenant, staff, other_staff, n: int) -> None:
    for i in range(n):
        factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.APPROVED,
                             approved_by=other_staff, approved_at=timezone.now(),
                             target_id=f"t{i}")
        factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.REJECTED,
                             rejected_by=other_staff, rejected_at=timezone.now(),
                             rejection_reason="No", target_id=f"r{i}")
        factories.hold_create(tenant=tenant, created_by=staff, active=False,
                              released_by=other_staff, released_at=timezone.now())
        with transaction.atomic():
            audit_record(actor=Actor.system(), action="job.completed", tenant_id=tenant.pk,
                         target_type="job", target_id=str(i))
            request = request_record(tenant=tenant, email=f"p{i}@example.com",
                                     request_type="access", channel="api",
                                     actor=Actor.system(), verified=True)
        factories.job_create(tenant=tenant, requested_by=staff, request=request,
                             target_id=f"q{i}")
        request.assignee = staff
        request.save()


@pytest.mark.parametrize("path", ["/jobs?limit=100", "/holds?limit=100",
                                  "/audit/events?limit=100", "/tenants", "/requests?limit=100"])
def test_list_queries_do_not_grow_with_rows(staff_api, tenant, staff, other_staff, path):
    _add_rows(tenant, staff, other_staff, 3)
    few = _queries(staff_api, path)
    _add_rows(tenant, staff, other_staff, 27)
    for n in range(5):
        factories.tenant_create(slug=f"more-{n}")
    assert _queries(staff_api, path) == few
