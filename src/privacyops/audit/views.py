"""Platform → Privacy → Audit log: filter, page, export (CSV, JSON lines), verify the chain."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib import messages
from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from privacyops.audit.actions import ACTION_LABELS, action_label
from privacyops.audit.forms import AuditFilterForm
from privacyops.audit.models import AuditEvent
from privacyops.audit.selectors import AuditPage, audit_events_filtered, audit_page
from privacyops.audit.services import audit_export_start, audit_verify_recorded
from privacyops.errors import ValidationFailed
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.policy import tenants_visible_to
from privacyops.web.lists import Column, NumberedPage, Sorting, numbered_page
from privacyops.web.pages import privacy_page, viewer_of

EXPORT_FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl"),
}


# Sortable columns, in the order of the table's headers; newest first (by seq) is the default
# and is paged by cursor, any other order by page number. `tenant_name` is an annotation.
SORTING = Sorting((
    Column("time", "Time", ("seq",)),
    Column("tenant", "Tenant", ("tenant_name", "seq")),
    Column("actor", "Actor", ("actor_label", "actor_id", "seq")),
    Column("action", "Action", ("action", "seq")),
    Column("target", "Target", ("target_type", "target_id", "seq")),
    Column("outcome", "Outcome", ("outcome", "seq")),
), default="-time")


def _sortable(events: QuerySet[AuditEvent], sort: str) -> QuerySet[AuditEvent]:
    if SORTING.uses(sort, "tenant_name"):
        events = events.annotate(tenant_name=Coalesce(
            Subquery(Tenant.objects.filter(pk=OuterRef("tenant_id")).values("name")[:1]),
            Value("Platform")))
    return events


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    label: str
    tenant_name: str
    metadata_json: str


def _cursor(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationFailed("This page link is damaged; go back to the newest events.",
                               field="cursor")
    return int(raw)


@privacy_page("audit.view")
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    viewer = viewer_of(request)
    tenants = list(tenants_visible_to(viewer, "audit.view"))
    form = AuditFilterForm(request.GET, tenants=tenants)
    sort = SORTING.chosen(request.GET.get("sort", ""))
    page: AuditPage | NumberedPage[AuditEvent] = AuditPage([], None)
    status, total = 200, None
    if form.is_valid():
        try:
            events = audit_events_filtered(viewer, form.filters())
            total = events.count()
            if sort == SORTING.default:
                page = audit_page(viewer, form.filters(),
                                  cursor=_cursor(request.GET.get("cursor", "")))
            else:
                page = numbered_page(_sortable(events, sort), order=SORTING.order(sort),
                                     number_raw=request.GET.get("page", ""), total=total)
        except ValidationFailed as error:  # shown beside its field; the filters stay as typed
            field = error.details.get("field")
            form.add_error(field if field in form.fields else None, error.message)
            status = error.status
    else:
        status = 422
    names = {t.pk: t.name for t in tenants}
    rows = [
        AuditRow(
            event=event, label=action_label(event.action),
            tenant_name=names.get(event.tenant_id, f"#{event.tenant_id}")
            if event.tenant_id is not None else "Platform",
            metadata_json=json.dumps(event.metadata, indent=2, sort_keys=True, ensure_ascii=False),
        )
        for event in (page.items if isinstance(page, NumberedPage) else page.events)
    ]
    context = {
        "tab": "audit", "form": form, "rows": rows, "page": page, "total": total,
        "sort": sort, "columns": SORTING.headers(sort), "numbered": isinstance(page, NumberedPage),
        "paged": bool(request.GET.get("cursor")),
        "filtered": any(request.GET.get(name) for name in form.fields),
        "actions": sorted(ACTION_LABELS.items()),
        "may_verify": viewer.is_staff,
    }
    return render(request, "audit/list.html", context, status=status)


@privacy_page("audit.export")
@require_GET
def audit_export(request: HttpRequest, fmt: str) -> StreamingHttpResponse:
    """Stream the filtered events; the export itself is recorded as `audit.exported` first."""
    viewer = viewer_of(request)
    tenants = list(tenants_visible_to(viewer, "audit.export"))
    form = AuditFilterForm(request.GET, tenants=tenants)
    if not form.is_valid():
        raise ValidationFailed(form.first_error())
    stream = audit_export_start(viewer=viewer, actor=Actor.for_user(viewer),
                                filters=form.filters(), fmt=fmt,
                                described_filters=form.described())
    content_type, extension = EXPORT_FORMATS[fmt]
    response = StreamingHttpResponse(stream, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = content_disposition_header(
        True, f"audit-events-{stamp}.{extension}") or "attachment"
    response["Cache-Control"] = "no-store"
    return response


@privacy_page("audit.view")
@require_POST
def audit_verify_view(request: HttpRequest) -> HttpResponse:
    """Walk the whole chain (staff only) and say whether it is intact; the check is recorded."""
    result = audit_verify_recorded(actor=Actor.for_user(viewer_of(request)))
    if request.headers.get("HX-Request") == "true":
        return render(request, "audit/_verify.html", {"result": result})
    level = messages.SUCCESS if result.ok else messages.ERROR
    messages.add_message(request, level, f"Chain verification: {result.sentence()}")
    return redirect("platform:audit")
