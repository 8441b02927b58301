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
