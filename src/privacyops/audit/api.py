"""The audit log in the JSON API: query with cursor paging, and streamed export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from ninja import Field, Query, Router, Schema

from privacyops.api_auth import MAX_ID, NO_NUL, Moment, caller, error_responses
from privacyops.audit.selectors import (
    AuditFilters,
    audit_page,
)
from privacyops.audit.services import audit_export_start

router = Router(tags=["audit"])

ExportFormat = Literal["csv", "jsonl"]
_EXPORT_MEDIA_TYPES: dict[str, str] = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


class AuditQuery(Schema):
    """The filters shared by the query and the export."""

    tenant_id: int | None = Field(None, ge=1, le=MAX_ID)
    actor: str = Field("", max_length=200, pattern=NO_NUL,
                       description="An actor id (user id, `user:prefix` of a token) or an email.")
    action: str = Field("", max_length=60, pattern=NO_NUL, description="job.approved, hold.placed, …")
    target_type: str = Field("", max_length=40, pattern=NO_NUL)
    target_id: str = Field("", max_length=200, pattern=NO_NUL)
    outcome: Literal["success", "failure"] | None = None
    since: Moment | None = Field(None, description="Events at or after this moment; not after `until`.")
    until: Moment | None = Field(None, description="Events before this moment.")

    def filters(self) -> AuditFilters:
        return AuditFilters(
            tenant_id=self.tenant_id, actor=self.actor, action=self.action,
            target_type=self.target_type, target_id=self.target_id, outcome=self.outcome or "",
            since=self.since, until=self.until,
        )


class AuditEventOut(Schema):
    seq: int
    created_at: datetime
    tenant_id: int | None
    actor_type: str
    actor_id: str
    actor_label: str
    action: str
    target_type: str
    target_id: str
    outcome: Literal["success", "failure"]
    metadata: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPageOut(Schema):
    events: list[AuditEventOut]
    next_cursor: int | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


@router.get("/audit/events", response={200: AuditPageOut, **error_responses()},
            summary="Query audit events")
def query_events(
    request: HttpRequest,
    query: Query[AuditQuery],
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID,
                                        description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, object]:
    """Newest first, only events of tenants whose audit log the caller may read."""
    page = audit_page(caller(request).user, query.filters(), cursor=cursor, limit=limit)
    return {"events": page.events, "next_cursor": page.next_cursor}


_EXPORT_RESPONSE_DOC: dict[str, Any] = {
    "responses": {
        200: {
            "description": "The matching events, oldest first, streamed.",
            "content": {
                media_type: {"schema": {"type": "string"}}
                for media_type in _EXPORT_MEDIA_TYPES.values()
            },
        }
    }
}


@router.get("/audit/export", response=error_responses(), summary="Export audit events",
            openapi_extra=_EXPORT_RESPONSE_DOC)
def export_events(
    request: HttpRequest,
    query: Query[AuditQuery],
    format: Annotated[ExportFormat, Query(
        description="csv, or jsonl (one JSON object a line).")] = "csv",
) -> StreamingHttpResponse:
    """Same filters as the query; the export itself is recorded as `audit.exported`."""
    who = caller(request)
    chunks = audit_export_start(
        viewer=who.user, actor=who.actor, filters=query.filters(), fmt=format,
        described_filters=query.model_dump(mode="json", exclude_defaults=True),
    )
    response = StreamingHttpResponse(chunks, content_type=_EXPORT_MEDIA_TYPES[format])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        content_disposition_header(True, f"audit-{stamp}.{format}") or "attachment")
    return response
