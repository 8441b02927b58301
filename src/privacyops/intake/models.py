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
    OBJECTION = "objection", "Objection — Art. 21"


# The request types a job fulfils today; correction and restriction get RECTIFY / RESTRICT jobs
# once those job types exist (see lifecycle._job_for_request); an objection is a decision.
JOB_TYPE_FOR_REQUEST: dict[str, str] = {
    RequestType.ACCESS: JobType.EXPORT,
    RequestType.PORTABILITY: JobType.EXPORT,
    RequestType.ERASURE: JobType.ERASE,
}
# The job type each of these will be fulfilled by, once the job type is merged.
PENDING_JOB_TYPE_FOR_REQUEST: dict[str, str] = {
    RequestType.CORRECTION: "RECTIFY",
    RequestType.RESTRICTION: "RESTRICT",
}
OUTCOME_REQUEST_TYPES = frozenset({RequestType.CORRECTION, RequestType.RESTRICTION,
                                   RequestType.OBJECTION})


class RequestStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    VERIFIED = "verified", "Verified"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    MERGED = "merged", "Merged into another request"


OPEN_STATUSES = frozenset({RequestStatus.RECEIVED, RequestStatus.VERIFIED,
                           RequestStatus.IN_PROGRESS})
FINAL_STATUSES = frozenset({RequestStatus.COMPLETED, RequestStatus.REJECTED,
                            RequestStatus.WITHDRAWN, RequestStatus.MERGED})

# The whole state machine of a request.
TRANSITIONS: dict[str, frozenset[str]] = {
    RequestStatus.RECEIVED: frozenset({RequestStatus.VERIFIED, RequestStatus.REJECTED,
                                       RequestStatus.WITHDRAWN, RequestStatus.MERGED}),
    RequestStatus.VERIFIED: frozenset({RequestStatus.IN_PROGRESS, RequestStatus.COMPLETED,
                                       RequestStatus.REJECTED, RequestStatus.WITHDRAWN,
                                       RequestStatus.MERGED}),
    RequestStatus.IN_PROGRESS: frozenset({RequestStatus.COMPLETED, RequestStatus.REJECTED,
                                          RequestStatus.WITHDRAWN}),
    RequestStatus.COMPLETED: frozenset(),
    RequestStatus.REJECTED: frozenset(),
    RequestStatus.WITHDRAWN: frozenset(),
    RequestStatus.MERGED: frozenset(),
}


class Channel(models.TextChoices):
    INTAKE = "intake", "Public intake form"
    PRIVACY_CENTER = "privacy_center", "Privacy center"
    API = "api", "API"
    OPERATOR = "operator", "Operator, for the person"
    GDPR_SCREEN = "gdpr_screen", "Workspace GDPR screen"


DUE_SOON_DAYS = 7


class IntakeRequest(models.Model):
    """One data-subject request, whatever channel it came through, with its legal deadline.

    The request is what the person and the operator follow: it is received, verified, put in
    progress by the jobs that fulfil it, and completed only when they complete. The client IP
    is kept only as a keyed hash (rate limit, abuse review), the verification token only as a
    SHA-256 hash, and the identity also as a keyed hash (`identity_hash`): duplicates are found
    by it, and after an erasure it is all that remains of the person.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="intake_requests")
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.INTAKE)
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True, default="")
    identifiers = models.JSONField(default=dict, blank=True)  # other identifiers the person gave
    identity_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # Whether identity_hash is of the person's email, so their privacy center lists the request
    # (a request filed by subject id whose email could not be found is hashed by the ids).
    listed_for_person = models.BooleanField(default=True)
    language = models.CharField(max_length=16, blank=True, default="")
    request_type = models.CharField(max_length=20, choices=RequestType.choices)
    details = models.TextField(blank=True, default="")
    own_data_confirmed = models.BooleanField(default=False)
    ip_hash = models.CharField(max_length=64, db_index=True, blank=True, default="")
    submitted_at = models.DateTimeField(default=timezone.now, db_index=True)
    deadline_at = models.DateTimeField()
    original_deadline_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=RequestStatus.choices,
                              default=RequestStatus.RECEIVED)

    verification_token_hash = models.CharField(max_length=64, unique=True)
    verification_expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)

    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 null=True, blank=True, related_name="assigned_requests")
    duplicate_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="duplicates")
    duplicate_kept = models.BooleanField(default=False)  # the operator chose to keep it apart

    subject_id = models.CharField(max_length=200, blank=True, default="")
    linked_at = models.DateTimeField(null=True, blank=True)
    # The first job that fulfilled it (older requests); every job is in `jobs` (Job.request).
    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="+")
    outcome = models.TextField(blank=True, default="")
    rejection_reason = models.TextField(blank=True, default="")
    extension_reason = models.TextField(blank=True, default="")
    extended_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  null=True, blank=True, related_name="+")
    # When the identity was removed after a completed erasure (only identity_hash remains).
    minimised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["deadline_at", "id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "status", "deadline_at"], name="intake_tenant_status"),
            models.Index(fields=["status", "deadline_at"], name="intake_status_deadline"),
            models.Index(fields=["tenant", "identity_hash", "request_type"],
                         name="intake_identity"),
        ]

    def __str__(self) -> str:
        return f"Privacy request {self.reference} ({self.request_type})"

    @property
    def reference(self) -> str:
        """What the person and the operator quote: R-000123."""
        return f"R-{self.pk or 0:06d}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of_id is not None and not self.duplicate_kept

    def days_left(self, now: datetime | None = None) -> int:
        """Days until the deadline, rounded up (a deadline 6½ days away has 7 days left)."""
        remaining = self.deadline_at - (now or timezone.now())
        return -(-remaining // timedelta(days=1))

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and self.deadline_at < (now or timezone.now())

    def is_due_soon(self, now: datetime | None = None) -> bool:
        return self.is_open and not self.is_overdue(now) and self.days_left(now) <= DUE_SOON_DAYS


# The name the rest of the platform uses for it.
PrivacyRequest = IntakeRequest


EVENT_LABELS: dict[str, str] = {
    "received": "Received", "verified": "Verified", "linked": "Linked to a data subject",
    "assigned": "Assigned", "note": "Note", "job_created": "Job created",
    "job_finished": "Job finished", "job_type_pending": "Job not created from the request yet",
    "extended": "Deadline extended", "rejected": "Rejected", "withdrawn": "Withdrawn",
    "completed": "Completed", "email_sent": "Email sent", "minimised": "Identity removed",
    "duplicate_found": "Looks like a duplicate", "duplicate_received": "A duplicate arrived",
    "duplicate_kept": "Kept as a separate request", "merged": "Merged",
    "merged_in": "A duplicate was merged into this request",
    "delivered": "Package delivered to the person",
}


class RequestEvent(models.Model):
    """One line of a request's timeline. Never holds the person's email or name: an operator's
    note is the only free text, and it is scrubbed of the identity after an erasure."""

    request = models.ForeignKey(IntakeRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=40)
    actor_label = models.CharField(max_length=200, blank=True, default="")
    text = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering: ClassVar = ["at", "id"]
        indexes: ClassVar = [models.Index(fields=["request", "at"], name="request_event_at")]

    def __str__(self) -> str:
        return f"{self.kind} on request #{self.request_id}"

    @property
    def label(self) -> str:
        return EVENT_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())
