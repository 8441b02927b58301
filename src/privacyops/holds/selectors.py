"""Reading holds: what a viewer may see, and which holds cover a target."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet
from django.utils import timezone

from privacyops.errors import ValidationFailed
from privacyops.holds.models import LegalHold, LegalHoldQuerySet
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import tenants_visible_to

# Answers "does the target's traversal reach this (scope type, scope id)?" — supplied by the
# execution layer, which knows the data map; None means "only direct and tenant coverage".
Reach = Callable[[str, str], bool]


def holds_visible_to(viewer: User) -> LegalHoldQuerySet:
    tenants = tenants_visible_to(viewer, "hold.view")
    return LegalHold.objects.filter(tenant__in=tenants).select_related(  # type: ignore[return-value]
        "tenant", "created_by", "released_by"
    )


def holds_filtered(
    viewer: User, *, state: str = "", scope_type: str = "", tenant_id: int | None = None
) -> QuerySet[LegalHold]:
    holds = holds_visible_to(viewer)
    now = timezone.now()
    if state == "active":
        holds = holds.in_force()
    elif state == "expired":
        holds = holds.filter(active=True, expires_at__lte=now)
    elif state == "released":
        holds = holds.filter(active=False)
    elif state:
        raise ValidationFailed("state must be active, expired or released.", field="state")
    if scope_type:
        holds = holds.filter(scope_type=scope_type)
    if tenant_id is not None:
        holds = holds.filter(tenant_id=tenant_id)
    return holds


def holds_covering(
    *, tenant_id: int, target_type: str, target_id: str, reach: Reach | None = None
) -> list[LegalHold]:
    """Active holds that cover a target: by naming it, its tenant, or anything it reaches."""
    covering: list[LegalHold] = []
    for hold in LegalHold.objects.in_force().filter(tenant_id=tenant_id).order_by("pk"):
        if hold.scope_type == "tenant":
            covering.append(hold)
        elif hold.scope_type == target_type and hold.scope_id == target_id:
            covering.append(hold)
        elif reach is not None and reach(hold.scope_type, hold.scope_id):
            covering.append(hold)
    return covering


NO_DATA_TODAY = "matches no data today"


def hold_matches_data(hold: LegalHold) -> bool | None:
    """Whether any row has the held id today (None: released, expired, or nothing to ask).

    A hold on data that does not exist yet is allowed, but the page and the API say so, so a
    mistyped id is noticed before it is relied on.
    """
    from privacyops.errors import DomainError
    from privacyops.execution.targets import target_resolve

    if not hold.in_force:
        return None
    try:
        return target_resolve(tenant=hold.tenant, target_type=hold.scope_type,
                              target_id=hold.scope_id).exists
    except DomainError:  # the datastore does not answer: say nothing rather than guess
        return None
