"""What a verified data subject sees: their own requests, newest first, and their downloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from privacyops.errors import NotFound
from privacyops.execution.models import Artifact
from privacyops.jobs.models import Job, JobSource, JobStatus, JobType
from privacyops.privacy_center.services import CANCEL_REASON
from privacyops.tenancy.models import Tenant

REQUESTS_SHOWN = 50


@dataclass(frozen=True)
class SubjectRequest:
    """One of the subject's requests in words the subject understands."""

    job: Job
    kind: str
    status: str
    detail: str
    artifact: Artifact | None
    can_cancel: bool

    @property
    def id(self) -> int:
        return self.job.pk

    @property
    def status_class(self) -> str:
        return self.status.split()[0].lower()


def _live_artifact(job: Job, now: datetime) -> Artifact | None:
    for artifact in job.artifacts.all():
        if artifact.deleted_at is None and artifact.expires_at > now:
            return artifact
    return None


def _describe(job: Job, now: datetime) -> SubjectRequest:
    artifact = None
    can_cancel = False
    if job.job_type == JobType.EXPORT:
        kind = "Export of your data"
        if job.status == JobStatus.COMPLETED:
            artifact = _live_artifact(job, now)
            status, detail = (
                ("Ready", f"Download it under Available downloads until "
                          f"{timezone.localtime(artifact.expires_at):%d %b %Y %H:%M}.")
                if artifact else
                ("Expired", "The download link has expired. Request a new export.")
            )
        elif job.status in (JobStatus.REJECTED, JobStatus.FAILED):
            status, detail = job.status, job.rejection_reason or "It could not be prepared. " \
                "Request it again, or contact the privacy team."
        else:
            status, detail = "In progress", "We are preparing your file."
    else:
        kind = "Deletion of your account"
        waiting = job.status in (JobStatus.PENDING, JobStatus.APPROVED)
        if job.status == JobStatus.REJECTED and job.rejection_reason == CANCEL_REASON:
            status, detail = "Cancelled", "You cancelled this deletion."
        elif job.status == JobStatus.REJECTED:
            status, detail = "Rejected", job.rejection_reason
        elif waiting and job.not_before and job.not_before > now:
            can_cancel = True
            status = "Scheduled"
            detail = (f"Your data will be deleted after "
                      f"{timezone.localtime(job.not_before):%d %b %Y %H:%M}. You can cancel "
                      "until then.")
        elif job.status == JobStatus.PENDING:
            can_cancel = True
            status, detail = "Awaiting review", "The privacy team reviews it before it runs."
        elif job.status == JobStatus.COMPLETED:
            status, detail = "Completed", "Your account data was deleted."
        elif job.status == JobStatus.FAILED:
            status, detail = "On hold", "It could not run yet; the privacy team follows it up."
        else:
            status, detail = "In progress", "Your data is being deleted."
    return SubjectRequest(job=job, kind=kind, status=status, detail=detail, artifact=artifact,
                          can_cancel=can_cancel)


def _mine(tenant: Tenant, subject_ids: tuple[str, ...] | list[str], email: str) -> Q:
    """The subject's jobs: by subject id, or by the identity hash of `email` on their request."""
    from privacyops.intake.lifecycle import identity_digest

    mine = Q(target_type="subject", target_id__in=list(subject_ids))
    if email:
        mine |= Q(request__identity_hash=identity_digest(tenant.pk, email))
    return mine


def subject_requests(*, tenant: Tenant, subject_ids: tuple[str, ...] | list[str],
                     limit: int = REQUESTS_SHOWN, email: str = "") -> list[SubjectRequest]:
    """The subject's own privacy-center jobs, newest first (two queries, whatever the count)."""
    if not subject_ids and not email:
        return []
    jobs = (
        Job.objects.filter(_mine(tenant, subject_ids, email), tenant=tenant,
                           source=JobSource.PRIVACY_CENTER)
        .prefetch_related(Prefetch("artifacts", queryset=Artifact.objects.order_by("-created_at")))
        .order_by("-created_at", "-id")[:limit]
    )
    now = timezone.now()
    return [_describe(job, now) for job in jobs]


def subject_artifact(*, tenant: Tenant, subject_ids: tuple[str, ...] | list[str],
                     artifact_id: str, email: str = "") -> Artifact:
    """An export package the verified person may download: of a request of theirs (by the
    identity hash of their verified email, from any channel) or of their own privacy-center
    job (by subject id); stored, not expired."""
    from privacyops.intake.lifecycle import identity_digest

    mine = Q(target_type="subject", target_id__in=list(subject_ids),
             job__source=JobSource.PRIVACY_CENTER)
    if email:
        mine |= Q(job__request__identity_hash=identity_digest(tenant.pk, email))
    artifact = Artifact.objects.filter(
        mine, pk=artifact_id, tenant_id=tenant.pk,
    ).first() if subject_ids or email else None
    if artifact is None:
        raise NotFound("This download is not available in your session. Sign in with your "
                       "email again to see your downloads.")
    if artifact.deleted_at is not None or artifact.expires_at <= timezone.now():
        raise NotFound("This download link has expired. Request a new export.",
                       code="link_expired")
    return artifact


# --- the person's privacy requests, from every channel ------------------------------------

KIND_LABELS: dict[str, Promise] = {
    "access": _("Access to your data"),
    "portability": _("A portable copy of your data"),
    "erasure": _("Deletion of your data"),
    "correction": _("Correction of your data"),
    "restriction": _("Restriction of processing"),
    "objection": _("Objection to processing"),
}
# The person's status (`key`, stable, English, in data-status) and its translated label.
STATUS_LABELS: dict[str, Promise] = {
    "Awaiting confirmation": _("Awaiting confirmation"),
    "Verified": _("Verified"),
    "In progress": _("In progress"),
    "Awaiting review": _("Awaiting review"),
    "Scheduled": _("Scheduled"),
    "Ready": _("Ready"),
    "Expired": _("Expired"),
    "Completed": _("Completed"),
    "Rejected": _("Rejected"),
    "Withdrawn": _("Withdrawn"),
    "Cancelled": _("Cancelled"),
    "Merged": _("Merged"),
}
EXPORT_REQUESTS = ("access", "portability")


@dataclass(frozen=True)
class PersonRequest:
    """One privacy request of the person, whatever channel it came through."""

    request: Any
    status: str  # a key of STATUS_LABELS
    artifacts: tuple[Artifact, ...]
    receipt_job: Job | None
    cancel_job: Job | None
    not_before: datetime | None

    @property
    def kind(self) -> Promise | str:
        return KIND_LABELS.get(self.request.request_type, self.request.request_type)

    @property
    def status_label(self) -> Promise | str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def status_class(self) -> str:
        return self.status.split()[0].lower()

    @property
    def can_renew(self) -> bool:
        return self.status == "Expired"

    @property
    def is_open(self) -> bool:
        return bool(self.request.is_open)


def _person_status(request: Any, jobs: list[Job], now: datetime) -> PersonRequest:
    from privacyops.execution.models import ErasureLedgerEntry
    from privacyops.intake.models import RequestStatus

    artifacts: list[Artifact] = []
    receipt_job = cancel_job = None
    not_before = None
    status = {
        RequestStatus.RECEIVED: "Awaiting confirmation", RequestStatus.VERIFIED: "Verified",
        RequestStatus.IN_PROGRESS: "In progress", RequestStatus.COMPLETED: "Completed",
        RequestStatus.REJECTED: "Rejected", RequestStatus.WITHDRAWN: "Withdrawn",
        RequestStatus.MERGED: "Merged",
    }.get(request.status, "In progress")
    if any(job.status == JobStatus.REJECTED and job.rejection_reason == CANCEL_REASON
           for job in jobs):
        status = "Cancelled"
    elif request.request_type == "erasure" and request.is_open:
        waiting = [job for job in jobs if job.job_type == JobType.ERASE
                   and job.status in (JobStatus.PENDING, JobStatus.APPROVED)]
        for job in waiting:
            if job.not_before and job.not_before > now:
                status, cancel_job, not_before = "Scheduled", job, job.not_before
            elif job.status == JobStatus.PENDING and status != "Scheduled":
                status, cancel_job = "Awaiting review", job
    elif request.status == RequestStatus.COMPLETED and request.request_type in EXPORT_REQUESTS:
        artifacts = [artifact for job in jobs for artifact in job.artifacts.all()
                     if artifact.deleted_at is None and artifact.expires_at > now]
        status = "Ready" if artifacts else "Expired"
    elif request.status == RequestStatus.COMPLETED and request.request_type == "erasure":
        receipt_job = next((job for job in jobs if job.job_type == JobType.ERASE
                            and ErasureLedgerEntry.objects.filter(job=job)
                            .filter(receipt__isnull=False).exists()), None)
    return PersonRequest(request=request, status=status, artifacts=tuple(artifacts),
                         receipt_job=receipt_job, cancel_job=cancel_job, not_before=not_before)


def person_requests(*, tenant: Tenant, email: str, limit: int = REQUESTS_SHOWN,
                    request_id: int | None = None) -> list[PersonRequest]:
    """The person's privacy requests from every channel (intake form, privacy center, API,
    operator, GDPR screen), found by the keyed hash of their verified email, so an erasure's
    request is still found after the email was removed from it; newest first."""
    from privacyops.intake.lifecycle import identity_digest
    from privacyops.intake.models import IntakeRequest

    digest = identity_digest(tenant.pk, email)
    if not digest:
        return []
    found = IntakeRequest.objects.filter(tenant=tenant, identity_hash=digest)
    if request_id is not None:
        found = found.filter(pk=request_id)
    requests = list(
        found.order_by("-submitted_at", "-id")[:limit])
    jobs: dict[int, list[Job]] = {}
    for job in (Job.objects.filter(request__in=requests)
                .prefetch_related(Prefetch("artifacts",
                                           queryset=Artifact.objects.order_by("-created_at")))
                .order_by("created_at", "id")):
        jobs.setdefault(job.request_id or 0, []).append(job)
    now = timezone.now()
    return [_person_status(request, jobs.get(request.pk, []), now) for request in requests]


def person_request(*, tenant: Tenant, email: str, reference_id: int) -> PersonRequest:
    """One of the person's requests (by the identity hash of their verified email)."""
    for found in person_requests(tenant=tenant, email=email, request_id=reference_id):
        return found
    raise NotFound(gettext("There is no request of yours with this number. Sign in with your email "
                     "again to see your requests."))
