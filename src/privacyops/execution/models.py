"""Export artifacts: encrypted packages in Django storage, indexed here."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models


class Artifact(models.Model):
    """A finished export package. A row exists only once its file is completely stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, related_name="artifacts")
    tenant_id = models.BigIntegerField(db_index=True)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=200)
    storage_name = models.CharField(max_length=300)
    file_name = models.CharField(max_length=200)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]
        indexes: ClassVar = [
            models.Index(fields=["tenant_id", "target_type", "target_id"], name="artifact_target")
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.size} bytes)"


class DataMapSnapshot(models.Model):
    """The text of a data map as an erasure ran with it, stored once per distinct content.

    A ledger replay re-applies the rules of this text, not of today's file: an edited map
    (a field now kept, a relation added) never changes what a past erasure did.
    """

    sha256 = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=100)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.sha256[:12]}"


class ErasureLedgerEntry(models.Model):
    """One completed ERASE or PURGE, with what it applied: enough to apply it again.

    Written in the transaction that completes the job, so a job is Completed exactly when its
    entry exists. It names the target by its canonical key (the subject's id in the system),
    never by email or name, and the rule that selected the rows (the scope, the key, the data
    map snapshot and the moment written into `now` markers), so `privacyops ledger replay`
    can re-apply it, set-based, to a datastore restored from an older backup.
    """

    recorded_at = models.DateTimeField(db_index=True)
    tenant = models.ForeignKey("tenancy.Tenant", on_delete=models.PROTECT, related_name="+")
    system = models.CharField(max_length=100)
    job = models.OneToOneField("jobs.Job", on_delete=models.PROTECT, related_name="ledger_entry")
    action = models.CharField(max_length=10)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=200)
    tenant_key = models.CharField(max_length=200, blank=True, default="")
    applied_at = models.DateTimeField()
    datamap = models.ForeignKey(DataMapSnapshot, on_delete=models.PROTECT, null=True,
                                related_name="+")
    actions = models.JSONField(default=dict)
    receipt = models.JSONField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["recorded_at", "id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "system", "recorded_at"], name="ledger_tenant_time"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id} ({self.system})"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting for the system's owner"
    COMPLETED = "completed", "Completed"
    NO_DATA = "no_data", "No data"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked"


# A step in one of these is done with: a retry of the job never runs it again.
STEP_DONE = frozenset({StepStatus.COMPLETED, StepStatus.NO_DATA})
# Nothing more happens to the step by itself (a failed or blocked step waits for a retry).
STEP_FINAL = frozenset({*STEP_DONE, StepStatus.FAILED, StepStatus.BLOCKED})


class JobStep(models.Model):
    """One job on one system of its tenant: a multi-system job has one step per system.

    ``keys`` are the subject's primary keys in that system that the job's identity resolved
    to; ``picked_key`` is the one an operator chose when several matched. ``system_name`` is
    copied so the step still says where it ran after the system is removed.
    """

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="steps")
    system = models.ForeignKey("tenancy.System", on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="job_steps")
    system_name = models.CharField(max_length=100)
    connector = models.CharField(max_length=20)
    status = models.CharField(max_length=12, choices=StepStatus.choices,
                              default=StepStatus.PENDING)
    rows = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    keys = models.JSONField(default=list, blank=True)
    keys_resolved = models.BooleanField(default=False)
    picked_key = models.CharField(max_length=200, blank=True, default="")
    verified = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["job_id", "system_name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["job", "system_name"], name="one_step_per_system")
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} on {self.system_name}: {self.status}"

    @property
    def is_done(self) -> bool:
        return self.status in STEP_DONE

    @property
    def is_final(self) -> bool:
        return self.status in STEP_FINAL

    @property
    def target_key(self) -> str | None:
        """The one primary key the step acts on: the pick, or the only key resolved."""
        if self.picked_key:
            return self.picked_key
        return self.keys[0] if len(self.keys) == 1 else None
