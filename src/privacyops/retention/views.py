"""Platform → Privacy → Retention and Records of processing (staff and tenant admins)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from privacyops.errors import DomainError, NotFound
from privacyops.execution.registry import system_for
from privacyops.jobs.views import privacy_page, viewer_of
from privacyops.retention.ropa import ropa_csv, ropa_html, ropa_rows, tenant_datamaps
from privacyops.retention.selectors import retention_rules
from privacyops.tenancy.models import Tenant
from privacyops.tenancy.policy import tenants_visible_to

VIEW_ACTION = "job.view"


def _tenants(request: HttpRequest) -> tuple[list[Tenant], Tenant | None]:
    """The tenants the viewer may see, and the one chosen with ?tenant= (404 if not theirs)."""
    tenants = list(tenants_visible_to(viewer_of(request), VIEW_ACTION).order_by("name"))
    slug = request.GET.get("tenant", "")
    if not slug:
        return tenants, None
    chosen = next((t for t in tenants if t.slug == slug), None)
    if chosen is None:
        raise NotFound(f"No tenant {slug!r} among those you can see.")
    return tenants, chosen


@privacy_page(VIEW_ACTION)
@require_GET
def retention_list(request: HttpRequest) -> HttpResponse:
    tenants, chosen = _tenants(request)
    shown = [chosen] if chosen else [t for t in tenants if system_for(t) is not None]
    rows, problems = [], []
    for tenant in shown:
        try:
            rows.extend(retention_rules([tenant]))
        except DomainError as error:
            problems.append(f"{tenant.name}: {error.message}")
    return render(request, "retention/list.html", {
        "tab": "retention", "rows": rows, "tenants": tenants, "chosen": chosen,
        "problems": problems, "now": timezone.now(),
    })


@privacy_page(VIEW_ACTION)
@require_GET
def ropa_page(request: HttpRequest) -> HttpResponse:
    tenants, chosen = _tenants(request)
    tenant = chosen or next((t for t in tenants if system_for(t) is not None), None)
    rows = ropa_rows(tenant_datamaps(tenant)) if tenant else []
    fmt = request.GET.get("format", "")
    if tenant is not None and fmt in ("csv", "html"):
        body = ropa_csv(rows) if fmt == "csv" else ropa_html(rows, tenant)
        content_type = "text/csv" if fmt == "csv" else "text/html"
        response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d")
        response["Content-Disposition"] = (
            f'attachment; filename="ropa-{tenant.slug}-{stamp}.{fmt}"')
        return response
    return render(request, "retention/ropa.html", {
        "tab": "ropa", "rows": rows, "tenants": tenants, "tenant": tenant,
        "not_declared": "not declared",
    })
