"""The public privacy center. Thin: who the visitor is lives in the session, set only by a
verified code; every action reads the subject ids from there, never from the request."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from privacyops.errors import Conflict, DomainError, NotFound
from privacyops.execution.receipts import receipt_for_job
from privacyops.execution.storage import artifact_chunks
from privacyops.execution.views import receipt_download
from privacyops.intake.selectors import public_tenant_get, public_tenant_resolve
from privacyops.privacy_center.forms import CodeForm, DeletionForm, EmailForm
from privacyops.privacy_center.selectors import person_request, person_requests, subject_artifact
from privacyops.privacy_center.services import (
    Verified,
    access_code_send,
    access_code_verify,
    package_delivered,
    privacy_deletion_request,
    privacy_export_request,
    privacy_request_cancel,
)
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant
from privacyops.web.client_ip import client_ip
from privacyops.web.language import use_tenant_default

SESSION_KEY = "privacy_center"
VERIFIED_FOR = timedelta(hours=1)


def _state(request: HttpRequest, tenant: Tenant) -> dict[str, Any]:
    state: dict[str, Any] = request.session.get(SESSION_KEY, {}).get(str(tenant.pk), {})
    return state


def _save_state(request: HttpRequest, tenant: Tenant, state: dict[str, Any] | None) -> None:
    all_states = dict(request.session.get(SESSION_KEY, {}))
    if state is None:
        all_states.pop(str(tenant.pk), None)
    else:
        all_states[str(tenant.pk)] = state
    request.session[SESSION_KEY] = all_states


def verified_subject(request: HttpRequest, tenant: Tenant) -> Verified | None:
    state = _state(request, tenant)
    if "subject_ids" not in state:
        return None
    verified_at = datetime.fromisoformat(state["verified_at"])
    if timezone.now() - verified_at > VERIFIED_FOR:
        _save_state(request, tenant, None)
        return None
    return Verified(email=state["email"], subject_ids=tuple(state["subject_ids"]))


def _actor(verified: Verified) -> Actor:
    return Actor.subject(verified.subject_ids[0] if verified.subject_ids else "unknown")


def _home(tenant: Tenant) -> str:
    return reverse("privacy_center:center", kwargs={"slug": tenant.slug})


def _render_center(request: HttpRequest, tenant: Tenant, *, status: int = 200,
                   error: DomainError | None = None, **extra: Any) -> HttpResponse:
    verified = verified_subject(request, tenant)
    state = _state(request, tenant)
    context: dict[str, Any] = {
        "tenant": tenant, "verified": verified, "pending_email": state.get("pending_email", ""),
        "error": error, "email_form": EmailForm(), "code_form": CodeForm(),
        "deletion_form": DeletionForm(), **extra,
    }
    if verified is not None:
        requests = person_requests(tenant=tenant, email=verified.email)
        context["requests"] = requests
        context["downloads"] = [(r, artifact) for r in requests for artifact in r.artifacts]
        context["deletion_open"] = any(r.cancel_job is not None for r in requests)
        # The page refreshes its requests and downloads by itself while any is being worked
        # on (not while one waits for the person to open their confirmation link).
        context["live"] = any(r.is_open and r.status != "Awaiting confirmation"
                              for r in requests)
    return render(request, "privacy_center/center.html", context, status=status)


def center_for_host(request: HttpRequest) -> HttpResponse:
    tenant = public_tenant_resolve(host=request.get_host(),
                                   workspace=request.GET.get("workspace", ""))
    if tenant is None:
        return render(request, "privacy_center/choose.html", {})
    use_tenant_default(request, tenant)
    return _render_center(request, tenant)


def center(request: HttpRequest, slug: str) -> HttpResponse:
    return _render_center(request, public_tenant_get(slug))


@require_POST
def code_request(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = public_tenant_get(slug)
    form = EmailForm(request.POST)
    email = request.POST.get("email", "") if not form.is_valid() else form.cleaned_data["email"]
    try:
        access_code_send(tenant=tenant, email=email, client_address=client_ip(request))
    except DomainError as error:
        return _render_center(request, tenant, status=error.status, error=error,
                              email_value=email)
    _save_state(request, tenant, {"pending_email": email.strip().lower()})
    return HttpResponseRedirect(_home(tenant), status=303)


@require_POST
def code_verify(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = public_tenant_get(slug)
    email = _state(request, tenant).get("pending_email", "")
    if not email:
        return HttpResponseRedirect(_home(tenant), status=303)
    try:
        verified = access_code_verify(tenant=tenant, email=email,
                                      code=request.POST.get("code", ""))
    except DomainError as error:
        return _render_center(request, tenant, status=error.status, error=error)
    request.session.cycle_key()
    _save_state(request, tenant, {
        "email": verified.email, "subject_ids": list(verified.subject_ids),
        "verified_at": timezone.now().isoformat(),
    })
    return HttpResponseRedirect(_home(tenant), status=303)


def _verified_or_redirect(request: HttpRequest, tenant: Tenant) -> Verified | HttpResponse:
    verified = verified_subject(request, tenant)
    if verified is None:
        messages.error(request, _("Your session has ended. Enter your email to get a new code."))
        return HttpResponseRedirect(_home(tenant), status=303)
    return verified


@require_POST
def export_request(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = public_tenant_get(slug)
    verified = _verified_or_redirect(request, tenant)
    if isinstance(verified, HttpResponse):
        return verified
    try:
        privacy_export_request(tenant=tenant, subject_ids=verified.subject_ids,
                               actor=_actor(verified), email=verified.email)
    except DomainError as error:
        return _render_center(request, tenant, status=error.status, error=error)
    messages.success(request, _("Export requested. When it is ready, a link appears under "
                                "Available downloads."))
    return HttpResponseRedirect(_home(tenant), status=303)


@require_POST
def deletion_request(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = public_tenant_get(slug)
    verified = _verified_or_redirect(request, tenant)
    if isinstance(verified, HttpResponse):
        return verified
    form = DeletionForm(request.POST)
    form.is_valid()
    try:
        privacy_deletion_request(
            tenant=tenant, subject_ids=verified.subject_ids, email=verified.email,
            confirmation_email=form.cleaned_data.get("confirmation_email", ""),
            reason=form.cleaned_data.get("reason", ""), actor=_actor(verified),
        )
    except DomainError as error:
        return _render_center(request, tenant, status=error.status, error=error,
                              deletion_error=True)
    messages.success(request, _("Deletion scheduled. You can cancel it during the next "
                                "%(hours)s hours.") % {"hours": tenant.deletion_grace_hours})
    return HttpResponseRedirect(_home(tenant), status=303)


@require_POST
def request_cancel(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    tenant = public_tenant_get(slug)
    verified = _verified_or_redirect(request, tenant)
    if isinstance(verified, HttpResponse):
        return verified
    try:
        privacy_request_cancel(tenant=tenant, subject_ids=verified.subject_ids, job_id=job_id,
                               actor=_actor(verified), email=verified.email)
    except DomainError as error:
        return _render_center(request, tenant, status=error.status, error=error)
    messages.success(request, _("Deletion cancelled. Your account stays as it is."))
    return HttpResponseRedirect(_home(tenant), status=303)


def download(request: HttpRequest, slug: str,
             artifact_id: Any) -> HttpResponse | StreamingHttpResponse:
    tenant = public_tenant_get(slug)
    verified = verified_subject(request, tenant)
    try:
        artifact = subject_artifact(tenant=tenant,
                                    subject_ids=verified.subject_ids if verified else (),
                                    artifact_id=str(artifact_id),
                                    email=verified.email if verified else "")
    except DomainError as error:
        return _render_center(request, tenant, status=error.status, error=error)
    package_delivered(artifact=artifact, actor=_actor(verified) if verified else
                      Actor.subject(artifact.target_id))
    response = StreamingHttpResponse(artifact_chunks(artifact), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, artifact.file_name) or "attachment"
    response["Cache-Control"] = "no-store"
    return response


def receipt(request: HttpRequest, slug: str, request_id: int) -> HttpResponse:
    """The signed erasure receipt of the person's completed erasure request (JSON)."""
    tenant = public_tenant_get(slug)
    verified = verified_subject(request, tenant)
    if verified is None:
        return _render_center(request, tenant, status=404, error=NotFound(
            _("This download is not available in your session. Sign in with your email again "
              "to see your downloads.")))
    try:
        found = person_request(tenant=tenant, email=verified.email, reference_id=request_id)
        if found.receipt_job is None:
            raise NotFound(_("This request has no erasure receipt: only a completed erasure "
                             "gets one."))
        document = receipt_for_job(found.receipt_job)
    except DomainError as error:
        return _render_center(request, tenant, status=error.status, error=error)
    return receipt_download(document, f"receipt-{found.request.reference}.json")


@require_POST
def renew(request: HttpRequest, slug: str, request_id: int) -> HttpResponse:
    """A fresh copy for an expired package: a new access request through the same lifecycle
    (the old request stays completed, its package delivered or expired)."""
    tenant = public_tenant_get(slug)
    verified = _verified_or_redirect(request, tenant)
    if isinstance(verified, HttpResponse):
        return verified
    try:
        found = person_request(tenant=tenant, email=verified.email, reference_id=request_id)
        if not found.can_renew:
            raise Conflict(_("This request's package has not expired; download it under "
                             "Available downloads."), code="not_expired")
        privacy_export_request(tenant=tenant, subject_ids=verified.subject_ids,
                               actor=_actor(verified), email=verified.email)
    except DomainError as error:
        return _render_center(request, tenant, status=error.status, error=error)
    messages.success(request, _("A fresh copy was requested. When it is ready, a link appears "
                                "under Available downloads."))
    return HttpResponseRedirect(_home(tenant), status=303)


@require_POST
def sign_out(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = public_tenant_get(slug)
    _save_state(request, tenant, None)
    return HttpResponseRedirect(_home(tenant), status=303)
