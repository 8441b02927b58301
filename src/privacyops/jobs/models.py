"""A data-lifecycle job is a domain model, not a queue row: the row is the source of truth."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from privacyops.tenancy.models import Tenant


class JobType(models.TextChoices):
    EXPORT = "EXPORT", "Export"
    ERASE = "ERASE", "Erase"
    PURGE = "PURGE", "Purge"
    RECTIFY = "RECTIFY", "Rectify"
    RESTRICT = "RESTRICT", "Restrict"


class JobStatus(models.TextChoices):
    PENDING = "Pending", "Pending"
    APPROVED = "Approved", "Approved"
    PROCESSING = "Processing", "Processing"
    COMPLETED = "Completed", "Completed"
    FAILED = "Failed", "Failed"
    REJECTED = "Rejected", "Rejected"


# The whole state machine. A worker taking over an expired lease keeps the job Processing.
# Approved → Rejected is only a data subject cancelling within the grace period (job_cancel).
TRANSITIONS: dict[str, frozenset[str]] = {
    JobStatus.PENDING: frozenset({JobStatus.APPROVED, JobStatus.REJECTED}),
    JobStatus.APPROVED: frozenset({JobStatus.PROCESSING, JobStatus.REJECTED}),
    JobStatus.PROCESSING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED}),
    JobStatus.FAILED: frozenset({JobStatus.APPROVED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.REJECTED: frozenset(),
}


FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.REJECTED})


class JobSource(models.TextChoices):
    OPERATOR = "operator", "Operator"
    API = "api", "API"
    INTAKE = "intake", "Public intake form"
    PRIVACY_CENTER = "privacy_center", "Privacy center"
    GDPR_SCREEN = "gdpr_screen", "Workspace GDPR screen"
    RETENTION = "retention", "Retention schedule"


class Job(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="jobs")
    job_type = models.CharField(max_length=10, choices=JobType.choices)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=200)
    # A subject named by identity fields instead of a key (``{"email": "ada@example.com"}``,
    # canonical: NFKC, trimmed, emails lower-cased); each system resolves it to its own rows.
    identity = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True, default="")
    source = models.CharField(max_length=20, choices=JobSource.choices, default=JobSource.OPERATOR)
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.PENDING)
    requires_approval = models.BooleanField(default=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )
    requested_by_label = models.CharField(max_length=200, blank=True, default="")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Earliest moment a worker may start it (a privacy-center deletion's grace period).
    not_before = models.DateTimeField(null=True, blank=True)

    attempts = models.PositiveSmallIntegerField(default=0)
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # What a RECTIFY or RESTRICT asks for: {"fields": [...], "changes_sealed": "…"} (the values
    # only sealed, see execution/rectify.py) or {"lift": bool}. Empty for other job types.
    params = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    blocking_hold = models.ForeignKey(
        "holds.LegalHold", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="blocked_jobs",
    )
    # A Rejected job the data subject withdrew (job_cancel): still Rejected, but not a refusal.
    withdrawn_by_subject = models.BooleanField(default=False)
    # The privacy request this job fulfils (a request may have several jobs).
    request = models.ForeignKey(
        "intake.IntakeRequest", on_delete=models.PROTECT, null=True, blank=True,
        related_name="jobs",
    )

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["status", "-created_at"], name="job_status_created"),
            models.Index(fields=["tenant", "status", "-created_at"], name="job_tenant_status"),
            models.Index(fields=["job_type", "-created_at"], name="job_type_created"),
            models.Index(fields=["target_id"], name="job_target_id"),
            models.Index(fields=["tenant"], name="job_withdrawn",
                         condition=models.Q(withdrawn_by_subject=True)),
        ]

    def __str__(self) -> str:
        return f"{self.job_type} #{self.pk} {self.target_type}:{self.target_id}"

    @property
    def is_destructive(self) -> bool:
        return self.job_type in {JobType.ERASE, JobType.PURGE}

    @property
    def is_final(self) -> bool:
        """Completed, Failed or Rejected: nothing changes any more without someone acting."""
        return self.status in FINAL_STATUSES

    @property
    def status_label(self) -> str:
        if self.status == JobStatus.REJECTED and self.withdrawn_by_subject:
            return "Withdrawn"
        return str(self.get_status_display())

    @property
    def progress_percent(self) -> int:
        """Rows done of the total a purge reported; for a job on several systems whose steps
        were fetched with it (``prefetch_related("steps")``), the share of settled steps."""
        done, total = self.progress.get("done", 0), self.progress.get("total", 0)
        if not total:
            steps = getattr(self, "_prefetched_objects_cache", {}).get("steps")
            if not steps:
                return 0
            done, total = sum(step.is_final for step in steps), len(steps)
        return min(100, int(100 * done / total))


class JobStatusCount(models.Model):
    """How many jobs each tenant has in each status, kept by database triggers on the job table.

    The stat cards read these few rows instead of counting a million jobs. Triggers (not
    application code) keep them exact whatever writes the job table: services, conditional
    UPDATEs of workers, bulk loads, deletes.
    """

    tenant_id = models.BigIntegerField()
    status = models.CharField(max_length=12)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant_id", "status"], name="one_count_per_status")
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.status}: {self.n}"
