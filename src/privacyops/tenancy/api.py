"""Tenants and personal API tokens in the JSON API."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from privacyops.api_auth import NOT_BLANK, caller, error_responses
from privacyops.errors import PermissionDenied
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.policy import tenants_visible_to
from privacyops.tenancy.services import api_token_create

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


class TokenCreatedOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters; shown in lists and the audit log.")
    token: str = Field(description="The token itself. It is shown only in this response.")
    created_at: datetime


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
    token, raw = api_token_create(user=who.user, name=payload.name, actor=who.actor)
    return Status(201, {"id": token.pk, "name": token.name, "prefix": token.prefix,
                        "token": raw, "created_at": token.created_at})
