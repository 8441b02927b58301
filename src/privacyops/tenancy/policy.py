"""The one permission policy: who may do what, in which tenant.

Every view, API handler and service asks `can()` / `require()`; no role checks elsewhere.
"""

from __future__ import annotations

from django.db.models import QuerySet

from privacyops.errors import PermissionDenied
from privacyops.tenancy.models import ADMIN_ROLES, Membership, Role, Tenant, User

# Actions a tenant role may take inside its own tenant. Platform staff may take every action.
_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.SUPER_ADMIN: frozenset({
        "job.view", "job.create.EXPORT", "job.create.ERASE", "job.create.RECTIFY",
        "job.create.RESTRICT", "job.retry",
        "hold.view", "audit.view", "audit.export",
        "gdpr.view", "gdpr.export", "gdpr.erase", "intake.view", "intake.manage",
        "member.view", "system.view",
    }),
    Role.ADMIN: frozenset({
        "job.view", "job.create.EXPORT", "job.create.RECTIFY", "job.create.RESTRICT",
        "hold.view", "audit.view", "audit.export",
        "gdpr.view", "gdpr.export", "intake.view", "intake.manage", "member.view",
        "system.view",
    }),
    Role.IT_ADMIN: frozenset({
        "job.view", "job.create.EXPORT", "hold.view", "audit.view", "audit.export",
        "gdpr.view", "gdpr.export", "intake.view", "intake.manage", "member.view",
        "system.view",
    }),
    Role.MEMBER: frozenset(),
}
_APPROVER_ACTIONS = frozenset({"job.approve", "job.reject"})
STAFF_ONLY_ACTIONS = frozenset({
    "job.create.PURGE", "hold.place", "hold.release", "audit.verify", "tenant.manage",
})
ALL_ACTIONS = (
    frozenset().union(*_ROLE_ACTIONS.values()) | _APPROVER_ACTIONS | STAFF_ONLY_ACTIONS
)

_ACTION_SENTENCES = {
    "gdpr.erase": "Erasure is super-admin only. Ask an owner to run it, or have your role elevated.",
    "job.approve": "Only platform staff approve jobs (or super-admins, if the tenant allows it).",
    "job.reject": "Only platform staff reject jobs (or super-admins, if the tenant allows it).",
    "hold.place": "Only platform staff place legal holds.",
    "hold.release": "Only platform staff release legal holds.",
    "tenant.manage": "Only platform staff manage tenants, members, systems and staff accounts.",
}


def role_in(user: User, tenant: Tenant | int) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    cache: dict[int, str] = getattr(user, "_role_cache", None) or {}
    if not cache:
        cache = dict(Membership.objects.filter(user=user).values_list("tenant_id", "role"))
        user._role_cache = cache  # type: ignore[attr-defined]
    return cache.get(tenant_id)


def can(user: User, action: str, tenant: Tenant | None) -> bool:
    """May `user` take `action` in `tenant` (None: across tenants, staff only)?"""
    if action not in ALL_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff:
        return True
    if tenant is None or action in STAFF_ONLY_ACTIONS:
        return False
    role = role_in(user, tenant)
    if role is None:
        return False
    if action in _APPROVER_ACTIONS:
        return role == Role.SUPER_ADMIN and tenant.super_admins_can_approve
    return action in _ROLE_ACTIONS[role]


def require(user: User, action: str, tenant: Tenant | None) -> None:
    if not can(user, action, tenant):
        raise PermissionDenied(
            _ACTION_SENTENCES.get(action, "Your role does not allow this action."),
            action=action,
        )


def tenants_visible_to(user: User, action: str = "job.view") -> QuerySet[Tenant]:
    """Tenants in which `user` may take `action`: the scope of every tenant-bound selector."""
    if not user.is_authenticated or not user.is_active:
        return Tenant.objects.none()
    if user.is_staff:
        return Tenant.objects.all()
    roles = [r for r, actions in _ROLE_ACTIONS.items() if action in actions]
    return Tenant.objects.filter(memberships__user=user, memberships__role__in=roles)


def has_any_admin_role(user: User) -> bool:
    if not user.is_authenticated:
        return False
    return user.is_staff or Membership.objects.filter(user=user, role__in=ADMIN_ROLES).exists()
