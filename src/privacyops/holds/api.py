"""Legal holds in the JSON API: place, list, release."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status

from privacyops.api_auth import (
    MAX_ID,
    NO_NUL,
    NOT_BLANK,
    Id,
    Moment,
    caller,
    error_responses,
    tenant_in_reach,
)
from privacyops.errors import NotFound
from privacyops.holds.models import LegalHold
from privacyops.holds.selectors import (
    NO_DATA_TODAY,
    hold_matches_data,
    holds_filtered,
    holds_visible_to,
)
from privacyops.holds.services import hold_place, hold_release

router = Router(tags=["holds"])

HoldId = Annotated[int, Path(ge=1, le=MAX_ID, description="The legal hold's id.")]
HoldState = Literal["active", "expired", "released"]


class HoldPlaceIn(Schema):
    tenant_id: Id
    scope_type: str = Field(min_length=1, max_length=40, pattern=NOT_BLANK,
                            description="A scope type the tenant's data map declares: tenant, "
                            "subject, or another (issuer, …); anything else answers 422.")
    scope_id: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK,
                          description="Stored as the datastore spells the primary key "
                          "(\"027\" becomes \"27\"). An id that matches no data today is "
                          "accepted; the answer says so in data_note.")
    reason: str = Field(min_length=1, max_length=2000, pattern=NOT_BLANK)
    expires_at: Moment | None = Field(None, description="Optional; the hold lapses by itself then.")


class HoldReleaseIn(Schema):
    reason: str = Field(max_length=2000, pattern=NOT_BLANK, description="Why the hold ends.")


class HoldOut(Schema):
    id: int
    tenant_id: int
    tenant_name: str
    scope_type: str
    scope_id: str
    reason: str
    state: HoldState
    active: bool
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    released_by: str | None
    released_at: datetime | None
    release_reason: str
    matches_data: bool | None = Field(
        None, description="Whether any row has the held id today; null when the hold is not in "
        "force or the datastore did not answer. A hold may name data that does not exist yet.")
    data_note: str = Field("", description='"matches no data today" when matches_data is false.')

    @staticmethod
    def resolve_matches_data(hold: LegalHold) -> bool | None:
        return hold_matches_data(hold)

    @staticmethod
    def resolve_data_note(hold: LegalHold) -> str:
        return NO_DATA_TODAY if hold_matches_data(hold) is False else ""

    @staticmethod
    def resolve_tenant_name(hold: LegalHold) -> str:
        return hold.tenant.name

    @staticmethod
    def resolve_created_by(hold: LegalHold) -> str:
        return hold.created_by.email

    @staticmethod
    def resolve_released_by(hold: LegalHold) -> str | None:
        return hold.released_by.email if hold.released_by_id and hold.released_by else None


class HoldPage(Schema):
    items: list[HoldOut]
    count: int


@router.post("/holds", response={201: HoldOut, **error_responses(403, 404, 409, 503)},
             summary="Place a legal hold")
def place_hold(request: HttpRequest, payload: HoldPlaceIn) -> Status[LegalHold]:
    """Once this answers, no ERASE or PURGE writes to the held data."""
    who = caller(request)
    tenant_in_reach(who.user, payload.tenant_id)
    hold = hold_place(tenant_id=payload.tenant_id, scope_type=payload.scope_type,
                      scope_id=payload.scope_id, reason=payload.reason,
                      expires_at=payload.expires_at, actor=who.actor)
    return Status(201, hold)


@router.get("/holds", response={200: HoldPage, **error_responses()}, summary="List legal holds")
def list_holds(
    request: HttpRequest,
    state: HoldState | None = None,
    scope_type: Annotated[str, Query(max_length=40, pattern=NO_NUL)] = "",
    tenant_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, object]:
    """Newest first, only in tenants whose holds the caller may see."""
    holds = holds_filtered(caller(request).user, state=state or "", scope_type=scope_type,
                           tenant_id=tenant_id)
    return {"items": list(holds[offset : offset + limit]), "count": holds.count()}


@router.post("/holds/{hold_id}/release", response={200: HoldOut, **error_responses(403, 404, 409)},
             summary="Release a legal hold")
def release_hold(request: HttpRequest, hold_id: HoldId, payload: HoldReleaseIn) -> LegalHold:
    who = caller(request)
    if not holds_visible_to(who.user).filter(pk=hold_id).exists():
        raise NotFound(f"Legal hold {hold_id} does not exist.")  # another tenant's hold too
    return hold_release(hold_id=hold_id, reason=payload.reason, actor=who.actor)
