"""The privacy center's one-time codes: proof that a visitor controls an email address."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from privacyops.tenancy.models import Tenant


class AccessCode(models.Model):
    """A 6-digit code mailed to an address; only keyed hashes of the address and code are kept.

    It expires after 10 minutes and after 5 wrong attempts; a new code replaces older ones.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    email_digest = models.CharField(max_length=64)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "email_digest", "-created_at"], name="access_code_lookup"),
        ]

    def __str__(self) -> str:
        return f"access code #{self.pk} ({self.tenant_id})"
