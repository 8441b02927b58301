"""Keyword-only factories for test data, on RFC 2606 domains."""

from __future__ import annotations

from itertools import count
from typing import Any

from privacyops.holds.models import LegalHold
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Membership, System, Tenant, User

_seq = count(1)
PASSWORD = "a-long-test-password-1"


def user_create(*, email: str | None = None, is_staff: bool = False,
                tenant: Tenant | None = None, role: str | None = None) -> User:
    email = email or f"user{next(_seq)}@example.com"
    user = User.objects.create_user(email, PASSWORD, is_staff=is_staff)
    if tenant is not None and role is not None:
        Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


def tenant_create(*, slug: str | None = None, name: str | None = None, datamap_name: str = "",
                  datastore_key: str = "", **extra: Any) -> Tenant:
    """A tenant row; with `datamap_name`, also its first (SQL) system, named like the map."""
    n = next(_seq)
    tenant = Tenant.objects.create(slug=slug or f"tenant-{n}", name=name or f"Tenant {n}",
                                   **extra)
    if datamap_name:
        System.objects.create(tenant=tenant, name=datamap_name, datamap_name=datamap_name,
                              datastore_key=datastore_key)
    return tenant


def tenant_key(tenant: Tenant) -> str:
    """The tenant's key in its first system's datastore."""
    system = tenant.systems.order_by("pk").first()
    assert system is not None, f"tenant {tenant.slug} has no system"
    return system.datastore_key


def job_create(*, tenant: Tenant, requested_by: User | None = None, job_type: str = "ERASE",
               status: str = JobStatus.PENDING, target_type: str = "subject",
               target_id: str = "42", requires_approval: bool = True, **extra: Any) -> Job:
    """A job row in any status, written directly (for setting up state, not for testing it)."""
    return Job.objects.create(
        tenant=tenant, requested_by=requested_by,
        requested_by_label=requested_by.email if requested_by else "system",
        job_type=job_type, status=status, target_type=target_type, target_id=target_id,
        requires_approval=requires_approval, **extra,
    )


def hold_create(*, tenant: Tenant, created_by: User, scope_type: str = "subject",
                scope_id: str = "42", **extra: Any) -> LegalHold:
    return LegalHold.objects.create(tenant=tenant, created_by=created_by, scope_type=scope_type,
                                    scope_id=scope_id, reason=extra.pop("reason", "Litigation"),
                                    **extra)


def actor(user: User) -> Actor:
    return Actor.for_user(user)
