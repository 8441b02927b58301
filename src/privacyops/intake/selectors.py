"""Reads: which workspace a public form belongs to, and the operator queue scoped to the viewer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from privacyops.errors import NotFound, PermissionDenied
from privacyops.intake.models import DUE_SOON_DAYS, OPEN_STATUSES, IntakeRequest, RequestEvent
from privacyops.jobs.models import Job
from privacyops.tenancy.models import Tenant, User
from privacyops.tenancy.policy import can, role_in, tenants_visible_to
from privacyops.web.lists import Column, Sorting

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
    status: str = ""  # a status, or "open" for received + verified + in progress
    request_type: str = ""
    verified: str = ""  # "yes", "no" or ""
    overdue: bool = False
    tenant_slug: str = ""
    tenant_id: int | None = None
    assignee: str = ""  # a user id, "me" (with `viewer_id`) or "none"
    due: str = ""  # "overdue" or "7d"
    viewer_id: int | None = None
    sort: str = ""


# Columns the queue sorts by (`?sort=key`, `-key` descending); ties break on the deadline and id.
QUEUE_SORTING = Sorting(columns=(
    Column("id", "Request", ("id",)),
    Column("workspace", "Workspace", ("tenant__name", "deadline_at", "id")),
    Column("type", "Type", ("request_type", "deadline_at", "id")),
    Column("received", "Received", ("submitted_at", "id")),
    Column("deadline", "Deadline", ("deadline_at", "id")),
    Column("verification", "Verification", ("verified_at", "deadline_at", "id")),
    Column("status", "Status", ("status", "deadline_at", "id")),
    Column("assignee", "Assignee", ("assignee__email", "deadline_at", "id")),
), default="")
SORTS = frozenset(key for c in QUEUE_SORTING.columns for key in (c.key, f"-{c.key}"))


def intake_tenants_for(user: User) -> QuerySet[Tenant]:
    tenants = tenants_visible_to(user, "intake.view")
    if not tenants.exists():
        raise PermissionDenied(_NO_ROLE)
    return tenants.order_by("name")


def requests_filtered(queryset: QuerySet[IntakeRequest],
                      filters: QueueFilters) -> QuerySet[IntakeRequest]:
    now = timezone.now()
    if filters.status == "open":
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.request_type:
        queryset = queryset.filter(request_type=filters.request_type)
    if filters.verified == "yes":
        queryset = queryset.filter(verified_at__isnull=False)
    elif filters.verified == "no":
        queryset = queryset.filter(verified_at__isnull=True)
    if filters.overdue or filters.due == "overdue":
        queryset = queryset.filter(status__in=OPEN_STATUSES, deadline_at__lt=now)
    elif filters.due == "7d":
        queryset = queryset.filter(status__in=OPEN_STATUSES, deadline_at__gte=now,
                                   deadline_at__lt=now + timedelta(days=DUE_SOON_DAYS))
    if filters.tenant_slug:
        queryset = queryset.filter(tenant__slug=filters.tenant_slug)
    if filters.tenant_id is not None:
        queryset = queryset.filter(tenant_id=filters.tenant_id)
    if filters.assignee == "none":
        queryset = queryset.filter(assignee__isnull=True)
    elif filters.assignee == "me":
        queryset = queryset.filter(assignee_id=filters.viewer_id)
    elif filters.assignee.isdigit():
        number = int(filters.assignee)  # beyond a 64-bit id nobody is assigned (no overflow)
        queryset = (queryset.filter(assignee_id=number) if number < 2**63
                    else queryset.none())
    if filters.sort in SORTS:
        return queryset.order_by(*QUEUE_SORTING.order(filters.sort))
    open_first = Case(When(status__in=OPEN_STATUSES, then=Value(0)), default=Value(1),
                      output_field=IntegerField())
    return queryset.order_by(open_first, "deadline_at", "id")


def intake_requests_for(*, user: User, filters: QueueFilters) -> QuerySet[IntakeRequest]:
    """The queue the viewer may see: open requests first, soonest deadline first."""
    tenants = intake_tenants_for(user)
    queryset = IntakeRequest.objects.filter(tenant__in=tenants).select_related(
        "tenant", "job", "assignee", "duplicate_of")
    return requests_filtered(queryset, filters)


def requests_visible(user: User) -> QuerySet[IntakeRequest]:
    """Every request the user may see (none for a member: the queue is for handlers)."""
    return IntakeRequest.objects.filter(
        tenant__in=tenants_visible_to(user, "intake.view")).select_related(
        "tenant", "assignee", "duplicate_of")


def intake_request_for(*, user: User, request_id: int) -> IntakeRequest:
    """One request: 404 outside the viewer's workspaces, 403 for a member without the role."""
    request = (
        IntakeRequest.objects.select_related("tenant", "job", "closed_by", "assignee",
                                             "duplicate_of")
        .filter(pk=request_id).first()
    )
    if request is None or not (
        can(user, "intake.view", request.tenant) or role_in(user, request.tenant) is not None
    ):
        raise NotFound(f"Privacy request #{request_id} does not exist.")
    if not can(user, "intake.view", request.tenant):
        raise PermissionDenied(_NO_ROLE)
    return request


def request_get(user: User, request_id: int) -> IntakeRequest:
    """For the API: a request the user may not see answers 404, like one that does not exist."""
    request = requests_visible(user).filter(pk=request_id).first()
    if request is None:
        raise NotFound(f"Privacy request #{request_id} does not exist.")
    return request


def request_jobs(request: IntakeRequest) -> list[Job]:
    """The request's jobs, each with the person it is about (`job.person`)."""
    from privacyops.execution.people import jobs_with_people

    return jobs_with_people(Job.objects.filter(request=request).select_related("tenant")
                            .order_by("pk"))


def request_timeline(request: IntakeRequest) -> list[RequestEvent]:
    return list(request.events.order_by("at", "pk"))


def assignable_users(request: IntakeRequest) -> list[User]:
    """Who may be given the request: platform staff and its workspace's handlers."""
    candidates = User.objects.filter(is_active=True).filter(
        Q(is_staff=True) | Q(memberships__tenant=request.tenant)).distinct().order_by("email")
    return [user for user in candidates if can(user, "intake.manage", request.tenant)]
