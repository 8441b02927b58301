"""Tenants, their members and systems, and personal API tokens in the JSON API.

Writes are platform staff's; a tenant admin may read their own tenant, its members and its
systems. Another tenant answers 404, like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status

from privacyops.api_auth import MAX_ID, NOT_BLANK, Id, caller, error_responses
from privacyops.errors import PermissionDenied
from privacyops.tenancy.models import ApiToken, Membership, System, Tenant
from privacyops.tenancy.policy import tenants_visible_to
from privacyops.tenancy.selectors import (
    api_tokens_of,
    members_of,
    system_visible,
    systems_of,
    tenant_visible,
    token_status,
)
from privacyops.tenancy.services import (
    MAX_TOKEN_DAYS,
    api_token_create,
    api_token_revoke,
    member_add,
    member_remove,
    member_role_set,
    system_add,
    system_remove,
    system_update,
    tenant_activate,
    tenant_create,
    tenant_deactivate,
    tenant_update,
)

router = Router(tags=["tenants"])

TenantId = Annotated[int, Path(ge=1, le=MAX_ID, description="The tenant's id.")]
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The member's user id.")]
SystemId = Annotated[int, Path(ge=1, le=MAX_ID, description="The system's id.")]
RoleName = Literal["super-admin", "admin", "it-admin", "member"]
JobTypeName = Literal["EXPORT", "ERASE", "PURGE"]
SLUG = r"^[a-z0-9][a-z0-9-]*$"
_WRITE_ERRORS = error_responses(403, 404, 409)


class TenantOut(Schema):
    id: int
    slug: str
    name: str
    is_active: bool
    approval_required_types: list[str]
    super_admins_can_approve: bool
    response_deadline_days: int
    audit_retention_days: int
    privacy_contact_email: str
    reply_to_email: str
    default_language: str
    created_at: datetime


class TenantCreateIn(Schema):
    slug: str = Field(min_length=1, max_length=63, pattern=SLUG,
                      description="Lower-case letters, digits and hyphens; taken once.")
    name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    privacy_contact_email: str = Field("", max_length=254)


class TenantUpdateIn(Schema):
    """Only the fields sent are changed."""

    name: str | None = Field(None, min_length=1, max_length=200, pattern=NOT_BLANK)
    approval_required_types: list[JobTypeName] | None = None
    super_admins_can_approve: bool | None = None
    audit_retention_days: int | None = Field(None, ge=30, le=3650)
    privacy_contact_email: str | None = Field(None, max_length=254)
    reply_to_email: str | None = Field(None, max_length=254,
                                       description="Where data subjects' replies go.")
    default_language: str | None = Field(
        None, max_length=8,
        description="Language of the public pages and emails when the browser asks for none "
                    "offered: en or de.")


class MemberOut(Schema):
    user_id: int
    email: str
    full_name: str
    role: str
    is_active: bool

    @staticmethod
    def from_membership(membership: Membership) -> dict[str, object]:
        user = membership.user
        return {"user_id": user.pk, "email": user.email, "full_name": user.full_name,
                "role": membership.role, "is_active": user.is_active}


class MemberAddedOut(MemberOut):
    initial_password: str | None = Field(
        None, description="Set when the person had no account: its first password, shown only "
                          "in this response.")


class MemberAddIn(Schema):
    email: str = Field(min_length=3, max_length=254, pattern=NOT_BLANK)
    role: RoleName
    full_name: str = Field("", max_length=200)


class MemberRoleIn(Schema):
    role: RoleName


class SystemOut(Schema):
    id: int
    tenant_id: int
    name: str
    connector_type: str
    datamap_name: str
    connection_ref: str = Field(description="The environment variable (or per-tenant template) "
                                            "the data map reads the URL from; empty when the "
                                            "map holds a SQLite file's URL.")
    datastore_key: str
    created_at: datetime
    drift_checked_at: datetime | None = Field(
        None, description="When the live check last ran (`system test` or the daily check).")
    drift_keys: list[str] = Field(
        default_factory=list, description="Tables and columns (`table.column`) that look "
        "personal but are not in the data map, as of that check; empty: no drift.")


class SystemAddIn(Schema):
    name: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK)
    connector_type: Literal["sql", "http", "manual"] = Field(
        "sql", description="`sql` (a database), `http` (a service described by an HTTP map) "
        "or `manual` (a person does each step); it must match the map's `connector:`.")
    datamap_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                              description="A data-map file in PRIVACYOPS_DATAMAP_DIR, "
                                          "without `.yaml`.")
    datastore_key: str = Field("", max_length=200)


class SystemUpdateIn(Schema):
    name: str | None = Field(None, min_length=1, max_length=100, pattern=NOT_BLANK)
    datamap_name: str | None = Field(None, min_length=1, max_length=100,
                                     pattern=r"^[A-Za-z0-9_.-]+$")
    datastore_key: str | None = Field(None, max_length=200)


class TokenCreateIn(Schema):
    name: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK,
                      description="What the token is for, e.g. `nightly export script`.")
    expires_in_days: int | None = Field(
        default=None, ge=1, le=MAX_TOKEN_DAYS,
        description="Days until the token stops working; leave out for no expiry.")


class TokenCreatedOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters; shown in lists and the audit log.")
    token: str = Field(description="The token itself. It is shown only in this response.")
    created_at: datetime
    expires_at: datetime | None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters of the token (never the token).")
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str = Field(description="`active`, `expired` or `revoked`.")

    @staticmethod
    def resolve_status(token: ApiToken) -> str:
        return token_status(token)


# --- tenants --------------------------------------------------------------------------------

@router.get("/tenants", response={200: list[TenantOut], **error_responses()},
            summary="List tenants")
def list_tenants(request: HttpRequest) -> QuerySet[Tenant]:
    """Tenants whose jobs the caller may see: every tenant for platform staff."""
    return tenants_visible_to(caller(request).user)


@router.post("/tenants", response={201: TenantOut, **error_responses(403, 409)},
             summary="Create a tenant")
def create_tenant(request: HttpRequest, payload: TenantCreateIn) -> Status[Tenant]:
    """Platform staff only. A slug that exists answers 409 and changes nothing."""
    tenant = tenant_create(slug=payload.slug, name=payload.name,
                           privacy_contact_email=payload.privacy_contact_email,
                           actor=caller(request).actor)
    return Status(201, tenant)


@router.get("/tenants/{tenant_id}", response={200: TenantOut, **error_responses(404)},
            summary="Get a tenant")
def get_tenant(request: HttpRequest, tenant_id: TenantId) -> Tenant:
    return tenant_visible(caller(request).user, tenant_id)


@router.patch("/tenants/{tenant_id}", response={200: TenantOut, **_WRITE_ERRORS},
              summary="Change a tenant's name or policy")
def update_tenant(request: HttpRequest, tenant_id: TenantId, payload: TenantUpdateIn) -> Tenant:
    who = caller(request)
    tenant_visible(who.user, tenant_id)
    return tenant_update(tenant_id=tenant_id, actor=who.actor, **payload.dict(exclude_unset=True))


@router.post("/tenants/{tenant_id}/deactivate", response={200: TenantOut, **_WRITE_ERRORS},
             summary="Deactivate a tenant")
def deactivate_tenant(request: HttpRequest, tenant_id: TenantId) -> Tenant:
    """The tenant takes no new jobs; its jobs, holds, audit and systems stay."""
    who = caller(request)
    tenant_visible(who.user, tenant_id)
    return tenant_deactivate(tenant_id=tenant_id, actor=who.actor)


@router.post("/tenants/{tenant_id}/activate", response={200: TenantOut, **_WRITE_ERRORS},
             summary="Reactivate a tenant")
def activate_tenant(request: HttpRequest, tenant_id: TenantId) -> Tenant:
    who = caller(request)
    tenant_visible(who.user, tenant_id)
    return tenant_activate(tenant_id=tenant_id, actor=who.actor)


# --- members --------------------------------------------------------------------------------

@router.get("/tenants/{tenant_id}/members", response={200: list[MemberOut],
                                                     **error_responses(404)},
            summary="List a tenant's members")
def list_members(request: HttpRequest, tenant_id: TenantId) -> list[dict[str, object]]:
    return [MemberOut.from_membership(m) for m in members_of(caller(request).user, tenant_id)]


@router.post("/tenants/{tenant_id}/members", response={201: MemberAddedOut, **_WRITE_ERRORS},
             summary="Add a member")
def add_member(request: HttpRequest, tenant_id: TenantId,
               payload: MemberAddIn) -> Status[dict[str, object]]:
    """A person without an account gets one, with a first password shown once here."""
    who = caller(request)
    tenant_visible(who.user, tenant_id, "member.view")
    added = member_add(tenant_id=tenant_id, email=payload.email, role=payload.role,
                       full_name=payload.full_name, actor=who.actor)
    return Status(201, {**MemberOut.from_membership(added.membership),
                        "initial_password": added.initial_password})


@router.patch("/tenants/{tenant_id}/members/{user_id}",
              response={200: MemberOut, **_WRITE_ERRORS}, summary="Change a member's role")
def change_member_role(request: HttpRequest, tenant_id: TenantId, user_id: UserId,
                       payload: MemberRoleIn) -> dict[str, object]:
    who = caller(request)
    tenant_visible(who.user, tenant_id, "member.view")
    membership = member_role_set(tenant_id=tenant_id, user_id=user_id, role=payload.role,
                                 actor=who.actor)
    return MemberOut.from_membership(membership)


@router.delete("/tenants/{tenant_id}/members/{user_id}",
               response={204: None, **_WRITE_ERRORS}, summary="Remove a member")
def remove_member(request: HttpRequest, tenant_id: TenantId, user_id: UserId) -> Status[None]:
    """The account stays (other tenants, history); only the role in this tenant goes."""
    who = caller(request)
    tenant_visible(who.user, tenant_id, "member.view")
    member_remove(tenant_id=tenant_id, user_id=user_id, actor=who.actor)
    return Status(204, None)


# --- systems --------------------------------------------------------------------------------

@router.get("/tenants/{tenant_id}/systems", response={200: list[SystemOut],
                                                     **error_responses(404)},
            summary="List a tenant's systems")
def list_systems(request: HttpRequest, tenant_id: TenantId) -> QuerySet[System]:
    return systems_of(caller(request).user, tenant_id)


@router.post("/tenants/{tenant_id}/systems", response={201: SystemOut, **_WRITE_ERRORS},
             summary="Add a system")
def add_system(request: HttpRequest, tenant_id: TenantId, payload: SystemAddIn) -> Status[System]:
    """The data map must already be in PRIVACYOPS_DATAMAP_DIR; it is validated now."""
    who = caller(request)
    tenant_visible(who.user, tenant_id)
    system = system_add(tenant_id=tenant_id, name=payload.name,
                        connector_type=payload.connector_type,
                        datamap_name=payload.datamap_name, datastore_key=payload.datastore_key,
                        actor=who.actor)
    return Status(201, system)


@router.get("/tenants/{tenant_id}/systems/{system_id}",
            response={200: SystemOut, **error_responses(404)}, summary="Get a system")
def get_system(request: HttpRequest, tenant_id: TenantId, system_id: SystemId) -> System:
    return system_visible(caller(request).user, tenant_id, system_id)


@router.patch("/tenants/{tenant_id}/systems/{system_id}",
              response={200: SystemOut, **_WRITE_ERRORS}, summary="Change a system")
def update_system(request: HttpRequest, tenant_id: TenantId, system_id: SystemId,
                  payload: SystemUpdateIn) -> System:
    who = caller(request)
    system_visible(who.user, tenant_id, system_id)
    return system_update(tenant_id=tenant_id, system_id=system_id, actor=who.actor,
                         **payload.dict(exclude_unset=True))


@router.delete("/tenants/{tenant_id}/systems/{system_id}",
               response={204: None, **_WRITE_ERRORS}, summary="Remove a system")
def remove_system(request: HttpRequest, tenant_id: TenantId, system_id: SystemId) -> Status[None]:
    """The datastore and its data-map file are left untouched."""
    who = caller(request)
    system_visible(who.user, tenant_id, system_id)
    system_remove(tenant_id=tenant_id, system_id=system_id, actor=who.actor)
    return Status(204, None)


# --- tokens ---------------------------------------------------------------------------------

@router.post("/tokens", response={201: TokenCreatedOut, **error_responses(403)},
             tags=["tokens"], summary="Create a personal API token")
def create_token(request: HttpRequest, payload: TokenCreateIn) -> Status[dict[str, object]]:
    """From a signed-in session only; the raw token is in this response and nowhere else."""
    who = caller(request)
    if who.by_token:
        raise PermissionDenied(
            "An API token cannot create tokens. Sign in and create it from your session, "
            "or run `privacyops manage token create` on the server.",
            code="session_required",
        )
    token, raw = api_token_create(user=who.user, name=payload.name, actor=who.actor,
                                  expires_in_days=payload.expires_in_days)
    return Status(201, {"id": token.pk, "name": token.name, "prefix": token.prefix,
                        "token": raw, "created_at": token.created_at,
                        "expires_at": token.expires_at})


@router.get("/tokens", response={200: list[TokenOut], **error_responses()},
            tags=["tokens"], summary="List my API tokens")
def list_tokens(request: HttpRequest) -> QuerySet[ApiToken]:
    """The caller's own personal tokens, newest first, with when each was last used."""
    return api_tokens_of(caller(request).user)


@router.delete("/tokens/{token_id}", response={204: None, **error_responses(404, 409)},
               tags=["tokens"], summary="Revoke one of my API tokens")
def revoke_token(request: HttpRequest, token_id: Id) -> Status[None]:
    """The token answers 401 from now on. Another person's token answers 404."""
    api_token_revoke(token_id=token_id, actor=caller(request).actor)
    return Status(204, None)
