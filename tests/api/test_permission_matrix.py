"""Every API operation, for every role, in its own and in another tenant, checked against
a table of the product rules.

The table (RULES) mirrors the product spec, not the code: platform staff may do everything;
tenant admins (super-admin, admin, it-admin) read jobs, holds and the audit log of their own
tenant; all three create EXPORT jobs; super-admins and admins create RECTIFY and RESTRICT
jobs (GDPR Art. 16 and 18: corrections that erase nothing); only a super-admin creates ERASE
jobs; PURGE jobs and
legal holds are staff-only; approve / reject are staff-only unless the tenant lets its
super-admins approve; a member may do nothing; another tenant's objects look missing (404).
Personal API tokens belong to one person: everyone (staff included) lists and revokes their
own, and another person's token looks missing.
Tenants, their members and systems are managed by platform staff only; a tenant admin may read
their own tenant, its members and its systems.
Privacy requests are filed, read and handled by a workspace's super-admins, admins and IT
admins (and staff); a member may do nothing with them.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from django.conf import settings
from django.db import transaction
from django.http import HttpResponse

from privacyops.audit.services import audit_record
from privacyops.execution.demo import PACKAGED_DATAMAP
from privacyops.holds.models import LegalHold
from privacyops.intake.lifecycle import request_record
from privacyops.intake.models import IntakeRequest
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ApiToken, Membership, Role, System, Tenant, User
from privacyops.tenancy.services import api_token_create
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

    kind `staff`: nobody but staff (403), whatever the tenant;
    kind `list`: always 200, the object is listed only for `sees`;
    kind `object` / `tenant`: the object or tenant is reachable for `sees` (else 404), and
    acting on it is allowed for `may` (else 403);
    kind `personal-list` / `personal`: the caller's own object (scope `own`) is listed / may be
    acted on by every signed-in role, staff included; another person's (scope `other`) is not
    listed / answers 404.
    """

    kind: Literal["staff", "list", "object", "tenant", "personal-list", "personal"]
    sees: frozenset[str]
    may: frozenset[str]
    success: int = 200


RULES: dict[str, Rule] = {
    "create EXPORT job": Rule("tenant", TENANT_ROLES, ADMINS, 201),
    "create ERASE job": Rule("tenant", TENANT_ROLES, frozenset({"super-admin"}), 201),
    "create PURGE job": Rule("tenant", TENANT_ROLES, NOBODY, 201),
    "create RECTIFY job": Rule("tenant", TENANT_ROLES, frozenset({"super-admin", "admin"}), 201),
    "create RESTRICT job": Rule("tenant", TENANT_ROLES, frozenset({"super-admin", "admin"}),
                                201),
    "list jobs": Rule("list", ADMINS, ADMINS),
    "count jobs": Rule("list", ADMINS, ADMINS),
    "get job": Rule("object", ADMINS, ADMINS),
    "get job receipt": Rule("object", ADMINS, ADMINS),
    "approve job": Rule("object", ADMINS, NOBODY),
    "approve job, super-admins may approve": Rule("object", ADMINS, frozenset({"super-admin"})),
    "reject job": Rule("object", ADMINS, NOBODY),
    "reject job, super-admins may approve": Rule("object", ADMINS, frozenset({"super-admin"})),
    "retry job": Rule("object", ADMINS, frozenset({"super-admin"})),
    "pick a step's subject": Rule("object", ADMINS, frozenset({"super-admin"})),
    "place hold": Rule("tenant", TENANT_ROLES, NOBODY, 201),
    "list holds": Rule("list", ADMINS, ADMINS),
    "release hold": Rule("object", ADMINS, NOBODY),
    "query audit events": Rule("list", ADMINS, ADMINS),
    "export audit events": Rule("list", ADMINS, ADMINS),
    "list tenants": Rule("list", ADMINS, ADMINS),
    "list my tokens": Rule("personal-list", TENANT_ROLES, TENANT_ROLES),
    "revoke my token": Rule("personal", TENANT_ROLES, TENANT_ROLES, 204),
    "create tenant": Rule("staff", NOBODY, NOBODY, 201),
    "get tenant": Rule("object", ADMINS, ADMINS),
    "edit tenant": Rule("object", ADMINS, NOBODY),
    "deactivate tenant": Rule("object", ADMINS, NOBODY),
    "activate tenant": Rule("object", ADMINS, NOBODY),
    "list members": Rule("object", ADMINS, ADMINS),
    "add member": Rule("object", ADMINS, NOBODY, 201),
    "change member role": Rule("object", ADMINS, NOBODY),
    "remove member": Rule("object", ADMINS, NOBODY, 204),
    "list systems": Rule("object", ADMINS, ADMINS),
    "add system": Rule("object", ADMINS, NOBODY, 201),
    "get system": Rule("object", ADMINS, ADMINS),
    "edit system": Rule("object", ADMINS, NOBODY),
    "remove system": Rule("object", ADMINS, NOBODY, 204),
    # Privacy requests: handled by a workspace's super-admins, admins and IT admins (and
    # staff); a member neither sees nor files them; another workspace's look missing.
    "file request": Rule("tenant", TENANT_ROLES, ADMINS, 201),
    "list requests": Rule("list", ADMINS, ADMINS),
    "get request": Rule("object", ADMINS, ADMINS),
    "verify request": Rule("object", ADMINS, ADMINS),
    "assign request": Rule("object", ADMINS, ADMINS),
    "fulfil request": Rule("object", ADMINS, ADMINS),
    "extend request": Rule("object", ADMINS, ADMINS),
    "reject request": Rule("object", ADMINS, ADMINS),
    "close request": Rule("object", ADMINS, ADMINS),
    "withdraw request": Rule("object", ADMINS, ADMINS),
}


@dataclass(frozen=True)
class Expect:
    status: int
    effect: bool  # the write happened / the object is listed


def expected(operation: str, role: str, scope: str) -> Expect:
    rule = RULES[operation]
    if role == "anonymous":
        return Expect(401, False)
    if rule.kind == "personal-list":
        return Expect(200, scope == "own")
    if rule.kind == "personal":
        return Expect(rule.success, True) if scope == "own" else Expect(404, False)
    if role == "staff":
        return Expect(rule.success, True)
    if rule.kind == "staff":
        return Expect(403, False)
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
    method: Literal["GET", "POST", "PATCH", "DELETE"]
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


def _demo_datastore_of(tenant: Tenant) -> None:
    """A system for the tenant on a small demo datastore (SQLite) with person 7 in it:
    RECTIFY and RESTRICT check their parameters against the live columns."""
    import tempfile

    import yaml
    from sqlalchemy import create_engine, insert

    from privacyops.demo import schema as demo

    path = Path(tempfile.mkdtemp(prefix="matrix-demo-")) / "demo.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    demo.create_schema(engine)
    with engine.begin() as conn:
        conn.execute(insert(demo.workspaces), [{"id": 1, "slug": "ws", "name": "Ws"}])
        conn.execute(insert(demo.people), [{
            "id": 7, "workspace_id": 1, "name": "Ana", "email": "ana@example.com",
            "employee_id": "E7", "job_title": "Engineer", "department": "IT",
            "phone": "+1-555-0107", "employment_status": "active", "role": "member",
            "created_at": "2026-01-05T09:00:00Z"}])
    engine.dispose()
    datamap = yaml.safe_load(PACKAGED_DATAMAP.read_text())
    datamap["connection"] = {"url": f"sqlite:///{path}"}
    name = f"matrix-{tenant.slug}-{path.parent.name[-8:]}".replace("_", "-")
    folder = Path(settings.DATAMAP_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(datamap, sort_keys=False))
    System.objects.create(tenant=tenant, name="demo", datamap_name=name, datastore_key="1")


def _create_with_params(job_type: str, params: dict[str, Any]) -> Callable[[User, Tenant], Call]:
    def arrange(requester: User, tenant: Tenant) -> Call:
        _demo_datastore_of(tenant)
        body = {"tenant_id": tenant.pk, "type": job_type, "target_type": "subject",
                "target_id": "7", "reason": "matrix", **params}
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


def _pick_step(requester: User, tenant: Tenant) -> Call:
    from privacyops.execution.models import JobStep

    job = _job(requester, tenant, status=JobStatus.FAILED, error_code="identity_ambiguous",
               target_id="", identity={"email": "ada@example.com"})
    step = JobStep.objects.create(job=job, system_name="helpdesk", connector="sql",
                                  status="blocked", keys=["7", "8"], keys_resolved=True)

    def observe(_: HttpResponse) -> bool:
        step.refresh_from_db()
        return step.picked_key == "8"
    return Call("POST", f"/jobs/{job.pk}/steps/helpdesk/pick", {"target_id": "8"}, observe)


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


def _token_of(owner: User) -> ApiToken:
    token, _ = api_token_create(user=owner, name="matrix", actor=Actor.for_user(owner))
    return token


def _list_tokens(owner: User, tenant: Tenant) -> Call:
    return Call("GET", "/tokens", None, _listed("", _token_of(owner).pk))


def _revoke_token(owner: User, tenant: Tenant) -> Call:
    token = _token_of(owner)

    def observe(_: HttpResponse) -> bool:
        token.refresh_from_db()
        return token.revoked_at is not None
    return Call("DELETE", f"/tokens/{token.pk}", None, observe)
def _create_tenant(requester: User, tenant: Tenant) -> Call:
    return Call("POST", "/tenants", {"slug": "initech", "name": "Initech"},
                lambda _: Tenant.objects.filter(slug="initech").exists())


def _get_tenant(requester: User, tenant: Tenant) -> Call:
    return Call("GET", f"/tenants/{tenant.pk}", None,
                lambda r: r.status_code == 200 and r.json()["slug"] == tenant.slug)


def _tenant_became(tenant: Tenant, **fields: Any) -> Callable[[HttpResponse], bool]:
    def observe(_: HttpResponse) -> bool:
        tenant.refresh_from_db()
        return all(getattr(tenant, k) == v for k, v in fields.items())
    return observe


def _edit_tenant(requester: User, tenant: Tenant) -> Call:
    return Call("PATCH", f"/tenants/{tenant.pk}", {"name": "Renamed", "audit_retention_days": 90},
                _tenant_became(tenant, name="Renamed", audit_retention_days=90))


def _deactivate_tenant(requester: User, tenant: Tenant) -> Call:
    return Call("POST", f"/tenants/{tenant.pk}/deactivate", None,
                _tenant_became(tenant, is_active=False))


def _activate_tenant(requester: User, tenant: Tenant) -> Call:
    Tenant.objects.filter(pk=tenant.pk).update(is_active=False)
    return Call("POST", f"/tenants/{tenant.pk}/activate", None,
                _tenant_became(tenant, is_active=True))


def _colleague(tenant: Tenant) -> User:
    return factories.user_create(email=f"colleague@{tenant.slug}.example.com", tenant=tenant,
                                 role=Role.MEMBER)


def _list_members(requester: User, tenant: Tenant) -> Call:
    colleague = _colleague(tenant)
    return Call("GET", f"/tenants/{tenant.pk}/members", None,
                lambda r: r.status_code == 200
                and any(m["user_id"] == colleague.pk for m in r.json()))


def _add_member(requester: User, tenant: Tenant) -> Call:
    return Call("POST", f"/tenants/{tenant.pk}/members",
                {"email": "new.hire@example.com", "role": "admin"},
                lambda _: Membership.objects.filter(tenant=tenant,
                                                    user__email="new.hire@example.com").exists())


def _change_member_role(requester: User, tenant: Tenant) -> Call:
    colleague = _colleague(tenant)
    return Call("PATCH", f"/tenants/{tenant.pk}/members/{colleague.pk}", {"role": "it-admin"},
                lambda _: Membership.objects.get(tenant=tenant, user=colleague).role == "it-admin")


def _remove_member(requester: User, tenant: Tenant) -> Call:
    colleague = _colleague(tenant)
    return Call("DELETE", f"/tenants/{tenant.pk}/members/{colleague.pk}", None,
                lambda _: not Membership.objects.filter(tenant=tenant, user=colleague).exists())


def _datamap_in_folder() -> str:
    folder = Path(settings.DATAMAP_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PACKAGED_DATAMAP, folder / "matrix.yaml")
    return "matrix"


def _system(tenant: Tenant) -> System:
    return System.objects.create(tenant=tenant, name="billing", datamap_name=_datamap_in_folder(),
                                 datastore_key="7")


def _list_systems(requester: User, tenant: Tenant) -> Call:
    system = _system(tenant)
    return Call("GET", f"/tenants/{tenant.pk}/systems", None,
                lambda r: r.status_code == 200 and any(s["id"] == system.pk for s in r.json()))


def _add_system(requester: User, tenant: Tenant) -> Call:
    body = {"name": "shop", "datamap_name": _datamap_in_folder(), "datastore_key": "3"}
    return Call("POST", f"/tenants/{tenant.pk}/systems", body,
                lambda _: System.objects.filter(tenant=tenant, name="shop").exists())


def _get_system(requester: User, tenant: Tenant) -> Call:
    system = _system(tenant)
    return Call("GET", f"/tenants/{tenant.pk}/systems/{system.pk}", None,
                lambda r: r.status_code == 200 and r.json()["datastore_key"] == "7")


def _edit_system(requester: User, tenant: Tenant) -> Call:
    system = _system(tenant)
    return Call("PATCH", f"/tenants/{tenant.pk}/systems/{system.pk}", {"datastore_key": "8"},
                lambda _: System.objects.get(pk=system.pk).datastore_key == "8")


def _remove_system(requester: User, tenant: Tenant) -> Call:
    system = _system(tenant)
    return Call("DELETE", f"/tenants/{tenant.pk}/systems/{system.pk}", None,
                lambda _: not System.objects.filter(pk=system.pk).exists())


def _privacy_request(requester: User, tenant: Tenant, *, request_type: str = "access",
                     verified: bool = True) -> IntakeRequest:
    with transaction.atomic():
        return request_record(tenant=tenant, email="person@example.org",
                              request_type=request_type, channel="operator",
                              actor=Actor.for_user(requester), verified=verified,
                              subject_id="subject-7")


def _request_field(request: IntakeRequest, **fields: Any) -> Callable[[HttpResponse], bool]:
    def observe(_: HttpResponse) -> bool:
        request.refresh_from_db()
        return all(getattr(request, k) == v for k, v in fields.items())
    return observe


def _file_request(requester: User, tenant: Tenant) -> Call:
    body = {"tenant_id": tenant.pk, "type": "erasure", "email": "person@example.org"}
    return Call("POST", "/requests", body,
                lambda _: IntakeRequest.objects.filter(tenant=tenant).exists())


def _list_requests(requester: User, tenant: Tenant) -> Call:
    return Call("GET", "/requests", None, _listed("items", _privacy_request(requester, tenant).pk))


def _get_request(requester: User, tenant: Tenant) -> Call:
    request = _privacy_request(requester, tenant)
    return Call("GET", f"/requests/{request.pk}", None,
                lambda r: r.status_code == 200 and r.json()["reference"] == request.reference)


def _verify_request(requester: User, tenant: Tenant) -> Call:
    request = _privacy_request(requester, tenant, verified=False)
    return Call("POST", f"/requests/{request.pk}/verify", None,
                _request_field(request, status="verified"))


def _assign_request(requester: User, tenant: Tenant) -> Call:
    request = _privacy_request(requester, tenant)
    return Call("POST", f"/requests/{request.pk}/assign", {"assignee_id": requester.pk},
                _request_field(request, assignee_id=requester.pk))


def _fulfil_request(requester: User, tenant: Tenant) -> Call:
    request = _privacy_request(requester, tenant)
    return Call("POST", f"/requests/{request.pk}/fulfil", None,
                lambda _: Job.objects.filter(request=request, job_type="EXPORT").exists())


def _extend_request(requester: User, tenant: Tenant) -> Call:
    request = _privacy_request(requester, tenant)
    new = (request.deadline_at + timedelta(days=10)).date().isoformat()
    return Call("POST", f"/requests/{request.pk}/extend",
                {"new_deadline": new, "reason": "Many systems to search."},
                lambda _: IntakeRequest.objects.get(pk=request.pk).extended_at is not None)


def _reject_request(requester: User, tenant: Tenant) -> Call:
    request = _privacy_request(requester, tenant)
    return Call("POST", f"/requests/{request.pk}/reject", {"reason": "Manifestly unfounded."},
                _request_field(request, status="rejected"))


def _close_request(requester: User, tenant: Tenant) -> Call:
    request = _privacy_request(requester, tenant, request_type="objection")
    return Call("POST", f"/requests/{request.pk}/close",
                {"outcome": "Objection upheld: no more marketing."},
                _request_field(request, status="completed"))


def _withdraw_request(requester: User, tenant: Tenant) -> Call:
    request = _privacy_request(requester, tenant)
    return Call("POST", f"/requests/{request.pk}/withdraw", {"reason": "Phoned us."},
                _request_field(request, status="withdrawn"))


ARRANGE: dict[str, Callable[[User, Tenant], Call]] = {
    "create EXPORT job": _create("EXPORT"),
    "create ERASE job": _create("ERASE"),
    "create PURGE job": _create("PURGE"),
    "create RECTIFY job": _create_with_params("RECTIFY", {"changes": {"job_title": "Lead"}}),
    "create RESTRICT job": _create_with_params("RESTRICT", {"lift": False}),
    "list jobs": _list_jobs,
    "count jobs": _count_jobs,
    "get job": _get_job,
    "get job receipt": _get_receipt,
    "approve job": _decide("approve", super_admins_approve=False),
    "approve job, super-admins may approve": _decide("approve", super_admins_approve=True),
    "reject job": _decide("reject", super_admins_approve=False),
    "reject job, super-admins may approve": _decide("reject", super_admins_approve=True),
    "retry job": _retry_job,
    "pick a step's subject": _pick_step,
    "place hold": _place_hold,
    "list holds": _list_holds,
    "release hold": _release_hold,
    "query audit events": _query_audit,
    "export audit events": _export_audit,
    "list tenants": _list_tenants,
    "list my tokens": _list_tokens,
    "revoke my token": _revoke_token,
    "create tenant": _create_tenant,
    "get tenant": _get_tenant,
    "edit tenant": _edit_tenant,
    "deactivate tenant": _deactivate_tenant,
    "activate tenant": _activate_tenant,
    "list members": _list_members,
    "add member": _add_member,
    "change member role": _change_member_role,
    "remove member": _remove_member,
    "list systems": _list_systems,
    "add system": _add_system,
    "get system": _get_system,
    "edit system": _edit_system,
    "remove system": _remove_system,
    "file request": _file_request,
    "list requests": _list_requests,
    "get request": _get_request,
    "verify request": _verify_request,
    "assign request": _assign_request,
    "fulfil request": _fulfil_request,
    "extend request": _extend_request,
    "reject request": _reject_request,
    "close request": _close_request,
    "withdraw request": _withdraw_request,
}

_ERROR_CODES = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}
CELLS = list(itertools.product(RULES, ROLES, SCOPES))


# The documented route of each row; together with POST /tokens (its own test below) these
# must be every operation the OpenAPI document lists, so a new endpoint cannot skip the matrix.
ROUTES: dict[str, str] = {
    "create EXPORT job": "POST /api/v1/jobs",
    "create ERASE job": "POST /api/v1/jobs",
    "create PURGE job": "POST /api/v1/jobs",
    "create RECTIFY job": "POST /api/v1/jobs",
    "create RESTRICT job": "POST /api/v1/jobs",
    "list jobs": "GET /api/v1/jobs",
    "count jobs": "GET /api/v1/jobs/counts",
    "get job": "GET /api/v1/jobs/{job_id}",
    "get job receipt": "GET /api/v1/jobs/{job_id}/receipt",
    "approve job": "POST /api/v1/jobs/{job_id}/approve",
    "approve job, super-admins may approve": "POST /api/v1/jobs/{job_id}/approve",
    "reject job": "POST /api/v1/jobs/{job_id}/reject",
    "reject job, super-admins may approve": "POST /api/v1/jobs/{job_id}/reject",
    "retry job": "POST /api/v1/jobs/{job_id}/retry",
    "pick a step's subject": "POST /api/v1/jobs/{job_id}/steps/{system}/pick",
    "place hold": "POST /api/v1/holds",
    "list holds": "GET /api/v1/holds",
    "release hold": "POST /api/v1/holds/{hold_id}/release",
    "query audit events": "GET /api/v1/audit/events",
    "export audit events": "GET /api/v1/audit/export",
    "list tenants": "GET /api/v1/tenants",
    "list my tokens": "GET /api/v1/tokens",
    "revoke my token": "DELETE /api/v1/tokens/{token_id}",
    "create tenant": "POST /api/v1/tenants",
    "get tenant": "GET /api/v1/tenants/{tenant_id}",
    "edit tenant": "PATCH /api/v1/tenants/{tenant_id}",
    "deactivate tenant": "POST /api/v1/tenants/{tenant_id}/deactivate",
    "activate tenant": "POST /api/v1/tenants/{tenant_id}/activate",
    "list members": "GET /api/v1/tenants/{tenant_id}/members",
    "add member": "POST /api/v1/tenants/{tenant_id}/members",
    "change member role": "PATCH /api/v1/tenants/{tenant_id}/members/{user_id}",
    "remove member": "DELETE /api/v1/tenants/{tenant_id}/members/{user_id}",
    "list systems": "GET /api/v1/tenants/{tenant_id}/systems",
    "add system": "POST /api/v1/tenants/{tenant_id}/systems",
    "get system": "GET /api/v1/tenants/{tenant_id}/systems/{system_id}",
    "edit system": "PATCH /api/v1/tenants/{tenant_id}/systems/{system_id}",
    "remove system": "DELETE /api/v1/tenants/{tenant_id}/systems/{system_id}",
    "file request": "POST /api/v1/requests",
    "list requests": "GET /api/v1/requests",
    "get request": "GET /api/v1/requests/{request_id}",
    "verify request": "POST /api/v1/requests/{request_id}/verify",
    "assign request": "POST /api/v1/requests/{request_id}/assign",
    "fulfil request": "POST /api/v1/requests/{request_id}/fulfil",
    "extend request": "POST /api/v1/requests/{request_id}/extend",
    "reject request": "POST /api/v1/requests/{request_id}/reject",
    "close request": "POST /api/v1/requests/{request_id}/close",
    "withdraw request": "POST /api/v1/requests/{request_id}/withdraw",
}


# The privacy center's operations act for a tenant application (a tenant token, no person),
# so roles do not apply to them; tests/privacy_center covers them.
PRIVACY_CENTER_PREFIX = "/api/v1/privacy/"


def test_every_operation_of_the_api_is_in_the_matrix(client):
    client.force_login(factories.user_create(is_staff=True))
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
    # A personal object (a token) in scope `own` is the caller's; in `other`, someone else's.
    personal = RULES[operation].kind.startswith("personal")
    owner = user if personal and scope == "own" and user is not None else requester
    call = ARRANGE[operation](owner, own if scope == "own" else other)
    api = api_as(user)

    if call.method == "GET":
        response = api.get(call.path)
    elif call.method == "DELETE":
        response = api.delete(call.path)
    elif call.method == "PATCH":
        response = api.patch(call.path, call.body)
    else:
        response = api.post(call.path, call.body)

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
