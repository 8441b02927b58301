"""Privacy requests filed through a workspace's public intake form."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from privacyops.jobs.models import JobType
from privacyops.tenancy.models import Tenant


class RequestType(models.TextChoices):
    ACCESS = "access", "Access — Art. 15"
    ERASURE = "erasure", "Erasure / right to be forgotten — Art. 17"
    CORRECTION = "correction", "Correction — Art. 16"
    PORTABILITY = "portability", "Portability — Art. 20"
    RESTRICTION = "restriction", "Restriction — Art. 18"


# The request types a job fulfils; the others are handled by hand and closed with an outcome.
JOB_TYPE_FOR_REQUEST: dict[str, str] = {
    RequestType.ACCESS: JobType.EXPORT,
    RequestType.PORTABILITY: JobType.EXPORT,
    RequestType.ERASURE: JobType.ERASE,
}
OUTCOME_REQUEST_TYPES = frozenset({RequestType.CORRECTION, RequestType.RESTRICTION})


class RequestStatus(models.TextChoices):
    OPEN = "open", "Open"
    FULFILLED = "fulfilled", "Fulfilled (job created)"
    CLOSED = "closed", "Closed with outcome"
    REJECTED = "rejected", "Rejected"


DUE_SOON_DAYS = 7


class IntakeRequest(models.Model):
    """One data-subject request from the public form, with its legal response deadline.

    The client IP is kept only as a keyed hash (for the rate limit and abuse review), and the
    verification token only as a SHA-256 hash, so a database dump reveals neither.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="intake_requests")
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True, default="")
    request_type = models.CharField(max_length=20, choices=RequestType.choices)
    details = models.TextField(blank=True, default="")
    own_data_confirmed = models.BooleanField(default=False)
    ip_hash = models.CharField(max_length=64, db_index=True)
    submitted_at = models.DateTimeField(default=timezone.now, db_index=True)
    deadline_at = models.DateTimeField()
    original_deadline_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=RequestStatus.choices,
                              default=RequestStatus.OPEN)

    verification_token_hash = models.CharField(max_length=64, unique=True)
    verification_expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)

    subject_id = models.CharField(max_length=200, blank=True, default="")
    linked_at = models.DateTimeField(null=True, blank=True)
    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="+")
    outcome = models.TextField(blank=True, default="")
    rejection_reason = models.TextField(blank=True, default="")
    extension_reason = models.TextField(blank=True, default="")
    extended_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  null=True, blank=True, related_name="+")

    class Meta:
        ordering: ClassVar = ["deadline_at", "id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "status", "deadline_at"], name="intake_tenant_status"),
            models.Index(fields=["status", "deadline_at"], name="intake_status_deadline"),
        ]

    def __str__(self) -> str:
        return f"Privacy request #{self.pk} ({self.request_type})"

    @property
    def is_open(self) -> bool:
        return self.status == RequestStatus.OPEN

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    def days_left(self, now: datetime | None = None) -> int:
        """Days until the deadline, rounded up (a deadline 6½ days away has 7 days left)."""
        remaining = self.deadline_at - (now or timezone.now())
        return -(-remaining // timedelta(days=1))

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and self.deadline_at < (now or timezone.now())

    def is_due_soon(self, now: datetime | None = None) -> bool:
        return self.is_open and not self.is_overdue(now) and self.days_left(now) <= DUE_SOON_DAYS
