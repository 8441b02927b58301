"""Reading tenants, members, systems and staff accounts, scoped to the viewer.

Platform staff see every tenant; a tenant admin sees their own tenant's members and systems
(`member.view`, `system.view`) and nothing of another tenant, which looks missing.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from privacyops.errors import NotFound
from privacyops.tenancy.models import ApiToken, Membership, System, Tenant, User
from privacyops.tenancy.policy import tenants_visible_to


def tenant_visible(viewer: User, tenant_id: int, action: str = "system.view") -> Tenant:
    tenant = tenants_visible_to(viewer, action).filter(pk=tenant_id).first()
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} does not exist.")
    return tenant


def tenant_by_slug(slug: str) -> Tenant:
    """The CLI names tenants by slug; it runs on the server with every right."""
    tenant = Tenant.objects.filter(slug=(slug or "").strip().lower()).first()
    if tenant is None:
        raise NotFound(f"There is no tenant {slug!r}; `privacyops tenant list` shows the "
                       "tenants, `privacyops tenant create` adds one.", code="tenant_not_found")
    return tenant


def members_of(viewer: User, tenant_id: int) -> QuerySet[Membership]:
    tenant = tenant_visible(viewer, tenant_id, "member.view")
    return (Membership.objects.filter(tenant=tenant).select_related("user")
            .order_by("user__email"))


def systems_of(viewer: User, tenant_id: int) -> QuerySet[System]:
    tenant = tenant_visible(viewer, tenant_id, "system.view")
    return System.objects.filter(tenant=tenant).select_related("tenant").order_by("pk")


def system_visible(viewer: User, tenant_id: int, system_id: int) -> System:
    system = systems_of(viewer, tenant_id).filter(pk=system_id).first()
    if system is None:
        raise NotFound(f"Tenant {tenant_id} has no system {system_id}.")
    return system


def systems_all(*, tenant: Tenant | None = None) -> QuerySet[System]:
    """Every system (or one tenant's), for the CLI."""
    systems = System.objects.select_related("tenant").order_by("tenant__slug", "pk")
    return systems if tenant is None else systems.filter(tenant=tenant)


def system_by_name(name: str, *, tenant: Tenant | None = None) -> System:
    """A system named on the command line; `--tenant` is needed when the name is not unique."""
    matches = list(systems_all(tenant=tenant).filter(name=name))
    if not matches:
        where = f" in tenant {tenant.slug}" if tenant else ""
        raise NotFound(f"There is no system {name!r}{where}; `privacyops system list` shows "
                       "the systems.", code="system_not_found")
    if len(matches) > 1:
        slugs = ", ".join(s.tenant.slug for s in matches)
        raise NotFound(f"Several tenants have a system {name!r} ({slugs}); add --tenant SLUG.",
                       code="system_ambiguous")
    return matches[0]


def systems_drifted(viewer: User) -> QuerySet[System]:
    """Systems whose last live check found unmapped personal-looking columns, in the tenants
    where the viewer may see systems (the badges of Platform → Tenants and the overview)."""
    return (System.objects.filter(tenant__in=tenants_visible_to(viewer, "system.view"))
            .exclude(drift_keys=[]).select_related("tenant").order_by("tenant__name", "pk"))


def staff_accounts() -> QuerySet[User]:
    return User.objects.filter(is_staff=True).order_by("email")


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """The viewer's own personal tokens, newest first (revoked and expired ones included)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")


def token_status(token: ApiToken) -> str:
    """`revoked`, `expired` or `active`, in that order of precedence."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return "expired"
    return "active"
