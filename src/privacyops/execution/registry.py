"""Which datastores and scopes a tenant has: the data maps, loaded once per process."""

from __future__ import annotations

from privacyops.tenancy.models import Tenant

DEFAULT_TARGET_TYPES = ("subject", "tenant")


def target_types_for(tenant: Tenant) -> tuple[str, ...]:
    """The scopes a job for this tenant may target: those its data map declares."""
    return DEFAULT_TARGET_TYPES
