"""Privacy requests in the JSON API: file one for a person, list the queue, read one with its
jobs, and the operator's actions (verify, assign, fulfil, extend, reject, close, withdraw).

A request filed here comes from an application that authenticated its user, or an operator
acting for a person: it starts verified. Who may see and act follows the one policy
(`intake.view` / `intake.manage`): a workspace's super-admins, admins and IT admins, and
platform staff; another workspace's requests answer 404.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status

from privacyops.api_auth import MAX_ID, NO_NUL, NOT_BLANK, Id, caller, error_responses
from privacyops.intake import selectors, services
from privacyops.intake.models import Channel, IntakeRequest, RequestStatus, RequestType

router = Router(tags=["privacy requests"])

RequestId = Annotated[int, Path(ge=1, le=MAX_ID, description="The request's id.")]
TypeName = Literal["access", "portability", "erasure", "correction", "restriction", "objection"]
StatusName = Literal["open", "received", "verified", "in_progress", "completed", "rejected",
                     "withdrawn", "merged"]
SortName = Literal["", "id", "-id", "workspace", "-workspace", "type", "-type", "received",
                   "-received", "deadline", "-deadline", "verification", "-verification",
                   "status", "-status", "assignee", "-assignee"]
if (set(RequestType.values) != set(get_args(TypeName))
        or set(RequestStatus.values) | {"open"} != set(get_args(StatusName))
        or {"", *selectors.SORTS} != set(get_args(SortName))):
    raise ImportError("the API's request types, statuses or sorts differ from the model's")


class RequestCreateIn(Schema):
    tenant_id: Id
    type: TypeName
    email: str = Field(..., min_length=3, max_length=254, pattern=NO_NUL)
    name: str = Field("", max_length=200, pattern=NO_NUL)
    details: str = Field("", max_length=5000, pattern=NO_NUL)
    identifiers: dict[Annotated[str, Field(max_length=50, pattern=NO_NUL)],
                      Annotated[str, Field(max_length=200, pattern=NO_NUL)]] = Field(
        default_factory=dict, max_length=20,
        description="Other identifiers the person gave (customer number, phone…).")
    language: str = Field("", max_length=16, pattern=r"^[A-Za-z-]*$",
                          description="The person's language for emails (e.g. `de`); empty: "
                          "the workspace's default.")


class RequestJobOut(Schema):
    id: int
    type: str
    status: str
    error_code: str
    error_message: str


class RequestOut(Schema):
    id: int
    reference: str
    tenant_id: int
    type: str
    status: str
    channel: str
    email: str = Field(description="Empty once an erasure request completed (minimised).")
    name: str
    language: str
    received_at: datetime
    verified_at: datetime | None
    deadline: datetime
    original_deadline: datetime
    extension_reason: str
    rejection_reason: str
    assignee_id: int | None
    duplicate_of: str | None = Field(description="The reference of the open request this one "
                                     "seems to repeat, until an operator merges or keeps it.")
    jobs: list[RequestJobOut]


class RequestPage(Schema):
    items: list[RequestOut]
    count: int


class AssignIn(Schema):
    assignee_id: Id | None = Field(None, description="A handler's user id; null unassigns.")


class ExtendIn(Schema):
    new_deadline: date
    reason: str = Field(..., min_length=1, max_length=2000, pattern=NOT_BLANK)


class ReasonIn(Schema):
    reason: str = Field(..., min_length=1, max_length=2000, pattern=NOT_BLANK)


class OutcomeIn(Schema):
    outcome: str = Field(..., min_length=1, max_length=5000, pattern=NOT_BLANK)


class FulfilIn(Schema):
    changes: dict[str, Any] | None = Field(
        None, description="A correction's corrected values, {field: value} (the subject's "
        "rectifiable fields); creates a RECTIFY job.")
    lift: bool | None = Field(
        None, description="A restriction's RESTRICT job: false restricts, true lifts.")
    system: str | None = Field(
        None, max_length=200, description="With `changes` or `lift`: the SQL system to "
        "correct or restrict in (its name); default the workspace's first SQL system.")


class WithdrawIn(Schema):
    reason: str = Field("", max_length=2000, pattern=NO_NUL)


def _out(request: IntakeRequest) -> dict[str, Any]:
    jobs = sorted(request.jobs.all(), key=lambda job: job.pk)  # prefetched by the list
    return {
        "id": request.pk, "reference": request.reference, "tenant_id": request.tenant_id,
        "type": request.request_type, "status": request.status, "channel": request.channel,
        "email": request.email, "name": request.name, "language": request.language,
        "received_at": request.submitted_at, "verified_at": request.verified_at,
        "deadline": request.deadline_at, "original_deadline": request.original_deadline_at,
        "extension_reason": request.extension_reason,
        "rejection_reason": request.rejection_reason, "assignee_id": request.assignee_id,
        "duplicate_of": request.duplicate_of.reference if request.is_duplicate
        and request.duplicate_of else None,
        "jobs": [{"id": job.pk, "type": job.job_type, "status": job.status_label,
                  "error_code": job.error_code, "error_message": job.error_message}
                 for job in jobs],
    }


@router.post("/requests", response={201: RequestOut, **error_responses(403, 404, 409)},
             summary="File a privacy request for a person")
def create_request(request: HttpRequest, payload: RequestCreateIn) -> Status[dict[str, Any]]:
    """For an application that authenticated its user, or an operator acting for a person: the
    request starts verified. One with the same email, type and workspace as an open request
    is linked to it as a duplicate (`duplicate_of`)."""
    who = caller(request)
    created = services.request_create(
        tenant_id=payload.tenant_id, email=payload.email, request_type=payload.type,
        actor=who.actor, channel=Channel.API, name=payload.name, details=payload.details,
        identifiers=dict(payload.identifiers), language=payload.language)
    return Status(201, _out(created))


@router.get("/requests", response={200: RequestPage, **error_responses()},
            summary="List privacy requests")
def list_requests(
    request: HttpRequest,
    status: StatusName | None = None,
    request_type: Annotated[TypeName | None, Query(alias="type")] = None,
    tenant_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    assignee: Annotated[str, Query(max_length=20, pattern=r"^(|me|none|\d{1,19})$",
                                   description="A user id, `me` or `none`.")] = "",
    due: Annotated[Literal["", "overdue", "7d"], Query(
        description="`overdue`, or `7d`: open and due within 7 days.")] = "",
    sort: Annotated[SortName, Query(
        description="A column (deadline, received, id, status, type), `-` first for "
        "descending. Default: open first, soonest deadline first.")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, object]:
    """Only requests in workspaces the caller handles. Page with `offset`."""
    user = caller(request).user
    filters = selectors.QueueFilters(
        status=status or "", request_type=request_type or "", tenant_id=tenant_id,
        assignee=assignee, due=due, viewer_id=user.pk, sort=sort)
    found: QuerySet[IntakeRequest] = selectors.requests_filtered(
        selectors.requests_visible(user), filters)
    rows = list(found.prefetch_related("jobs")[offset: offset + limit])
    return {"items": [_out(row) for row in rows], "count": found.count()}


@router.get("/requests/{request_id}", response={200: RequestOut, **error_responses(404)},
            summary="Get a privacy request with its jobs")
def get_request(request: HttpRequest, request_id: RequestId) -> dict[str, Any]:
    return _out(selectors.request_get(caller(request).user, request_id))


def _act(request: HttpRequest, request_id: int) -> Any:
    who = caller(request)
    selectors.request_get(who.user, request_id)  # another workspace's request answers 404
    return who.actor


@router.post("/requests/{request_id}/verify",
             response={200: RequestOut, **error_responses(403, 404, 409)},
             summary="Mark a request verified (identity checked another way)")
def verify_request(request: HttpRequest, request_id: RequestId) -> dict[str, Any]:
    actor = _act(request, request_id)
    return _out(services.request_verify(request_id=request_id, actor=actor))


@router.post("/requests/{request_id}/assign",
             response={200: RequestOut, **error_responses(403, 404, 409)},
             summary="Assign a request to a handler")
def assign_request(request: HttpRequest, payload: AssignIn,
                   request_id: RequestId) -> dict[str, Any]:
    actor = _act(request, request_id)
    return _out(services.request_assign(request_id=request_id, assignee_id=payload.assignee_id,
                                        actor=actor))


@router.post("/requests/{request_id}/fulfil",
             response={200: RequestOut, **error_responses(403, 404, 409, 503)},
             summary="Create the jobs that fulfil a verified request")
def fulfil_request(request: HttpRequest, request_id: RequestId,
                   payload: FulfilIn | None = None) -> dict[str, Any]:
    """EXPORT for access and portability, ERASE for erasure (one job by identity on every
    system); RECTIFY for a correction with `changes`, RESTRICT for a restriction with `lift`,
    in the system named by `system`. The request completes when its jobs all complete."""
    actor = _act(request, request_id)
    return _out(services.intake_fulfil(
        request_id=request_id, actor=actor, changes=payload.changes if payload else None,
        lift=payload.lift if payload else None, system=payload.system if payload else None))


@router.post("/requests/{request_id}/extend",
             response={200: RequestOut, **error_responses(403, 404, 409)},
             summary="Extend a request's deadline once, by up to two months")
def extend_request(request: HttpRequest, payload: ExtendIn,
                   request_id: RequestId) -> dict[str, Any]:
    actor = _act(request, request_id)
    return _out(services.intake_extend(request_id=request_id, new_deadline=payload.new_deadline,
                                       reason=payload.reason, actor=actor))


@router.post("/requests/{request_id}/reject",
             response={200: RequestOut, **error_responses(403, 404, 409)},
             summary="Reject a request with a reason")
def reject_request(request: HttpRequest, payload: ReasonIn,
                   request_id: RequestId) -> dict[str, Any]:
    actor = _act(request, request_id)
    return _out(services.intake_reject(request_id=request_id, reason=payload.reason,
                                       actor=actor))


@router.post("/requests/{request_id}/close",
             response={200: RequestOut, **error_responses(403, 404, 409)},
             summary="Record the outcome of a correction, restriction or objection")
def close_request(request: HttpRequest, payload: OutcomeIn,
                  request_id: RequestId) -> dict[str, Any]:
    actor = _act(request, request_id)
    return _out(services.intake_close(request_id=request_id, outcome=payload.outcome,
                                      actor=actor))


@router.post("/requests/{request_id}/withdraw",
             response={200: RequestOut, **error_responses(403, 404, 409)},
             summary="Withdraw a request on the person's behalf")
def withdraw_request(request: HttpRequest, payload: WithdrawIn,
                     request_id: RequestId) -> dict[str, Any]:
    """Jobs that have not started are cancelled; refused (409) once one started."""
    actor = _act(request, request_id)
    return _out(services.request_withdraw(request_id=request_id, actor=actor,
                                          reason=payload.reason))
