"""Reads: which workspace a public form belongs to, and the operator queue scoped to the viewer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone

from privacyops.errors import NotFound, PermissionDenied
from privacyops.intake.models import IntakeRequest, RequestStatus
from privacyops.tenancy.models import Tenant, User
from privacyops.tenancy.policy import can, role_in, tenants_visible_to

_NO_ROLE = (
    "Privacy requests are handled by platform staff and by a workspace's super-admins, admins "
    "and IT admins; ask one of them for access."
)


_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,63}")


def public_tenant_get(slug: str) -> Tenant:
    if not _SLUG.fullmatch(slug or ""):
        raise NotFound("There is no such workspace. Check the link in the privacy notice you "
                       "followed, or ask the organisation for its privacy contact.")
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise NotFound(
            f"There is no workspace called “{slug}”. Check the link in the privacy notice "
            "you followed, or ask the organisation for its privacy contact."
        )
    return tenant


def public_tenant_named(name: str) -> Tenant | None:
    """The workspace a visitor typed: its slug or its display name, in any letter case."""
    name = " ".join(name.split())
    if not name:
        return None
    return (Tenant.objects.filter(slug=name.lower()).first()
            or Tenant.objects.filter(name__iexact=name).order_by("pk").first())


def public_tenant_resolve(*, host: str, workspace: str = "") -> Tenant | None:
    """The workspace of a bare /privacy/request: the host's first label, ?workspace=, or the
    only workspace there is. None: the visitor has to name it."""
    label = host.split(":")[0].split(".")[0].lower()
    if label and not label.isdigit():
        tenant = Tenant.objects.filter(slug=label).first()
        if tenant is not None:
            return tenant
    if workspace:
        return public_tenant_named(workspace)
    only_two = list(Tenant.objects.all()[:2])
    return only_two[0] if len(only_two) == 1 else None


@dataclass(frozen=True)
class QueueFilters:
    status: str = ""
    request_type: str = ""
    verified: str = ""  # "yes", "no" or ""
    overdue: bool = False
    tenant_slug: str = ""


def intake_tenants_for(user: User) -> QuerySet[Tenant]:
    tenants = tenants_visible_to(user, "intake.view")
    if not tenants.exists():
        raise PermissionDenied(_NO_ROLE)
    return tenants.order_by("name")


def intake_requests_for(*, user: User, filters: QueueFilters) -> QuerySet[IntakeRequest]:
    """The queue the viewer may see: open requests first, soonest deadline first."""
    tenants = intake_tenants_for(user)
    queryset = IntakeRequest.objects.filter(tenant__in=tenants).select_related("tenant", "job")
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.request_type:
        queryset = queryset.filter(request_type=filters.request_type)
    if filters.verified == "yes":
        queryset = queryset.filter(verified_at__isnull=False)
    elif filters.verified == "no":
        queryset = queryset.filter(verified_at__isnull=True)
    if filters.overdue:
        queryset = queryset.filter(status=RequestStatus.OPEN, deadline_at__lt=timezone.now())
    if filters.tenant_slug:
        queryset = queryset.filter(tenant__slug=filters.tenant_slug)
    open_first = Case(When(status=RequestStatus.OPEN, then=Value(0)), default=Value(1),
                      output_field=IntegerField())
    return queryset.order_by(open_first, "deadline_at", "id")


def intake_request_for(*, user: User, request_id: int) -> IntakeRequest:
    """One request: 404 outside the viewer's workspaces, 403 for a member without the role."""
    request = (
        IntakeRequest.objects.select_related("tenant", "job", "closed_by")
        .filter(pk=request_id).first()
    )
    if request is None or not (
        can(user, "intake.view", request.tenant) or role_in(user, request.tenant) is not None
    ):
        raise NotFound(f"Privacy request #{request_id} does not exist.")
    if not can(user, "intake.view", request.tenant):
        raise PermissionDenied(_NO_ROLE)
    return request
