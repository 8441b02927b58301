"""Legal holds: while one covers data, no ERASE or PURGE may write to it."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from privacyops.tenancy.models import Tenant


class LegalHoldQuerySet(models.QuerySet["LegalHold"]):
    def in_force(self) -> LegalHoldQuerySet:
        """Active and not past its expiry: an expired hold stops counting by itself."""
        now = timezone.now()
        return self.filter(active=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class LegalHold(models.Model):
    """A hold on a scope (`tenant`, `subject`, `issuer`, …) of one tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="legal_holds")
    scope_type = models.CharField(max_length=40)
    scope_id = models.CharField(max_length=200)
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True, default="")

    objects: ClassVar[LegalHoldQuerySet] = LegalHoldQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar = ["-created_at"]
        indexes: ClassVar = [models.Index(fields=["tenant", "active"], name="hold_tenant_active")]

    def __str__(self) -> str:
        return f"Hold #{self.pk} on {self.scope_type} {self.scope_id}"

    @property
    def state(self) -> str:
        if not self.active:
            return "released"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def in_force(self) -> bool:
        return self.state == "active"

    def describe(self) -> str:
        return f"legal hold #{self.pk} on {self.scope_type} {self.scope_id} ({self.reason})"
