"""A manual system's step of a job: the person asked to do it by hand, and what they confirmed."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.db import models


class TaskKind(models.TextChoices):
    EXPORT = "export", "Export"
    ERASE = "erase", "Erase"


class TaskStatus(models.TextChoices):
    WAITING = "waiting", "Waiting for the owner"
    CONFIRMED = "confirmed", "Confirmed"
    EXPIRED = "expired", "Expired"


class ManualTask(models.Model):
    """One request to a manual system's owner, for one step of a job.

    The emailed link carries a signed token; only its SHA-256 is stored, so a database reader
    cannot use a link. A new link (a reminder, a resend) replaces the hash: the latest email's
    link is the one that works. A job retried after its manual step failed gets a new task.
    """

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="manual_tasks")
    system = models.ForeignKey("tenancy.System", on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="manual_tasks")
    system_name = models.CharField(max_length=100)
    step = models.ForeignKey("execution.JobStep", on_delete=models.CASCADE,
                             related_name="manual_tasks")
    kind = models.CharField(max_length=10, choices=TaskKind.choices)
    owner_email = models.EmailField()
    instructions = models.TextField()
    token_hash = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=TaskStatus.choices,
                              default=TaskStatus.WAITING)
    created_at = models.DateTimeField(auto_now_add=True)
    deadline = models.DateTimeField()
    email_sent_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The email the person typed on the page, or the signed-in user's.
    confirmed_by = models.CharField(max_length=254, blank=True, default="")
    confirmed_by_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                          null=True, blank=True, related_name="+")
    rows = models.BigIntegerField(null=True, blank=True)
    note = models.TextField(blank=True, default="")
    # The uploaded export, encrypted in artifact storage like export packages.
    upload = models.ForeignKey("execution.Artifact", on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="+")

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["status", "deadline"], name="manual_task_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of job {self.job_id} on {self.system_name}: {self.status}"

    @property
    def reminder_due_at(self) -> datetime:
        """Halfway from the first email to the deadline."""
        return self.created_at + (self.deadline - self.created_at) / 2
