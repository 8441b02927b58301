"""Tenants and personal API tokens in the JSON API."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from privacyops.api_auth import NOT_BLANK, Id, caller, error_responses
from privacyops.errors import PermissionDenied
from privacyops.tenancy.models import ApiToken, Tenant
from privacyops.tenancy.policy import tenants_visible_to
from privacyops.tenancy.selectors import api_tokens_of, token_status
from privacyops.tenancy.services import MAX_TOKEN_DAYS, api_token_create, api_token_revoke

router = Router(tags=["tenants"])


class TenantOut(Schema):
    id: int
    slug: str
    name: str
    approval_required_types: list[str]
    super_admins_can_approve: bool
    response_deadline_days: int
    created_at: datetime


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


@router.get("/tenants", response={200: list[TenantOut], **error_responses()},
            summary="List tenants")
def list_tenants(request: HttpRequest) -> QuerySet[Tenant]:
    """Tenants whose jobs the caller may see: every tenant for platform staff."""
    return tenants_visible_to(caller(request).user)


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
