"""The privacy center in the JSON API, for a tenant's own application that has already
authenticated its user: export, delete-account, list my jobs (and cancel a deletion).

Authentication is a tenant application token (`ApiToken` with a tenant and no user); the
subject is named by email or subject id and must exist in that tenant's datastore.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone
from ninja import Path, Query, Router, Schema
from ninja.security import HttpBearer

from privacyops.api_auth import NO_NUL, error_responses
from privacyops.errors import NotFound, ValidationFailed
from privacyops.execution.registry import datastore_for, target_for
from privacyops.jobs.models import Job
from privacyops.privacy_center.selectors import SubjectRequest, subject_requests
from privacyops.privacy_center.services import (
    REASON_LIMIT,
    clean_email,
    privacy_deletion_request,
    privacy_export_request,
    privacy_request_cancel,
    subject_ids_for,
)
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ApiToken, Tenant
from privacyops.tenancy.services import TOKEN_PREFIX, token_digest


@dataclass(frozen=True)
class TenantApp:
    """A tenant's application, identified by its token."""

    tenant: Tenant
    token_prefix: str

    @property
    def actor(self) -> Actor:
        return Actor("api_token", f"tenant-{self.tenant.pk}:{self.token_prefix}",
                     f"{self.tenant.slug} privacy center app ({self.token_prefix}…)")


class TenantTokenAuth(HttpBearer):
    """`Authorization: Bearer po_…` of a tenant application token (not a personal one)."""

    def authenticate(self, request: HttpRequest, token: str) -> TenantApp | None:
        token = token.strip()
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        row = (ApiToken.objects.select_related("tenant")
               .filter(token_hash=token_digest(token), revoked_at__isnull=True,
                       tenant__isnull=False, user__isnull=True).first())
        if row is None or row.tenant is None:
            return None
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
        return TenantApp(row.tenant, row.prefix)


router = Router(tags=["privacy center"], auth=TenantTokenAuth())


class SubjectIn(Schema):
    email: str | None = None
    subject_id: str | None = None


class DeletionIn(SubjectIn):
    reason: str = ""


class PrivacyJobOut(Schema):
    id: int
    job_type: str
    status: str
    job_status: str
    detail: str
    subject_id: str
    created_at: datetime
    not_before: datetime | None
    download_expires_at: datetime | None
    can_cancel: bool


def _app(request: HttpRequest) -> TenantApp:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, TenantApp):
        raise TypeError("privacy center operation without a tenant token")
    return auth


def _subject_ids(tenant: Tenant, email: str | None, subject_id: str | None) -> tuple[str, ...]:
    """The subjects the application names; they must exist in the tenant's datastore."""
    if email and subject_id:
        raise ValidationFailed("Name the subject by email or by subject_id, not both.",
                               field="email")
    if email:
        ids = subject_ids_for(tenant, clean_email(email))
    elif subject_id:
        subject_id = subject_id.strip()
        if not subject_id or len(subject_id) > 200 or "\x00" in subject_id:
            raise ValidationFailed("subject_id must be 1 to 200 characters.", field="subject_id")
        exists = datastore_for(tenant).exists(target_for(tenant, "subject", subject_id))
        ids = (subject_id,) if exists else ()
    else:
        raise ValidationFailed("Name the subject: pass email or subject_id.", field="email")
    if not ids:
        raise NotFound(f"Tenant {tenant.slug} holds no data subject with this identity.",
                       code="no_subject")
    return ids


def _out(request: SubjectRequest) -> PrivacyJobOut:
    job: Job = request.job
    return PrivacyJobOut(
        id=job.pk, job_type=job.job_type, status=request.status, job_status=job.status,
        detail=request.detail, subject_id=job.target_id, created_at=job.created_at,
        not_before=job.not_before,
        download_expires_at=request.artifact.expires_at if request.artifact else None,
        can_cancel=request.can_cancel,
    )


def _listed(tenant: Tenant, subject_ids: tuple[str, ...], jobs: list[Job],
            email: str = "") -> list[PrivacyJobOut]:
    wanted = {job.pk for job in jobs}
    return [_out(r) for r in subject_requests(tenant=tenant, subject_ids=subject_ids,
                                              email=email)
            if r.job.pk in wanted]


@router.post("/export", response={201: list[PrivacyJobOut], **error_responses(404, 409)},
             summary="Request an export of the subject's data")
def privacy_center_export(request: HttpRequest, body: SubjectIn) -> tuple[int, list[PrivacyJobOut]]:
    app = _app(request)
    ids = _subject_ids(app.tenant, body.email, body.subject_id)
    email = clean_email(body.email) if body.email else ""
    jobs = privacy_export_request(tenant=app.tenant, subject_ids=ids, actor=app.actor,
                                  email=email)
    return 201, _listed(app.tenant, ids, jobs, email)


@router.post("/delete-account",
             response={201: list[PrivacyJobOut], **error_responses(404, 409)},
             summary="Schedule the deletion of the subject's account after the grace period")
def privacy_center_delete_account(request: HttpRequest, body: DeletionIn) -> tuple[int, list[PrivacyJobOut]]:
    app = _app(request)
    if len(body.reason) > REASON_LIMIT or "\x00" in body.reason:
        raise ValidationFailed(f"The reason must be at most {REASON_LIMIT} characters.",
                               field="reason")
    ids = _subject_ids(app.tenant, body.email, body.subject_id)
    # The application has authenticated its user; its call is the confirmation.
    email = clean_email(body.email) if body.email else ""
    jobs = privacy_deletion_request(tenant=app.tenant, subject_ids=ids, email=email,
                                    confirmation_email=email, reason=body.reason,
                                    actor=app.actor)
    return 201, _listed(app.tenant, ids, jobs, email)


@router.get("/jobs", response={200: list[PrivacyJobOut], **error_responses(404)},
            summary="The subject's privacy-center requests, newest first")
def privacy_center_jobs(request: HttpRequest, email: str | None = Query(None, pattern=NO_NUL),
         subject_id: str | None = Query(None, pattern=NO_NUL)) -> list[PrivacyJobOut]:
    app = _app(request)
    ids = _subject_ids(app.tenant, email, subject_id)
    return [_out(r) for r in subject_requests(
        tenant=app.tenant, subject_ids=ids, email=clean_email(email) if email else "")]


@router.post("/jobs/{job_id}/cancel",
             response={200: PrivacyJobOut, **error_responses(404, 409)},
             summary="Cancel the subject's deletion during its grace period")
def privacy_center_cancel(request: HttpRequest, body: SubjectIn,
           job_id: int = Path(..., ge=1, le=2**63 - 1)) -> PrivacyJobOut:
    app = _app(request)
    ids = _subject_ids(app.tenant, body.email, body.subject_id)
    email = clean_email(body.email) if body.email else ""
    job = privacy_request_cancel(tenant=app.tenant, subject_ids=ids, job_id=job_id,
                                 actor=app.actor, email=email)
    return _listed(app.tenant, ids, [job], email)[0]
