"""Every API operation, for every role, in its own and in another tenant, checked against
a table of the product rules.

The table (RULES) mirrors the product spec, not the code: platform staff may do everything;
tenant admins (super-admin, admin, it-admin) read jobs, holds and the audit log of their own
tenant; all three create EXPORT jobs; only a super-admin creates ERASE jobs; PURGE jobs and
legal holds are staff-only; approve / reject are staff-only unless the tenant lets its
super-admins approve; a member may do nothing; another tenant's objects look missing (404).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from django.db import transaction
from django.http import HttpResponse

from privacyops.audit.services import audit_record
from privacyops.holds.models import LegalHold
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Role, Tenant, User
from tests import factories
from tests.api.conftest import api_as, assert_error

pytestmark = pytest.mark.django_db

ROLES = ("staff", "super-admin", "admin", "it-admin", "member", "anonymous")
SCOPES = ("own", "other")
TENANT_ROLES = frozenset({"super-admin", "admin", "it-admin", "member"})
ADMINS = frozenset({"super-admin", "admin", "it-admin"})
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    """How an operation treats tenant roles in their own tenant (staff: always allowed).

    kind `list`: always 200, the object is listed only for `sees`;
    kind `object` / `tenant`: the object or tenant is reachable for `sees` (else 404), and
    acting on it is allowed for `may` (else 403).
    """

    kind: Literal["list", "object", "tenant"]
    sees: frozenset[str]
    may: frozenset[str]
    success: int = 200


RULES: dict[str, Rule] = {
    "create EXPORT job": Rule("tenant", TENANT_ROLES, ADMINS, 201),
    "create ERASE job": Rule("tenant", TENANT_ROLES, frozenset({"super-admin"}), 201),
    "create PURGE job": Rule("tenant", TENANT_ROLES, NOBODY, 201),
    "list jobs": Rule("list", ADMINS, ADMINS),
    "count jobs": Rule("list", ADMINS, ADMINS),
    "get job": Rule("object", ADMINS, ADMINS),
    "get job receipt": Rule("object", ADMINS, ADMINS),
    "approve job": Rule("object", ADMINS, NOBODY),
    "approve job, super-admins may approve": Rule("object", ADMINS, frozenset({"super-admin"})),
    "reject job": Rule("object", ADMINS, NOBODY),
    "reject job, super-admins may approve": Rule("object", ADMINS, frozenset({"super-admin"})),
    "retry job": Rule("object", ADMINS, frozenset({"super-admin"})),
    "place hold": Rule("tenant", TENANT_ROLES, NOBODY, 201),
    "list holds": Rule("list", ADMINS, ADMINS),
    "release hold": Rule("object", ADMINS, NOBODY),
    "query audit events": Rule("list", ADMINS, ADMINS),
    "export audit events": Rule("list", ADMINS, ADMINS),
    "list tenants": Rule("list", ADMINS, ADMINS),
}


@dataclass(frozen=True)
class Expect:
    status: int
    effect: bool  # the write happened / the object is listed


def expected(operation: str, role: str, scope: str) -> Expect:
    rule = RULES[operation]
    if role == "anonymous":
        return Expect(401, False)
    if role == "staff":
        return Expect(rule.success, True)
    in_reach = scope == "own" and role in rule.sees
    if rule.kind == "list":
        return Expect(200, in_reach)
    if not in_reach:
        return Expect(404, False)
    if role in rule.may:
        return Expect(rule.success, True)
    return Expect(403, False)


# --- how each operation is called, and how its effect is observed ------------------------

@dataclass(frozen=True)
class Call:
    method: Literal["GET", "POST"]
    path: str
    body: dict[str, Any] | None
    observe: Callable[[HttpResponse], bool]


def _listed(key: str, wanted: int) -> Callable[[HttpResponse], bool]:
    def observe(response: HttpResponse) -> bool:
        if response.status_code != 200:
            return False
        body = response.json()
        items = body[key] if key else body
        id_field = "seq" if key == "events" else "id"
        return any(item[id_field] == wanted for item in items)
    return observe


def _job(requester: User, tenant: Tenant, **fields: Any) -> Job:
    return factories.job_create(tenant=tenant, requested_by=requester, **fields)


def _status_became(job: Job, status: str) -> Callable[[HttpResponse], bool]:
    def observe(_: HttpResponse) -> bool:
        job.refresh_from_db()
        return job.status == status
    return observe


def _create(job_type: str) -> Callable[[User, Tenant], Call]:
    def arrange(requester: User, tenant: Tenant) -> Call:
        body = {"tenant_id": tenant.pk, "type": job_type, "target_type": "subject",
                "target_id": "subject-7", "reason": "matrix"}
        return Call("POST", "/jobs", body,
                    lambda _: Job.objects.filter(tenant=tenant, job_type=job_type).exists())
    return arrange


def _list_jobs(requester: User, tenant: Tenant) -> Call:
    return Call("GET", "/jobs", None, _listed("items", _job(requester, tenant).pk))


def _count_jobs(requester: User, tenant: Tenant) -> Call:
    _job(requester, tenant)
    return Call("GET", "/jobs/counts", None,
                lambda r: r.status_code == 200 and r.json()["total"] == 1)


def _get_job(requester: User, tenant: Tenant) -> Call:
    job = _job(requester, tenant)
    return Call("GET", f"/jobs/{job.pk}", None,
                lambda r: r.status_code == 200 and r.json()["id"] == job.pk)


def _get_receipt(requester: User, tenant: Tenant) -> Call:
    from privacyops.execution.ledger import erasure_recorded

    job = _job(requester, tenant, status=JobStatus.COMPLETED,
               result={"datastore": "demo", "tables": {"people": {"rows": 1,
                                                                   "columns": ["email"]}}})
    with transaction.atomic():
        completed = audit_record(actor=Actor.system("matrix"), action="job.completed",
                                 tenant_id=tenant.pk, target_type="job", target_id=job.pk)
        erasure_recorded(job, completed)
    return Call("GET", f"/jobs/{job.pk}/receipt", None,
                lambda r: r.status_code == 200 and r.json()["job"]["id"] == job.pk)


def _decide(verb: str, *, super_admins_approve: bool) -> Callable[[User, Tenant], Call]:
    def arrange(requester: User, tenant: Tenant) -> Call:
        if super_admins_approve:
            tenant.super_admins_can_approve = True
            tenant.save()
        job = _job(requester, tenant)
        outcome = JobStatus.APPROVED if verb == "approve" else JobStatus.REJECTED
        body = {"reason": "Identity not verified"} if verb == "reject" else None
        return Call("POST", f"/jobs/{job.pk}/{verb}", body, _status_became(job, outcome))
    return arrange


def _retry_job(requester: User, tenant: Tenant) -> Call:
    job = _job(requester, tenant, status=JobStatus.FAILED, error_code="precondition")
    return Call("POST", f"/jobs/{job.pk}/retry", None, _status_became(job, JobStatus.APPROVED))


def _place_hold(requester: User, tenant: Tenant) -> Call:
    body = {"tenant_id": tenant.pk, "scope_type": "subject", "scope_id": "7",
            "reason": "Litigation"}
    return Call("POST", "/holds", body, lambda _: LegalHold.objects.filter(tenant=tenant).exists())


def _list_holds(requester: User, tenant: Tenant) -> Call:
    hold = factories.hold_create(tenant=tenant, created_by=requester)
    return Call("GET", "/holds", None, _listed("items", hold.pk))


def _release_hold(requester: User, tenant: Tenant) -> Call:
    hold = factories.hold_create(tenant=tenant, created_by=requester)

    def observe(_: HttpResponse) -> bool:
        hold.refresh_from_db()
        return not hold.active
    return Call("POST", f"/holds/{hold.pk}/release", {"reason": "Case settled"}, observe)


def _marker_event(tenant: Tenant) -> int:
    with transaction.atomic():
        event = audit_record(actor=Actor.system("matrix"), action="job.completed",
                             tenant_id=tenant.pk, target_type="job", target_id="marker-1")
    return event.seq


def _query_audit(requester: User, tenant: Tenant) -> Call:
    return Call("GET", "/audit/events", None, _listed("events", _marker_event(tenant)))


def _export_audit(requester: User, tenant: Tenant) -> Call:
    _marker_event(tenant)

    def observe(response: HttpResponse) -> bool:
        if response.status_code != 200:
            return False
        lines = b"".join(response.streaming_content).decode().splitlines()
        return any(json.loads(line)["target_id"] == "marker-1" for line in lines)
    return Call("GET", "/audit/export?format=jsonl", None, observe)


def _list_tenants(requester: User, tenant: Tenant) -> Call:
    return Call("GET", "/tenants", None, _listed("", tenant.pk))


ARRANGE: dict[str, Callable[[User, Tenant], Call]] = {
    "create EXPORT job": _create("EXPORT"),
    "create ERASE job": _create("ERASE"),
    "create PURGE job": _create("PURGE"),
    "list jobs": _list_jobs,
    "count jobs": _count_jobs,
    "get job": _get_job,
    "get job receipt": _get_receipt,
    "approve job": _decide("approve", super_admins_approve=False),
    "approve job, super-admins may approve": _decide("approve", super_admins_approve=True),
    "reject job": _decide("reject", super_admins_approve=False),
    "reject job, super-admins may approve": _decide("reject", super_admins_approve=True),
    "retry job": _retry_job,
    "place hold": _place_hold,
    "list holds": _list_holds,
    "release hold": _release_hold,
    "query audit events": _query_audit,
    "export audit events": _export_audit,
    "list tenants": _list_tenants,
}

_ERROR_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}
CELLS = list(itertools.product(RULES, ROLES, SCOPES))


# The documented route of each row; together with POST /tokens (its own test below) these
# must be every operation the OpenAPI document lists, so a new endpoint cannot skip the matrix.
ROUTES: dict[str, str] = {
    "create EXPORT job": "POST /api/v1/jobs",
    "create ERASE job": "POST /api/v1/jobs",
    "create PURGE job": "POST /api/v1/jobs",
    "list jobs": "GET /api/v1/jobs",
    "count jobs": "GET /api/v1/jobs/counts",
    "get job": "GET /api/v1/jobs/{job_id}",
    "get job receipt": "GET /api/v1/jobs/{job_id}/receipt",
    "approve job": "POST /api/v1/jobs/{job_id}/approve",
    "approve job, super-admins may approve": "POST /api/v1/jobs/{job_id}/approve",
    "reject job": "POST /api/v1/jobs/{job_id}/reject",
    "reject job, super-admins may approve": "POST /api/v1/jobs/{job_id}/reject",
    "retry job": "POST /api/v1/jobs/{job_id}/retry",
    "place hold": "POST /api/v1/holds",
    "list holds": "GET /api/v1/holds",
    "release hold": "POST /api/v1/holds/{hold_id}/release",
    "query audit events": "GET /api/v1/audit/events",
    "export audit events": "GET /api/v1/audit/export",
    "list tenants": "GET /api/v1/tenants",
}


# The privacy center's operations act for a tenant application (a tenant token, no person),
# so roles do not apply to them; tests/privacy_center covers them.
PRIVACY_CENTER_PREFIX = "/api/v1/privacy/"


def test_every_operation_of_the_api_is_in_the_matrix(client):
    document = client.get("/api/v1/openapi.json").json()
    documented = {f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method in item if not path.startswith(PRIVACY_CENTER_PREFIX)}
    assert documented == {*ROUTES.values(), "POST /api/v1/tokens"}
    assert set(ROUTES) == set(RULES) == set(ARRANGE)


@pytest.mark.parametrize(("operation", "role", "scope"), CELLS,
                         ids=[f"{o} | {r} | {s}" for o, r, s in CELLS])
def test_permission_matrix(operation: str, role: str, scope: str):
    own = factories.tenant_create(slug="acme", name="Acme Corp")
    other = factories.tenant_create(slug="globex", name="Globex")
    requester = factories.user_create(email="requester@example.com", is_staff=True)
    user = None
    if role == "staff":
        user = factories.user_create(email="staff@example.com", is_staff=True)
    elif role != "anonymous":
        user = factories.user_create(email=f"{role}@example.com", tenant=own, role=Role(role))
    call = ARRANGE[operation](requester, own if scope == "own" else other)
    api = api_as(user)

    response = api.get(call.path) if call.method == "GET" else api.post(call.path, call.body)

    expect = expected(operation, role, scope)
    assert response.status_code == expect.status, response.content
    if expect.status >= 400:
        assert_error(response, expect.status, _ERROR_CODES[expect.status])
    assert call.observe(response) is expect.effect


@pytest.mark.parametrize("role", ROLES)
def test_token_creation_matrix(role: str, client):
    """Any signed-in person may create a personal token; anonymous callers may not."""
    tenant = factories.tenant_create(slug="acme", name="Acme Corp")
    if role == "staff":
        client.force_login(factories.user_create(is_staff=True))
    elif role != "anonymous":
        client.force_login(factories.user_create(tenant=tenant, role=Role(role)))
    response = client.post("/api/v1/tokens", {"name": "laptop"}, content_type="application/json")
    if role == "anonymous":
        assert_error(response, 401, "unauthenticated")
    else:
        assert response.status_code == 201, response.content
        assert response.json()["token"].startswith("po_")
