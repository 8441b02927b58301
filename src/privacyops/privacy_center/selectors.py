"""What a verified data subject sees: their own requests, newest first, and their downloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone

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


def subject_requests(*, tenant: Tenant, subject_ids: tuple[str, ...] | list[str],
                     limit: int = REQUESTS_SHOWN) -> list[SubjectRequest]:
    """The subject's own privacy-center requests, newest first (two queries, whatever the count)."""
    if not subject_ids:
        return []
    jobs = (
        Job.objects.filter(tenant=tenant, source=JobSource.PRIVACY_CENTER, target_type="subject",
                           target_id__in=list(subject_ids))
        .prefetch_related(Prefetch("artifacts", queryset=Artifact.objects.order_by("-created_at")))
        .order_by("-created_at", "-id")[:limit]
    )
    now = timezone.now()
    return [_describe(job, now) for job in jobs]


def subject_artifact(*, tenant: Tenant, subject_ids: tuple[str, ...] | list[str],
                     artifact_id: str) -> Artifact:
    """An export package the verified subject may download: theirs, stored, not expired."""
    artifact = Artifact.objects.filter(
        pk=artifact_id, tenant_id=tenant.pk, target_type="subject",
        target_id__in=list(subject_ids), job__source=JobSource.PRIVACY_CENTER,
    ).first() if subject_ids else None
    if artifact is None:
        raise NotFound("This download is not available in your session. Sign in with your "
                       "email again to see your downloads.")
    if artifact.deleted_at is not None or artifact.expires_at <= timezone.now():
        raise NotFound("This download link has expired. Request a new export.",
                       code="link_expired")
    return artifact
