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
