"""Reading holds: what a viewer may see, and which holds cover a target."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet
from django.utils import timezone

from privacyops.errors import ValidationFailed
from privacyops.holds.models import LegalHold, LegalHoldQuerySet
from privacyops.tenancy.models import User
from privacyops.tenancy.policy import tenants_visible_to

# Answers "do the target's data and this (scope type, scope id)'s overlap?" — supplied by the
# execution layer, which knows the data map: False/None (no), True or a sentence saying why
# (yes). None instead of a function means "only direct and tenant coverage".
Reach = Callable[[str, str], "bool | str | None"]


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


COVERS_BY_NAME = "it names this target"
COVERS_BY_TENANT = "it holds the whole tenant"


def hold_coverage(
    *, tenant_id: int, target_type: str, target_id: str, reach: Reach | None = None
) -> list[tuple[LegalHold, str]]:
    """Active holds that cover a target, oldest first, each with why it covers it: it names
    the target, or its tenant, or `reach` (the data-map answer) says their data overlap."""
    covering: list[tuple[LegalHold, str]] = []
    for hold in LegalHold.objects.in_force().filter(tenant_id=tenant_id).order_by("pk"):
        why: str | None = None
        if hold.scope_type == "tenant":
            why = COVERS_BY_TENANT
        elif hold.scope_type == target_type and hold.scope_id == target_id:
            why = COVERS_BY_NAME
        elif reach is not None:
            answer = reach(hold.scope_type, hold.scope_id)
            why = answer if isinstance(answer, str) else (
                "the target reaches what it holds" if answer else None)
        if why:
            covering.append((hold, why))
    return covering


def holds_covering(
    *, tenant_id: int, target_type: str, target_id: str, reach: Reach | None = None
) -> list[LegalHold]:
    """Active holds that cover a target: by naming it, its tenant, or anything it reaches."""
    return [hold for hold, _why in hold_coverage(tenant_id=tenant_id, target_type=target_type,
                                                 target_id=target_id, reach=reach)]


NO_DATA_TODAY = "matches no data today"


def hold_matches_data(hold: LegalHold) -> bool | None:
    """Whether any row has the held id today (None: released, expired, or nothing to ask).

    A hold on data that does not exist yet is allowed, but the page and the API say so, so a
    mistyped id is noticed before it is relied on.
    """
    from privacyops.errors import DomainError
    from privacyops.execution.targets import target_resolve

    if not hold.in_force or hold.scope_type == IDENTITY_SCOPE:
        return None
    try:
        return target_resolve(tenant=hold.tenant, target_type=hold.scope_type,
                              target_id=hold.scope_id).exists
    except DomainError:  # the datastore does not answer: say nothing rather than guess
        return None


# A hold on a person by identity ("email ada@example.com"): it covers whatever each system
# resolves that identity to, in every system of the tenant.
IDENTITY_SCOPE = "identity"


def identity_scope_id(text: str) -> str:
    """The canonical text of an identity hold's scope id: ``<field> <value>``, the value in
    canonical form (NFKC, trimmed, an email lower-cased); ``field=value`` is accepted too."""
    from privacyops.connectors.base import canonical_identity

    raw = (text or "").strip()
    name, sep, value = raw.partition(" ") if " " in raw else raw.partition("=")
    if not sep and "@" in raw:
        name, value = "email", raw
    canonical = canonical_identity({name.strip().rstrip(":"): value})
    if len(canonical) != 1:
        raise ValidationFailed(
            'An identity hold names one identity field and its value, e.g. '
            '"email ada@example.com".', field="scope_id")
    (field, canonical_value), = canonical.items()
    return f"{field} {canonical_value}"


def identity_of_hold(hold: LegalHold) -> dict[str, str]:
    field, _sep, value = hold.scope_id.partition(" ")
    return {field: value}


def identity_holds(*, tenant_id: int) -> list[LegalHold]:
    return list(LegalHold.objects.in_force().filter(tenant_id=tenant_id,
                                                    scope_type=IDENTITY_SCOPE).order_by("pk"))


def identity_hold_covering(*, tenant_id: int, identity: dict[str, str]) -> LegalHold | None:
    """An identity hold naming one of these identity values (canonical form), if any."""
    wanted = {f"{field} {value}" for field, value in identity.items()}
    for hold in identity_holds(tenant_id=tenant_id):
        if hold.scope_id in wanted:
            return hold
    return None
