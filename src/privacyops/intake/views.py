"""Public intake pages and the operator queue. Thin: parse, call a service or selector, render."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from privacyops.errors import DomainError
from privacyops.intake import selectors, services
from privacyops.intake.forms import (
    HONEYPOT_FIELD,
    PUBLIC_REQUEST_TYPE_LABELS,
    STARTED_FIELD,
    AssignForm,
    ExtendForm,
    IntakeForm,
    LinkForm,
    NewRequestForm,
    NoteForm,
    OutcomeForm,
    QueueFilterForm,
    RejectForm,
    WithdrawForm,
    form_token,
    form_token_spend,
    looks_like_a_bot,
)
from privacyops.intake.lifecycle import listed_for_person
from privacyops.intake.models import (
    JOB_TYPE_FOR_REQUEST,
    OUTCOME_REQUEST_TYPES,
    PENDING_JOB_TYPE_FOR_REQUEST,
    Channel,
    IntakeRequest,
)
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Tenant, User
from privacyops.tenancy.policy import can
from privacyops.web.client_ip import client_ip
from privacyops.web.csv import safe_writer
from privacyops.web.language import use_tenant_default

# --- public -------------------------------------------------------------------------------


def request_form_for_host(request: HttpRequest) -> HttpResponse:
    workspace = request.GET.get("workspace", "")[:200]
    tenant = selectors.public_tenant_resolve(host=request.get_host(), workspace=workspace)
    if tenant is None:
        not_found = bool(workspace.strip())
        return render(request, "intake/choose.html",
                      {"workspace": workspace, "not_found": not_found},
                      status=404 if not_found else 200)
    use_tenant_default(request, tenant)
    return _request_form(request, tenant)


def request_form(request: HttpRequest, slug: str) -> HttpResponse:
    return _request_form(request, selectors.public_tenant_get(slug))


def _request_form(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    status = 200
    token = form_token()
    if request.method == "POST":
        if looks_like_a_bot(request.POST):
            return redirect("intake:sent", slug=tenant.slug)
        token = request.POST[STARTED_FIELD]  # still valid: keep the clock of the first render
        form = IntakeForm(request.POST)
        if form.is_valid():
            if not form_token_spend(token):
                # A replayed form: dropped as silently as any other bot submission.
                return redirect("intake:sent", slug=tenant.slug)
            try:
                services.intake_submit(
                    tenant_id=tenant.pk, email=form.cleaned_data["email"],
                    name=form.cleaned_data["name"], request_type=form.cleaned_data["request_type"],
                    details=form.cleaned_data["details"],
                    own_data_confirmed=form.cleaned_data["own_data"],
                    client_address=client_ip(request),
                )
            except services.SubmissionLimitReached as refused:
                return render(request, "intake/limited.html",
                              {"tenant": tenant, "refused": refused}, status=refused.status)
            return redirect("intake:sent", slug=tenant.slug)
        status = 422
    else:
        form = IntakeForm()
    context = {"tenant": tenant, "form": form, "token": token, "started_field": STARTED_FIELD,
               "honeypot_field": HONEYPOT_FIELD}
    return render(request, "intake/form.html", context, status=status)


def request_sent(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = selectors.public_tenant_get(slug)
    return render(request, "intake/sent.html", {"tenant": tenant})


def request_verify(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    tenant = selectors.public_tenant_get(slug)
    try:
        verified = services.intake_verify(tenant_id=tenant.pk, token=token)
    except DomainError as problem:
        return render(request, "intake/verify_problem.html",
                      {"tenant": tenant, "problem": problem}, status=problem.status)
    type_label = PUBLIC_REQUEST_TYPE_LABELS.get(verified.request_type,
                                                verified.get_request_type_display())
    return render(request, "intake/verified.html",
                  {"tenant": tenant, "intake": verified, "type_label": type_label})


# --- operator queue -----------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _filters(user: User, data: dict[str, Any]) -> selectors.QueueFilters:
    return selectors.QueueFilters(
        status=data.get("status", ""), request_type=data.get("type", ""),
        verified=data.get("verified", ""), overdue=data.get("overdue") == "yes",
        tenant_slug=data.get("tenant", ""), assignee=data.get("assignee", ""),
        due=data.get("due", ""), viewer_id=user.pk, sort=data.get("sort", ""),
    )


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    tenants = selectors.intake_tenants_for(user)
    filter_form = QueueFilterForm(request.GET, auto_id="f-%s")
    data: dict[str, Any] = filter_form.cleaned_data if filter_form.is_valid() else {}
    requests = selectors.intake_requests_for(user=user, filters=_filters(user, data))
    page = Paginator(requests.prefetch_related("jobs"), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "intake/queue.html", {
        "page": page, "filter_form": filter_form, "tenants": tenants, "now": timezone.now(),
        "query": query.urlencode(), "filtered": any(v for k, v in data.items() if k != "sort"),
        "may_create": any(can(user, "intake.manage", t) for t in tenants),
        "columns": selectors.QUEUE_SORTING.headers(data.get("sort", "")),
    })


CSV_COLUMNS = ("reference", "workspace", "type", "status", "channel", "received_at",
               "deadline_at", "extended", "verified", "assignee", "duplicate_of", "jobs")


@login_required
@require_GET
def queue_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered queue as CSV (cells escaped against formula injection; no emails)."""
    user = _user(request)
    filter_form = QueueFilterForm(request.GET)
    data: dict[str, Any] = filter_form.cleaned_data if filter_form.is_valid() else {}
    requests = selectors.intake_requests_for(user=user, filters=_filters(user, data))
    writer = safe_writer(cast(IO[str], _Echo()))

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for row in requests.prefetch_related("jobs").iterator(chunk_size=500):
            jobs = " ".join(f"{j.job_type}#{j.pk}:{j.status}" for j in row.jobs.all())
            yield writer.writerow([
                row.reference, row.tenant.name, row.request_type, row.status, row.channel,
                row.submitted_at.isoformat(), row.deadline_at.isoformat(),
                "yes" if row.extended_at else "no", "yes" if row.is_verified else "no",
                row.assignee.email if row.assignee else "",
                row.duplicate_of.reference if row.is_duplicate and row.duplicate_of else "",
                jobs])

    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="privacy-requests-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def new_request(request: HttpRequest) -> HttpResponse:
    """An operator files a request for a person; it starts verified, in the same queue."""
    user = _user(request)
    tenants = [t for t in selectors.intake_tenants_for(user) if can(user, "intake.manage", t)]
    form = NewRequestForm(request.POST or None)
    error: DomainError | None = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.request_create(
                tenant_id=form.cleaned_data["tenant"], email=form.cleaned_data["email"],
                name=form.cleaned_data["name"], request_type=form.cleaned_data["request_type"],
                details=form.cleaned_data["details"], actor=Actor.for_user(user),
                channel=Channel.OPERATOR)
        except DomainError as refused:
            error = refused
        else:
            messages.success(request, f"Request {created.reference} filed.")
            return redirect("intake_platform:detail", pk=created.pk)
    status = 200 if request.method != "POST" else (error.status if error else 422)
    return render(request, "intake/new.html",
                  {"form": form, "tenants": tenants, "action_error": error}, status=status)


def _detail_context(user: User, intake: IntakeRequest, posted: Any = None,
                    **forms_: forms.Form) -> dict[str, Any]:
    job_type = JOB_TYPE_FOR_REQUEST.get(intake.request_type)
    may_manage = can(user, "intake.manage", intake.tenant)
    pending_job_type = PENDING_JOB_TYPE_FOR_REQUEST.get(intake.request_type, "")
    jobs = selectors.request_jobs(intake)
    return {
        "intake": intake, "now": timezone.now(),
        "can_manage": may_manage and intake.is_open,
        "may_note": may_manage,
        "fulfil_job_type": job_type,
        "pending_job_type": pending_job_type,
        # Offered to those who may create the job (an IT admin records the outcome instead).
        "correctable_systems": _correctable_systems(intake, posted) if pending_job_type and can(
            user, f"job.create.{pending_job_type}", intake.tenant) else [],
        "posted_lift": posted is not None and posted.get("action") == "restrict"
                       and posted.get("lift") == "1",
        "latest_deadline": services.latest_deadline(intake),
        "needs_outcome": intake.request_type in OUTCOME_REQUEST_TYPES,
        "jobs": jobs,
        "listed_for_person": listed_for_person(intake),
        "linked_person": _linked_person(intake),
        "timeline": selectors.request_timeline(intake),
        "assignable": selectors.assignable_users(intake) if may_manage else [],
        "link_form": forms_.get("link_form") or LinkForm(initial={"subject_id": intake.subject_id}),
        "outcome_form": forms_.get("outcome_form") or OutcomeForm(),
        "reject_form": forms_.get("reject_form") or RejectForm(),
        "extend_form": forms_.get("extend_form") or ExtendForm(),
        "note_form": forms_.get("note_form") or NoteForm(),
    }


def _linked_person(intake: IntakeRequest) -> Any:
    """The linked subject's name and email from the data map's display fields (None when
    not linked, or the datastore does not answer)."""
    if not intake.subject_id:
        return None
    from privacyops.execution.people import people_by_tenant

    return people_by_tenant({intake.tenant: [intake.subject_id]}).get(
        (intake.tenant_id, intake.subject_id))


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    intake = selectors.intake_request_for(user=user, request_id=pk)
    return render(request, "intake/detail.html", _detail_context(user, intake))


@login_required
@require_GET
def jobs_fragment(request: HttpRequest, pk: int) -> HttpResponse:
    """The request's jobs with their live status; polls itself while one is unfinished."""
    user = _user(request)
    intake = selectors.intake_request_for(user=user, request_id=pk)
    return render(request, "intake/_jobs.html",
                  {"intake": intake, "jobs": selectors.request_jobs(intake)})


Perform = Callable[[dict[str, Any], Actor], IntakeRequest]


def _act(
    request: HttpRequest, pk: int, form_name: str, form_class: type[forms.Form] | None,
    perform: Perform, done: str, *, keep_posted: bool = False,
) -> HttpResponse:
    user = _user(request)
    intake = selectors.intake_request_for(user=user, request_id=pk)
    form = form_class(request.POST) if form_class else None
    error: DomainError | None = None
    if form is None or form.is_valid():
        try:
            perform(form.cleaned_data if form else {}, Actor.for_user(user))
        except DomainError as refused:
            error = refused
        else:
            messages.success(request, done)
            return redirect("intake_platform:detail", pk=pk)
    intake.refresh_from_db()
    context = _detail_context(user, intake, request.POST if keep_posted else None,
                              **({form_name: form} if form else {}))
    context["action_error"] = error
    return render(request, "intake/detail.html", context, status=error.status if error else 422)


@login_required
@require_POST
def link(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "link_form", LinkForm,
                lambda data, actor: services.intake_link(
                    request_id=pk, subject_id=data["subject_id"], actor=actor),
                "Linked to the data subject.")


@login_required
@require_POST
def verify(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "", None,
                lambda _data, actor: services.request_verify(request_id=pk, actor=actor),
                "Marked verified.")


@login_required
@require_POST
def fulfil(request: HttpRequest, pk: int) -> HttpResponse:
    # A correction's form posts action=rectify, its `system` and `change_<field>` for each field
    # to correct (blank = keep); a restriction's posts action=restrict, `system` and `lift`
    # (0 restricts, 1 lifts). The service checks them, as it does the API's. Other types, and
    # the plain "Fulfil" button, post nothing.
    action = request.POST.get("action", "")
    changes: dict[str, Any] | None = None
    lift: bool | None = None
    if action == "rectify":
        changes = {key.removeprefix("change_"): value for key in request.POST
                   if key.startswith("change_") and (value := request.POST.get(key, "")).strip()}
    elif action == "restrict":
        lift = request.POST.get("lift") == "1"
    system = (request.POST.get("system", "").strip() or None) if action else None
    return _act(request, pk, "", None,
                lambda _data, actor: services.intake_fulfil(
                    request_id=pk, actor=actor, changes=changes, lift=lift, system=system),
                "Fulfilment started; the request completes when its jobs complete.",
                keep_posted=True)


def _correctable_systems(intake: IntakeRequest, posted: Any) -> list[dict[str, Any]]:
    """The systems a correction's or restriction's form offers: for a correction, each SQL
    system with the subject fields it may rectify (and the values just posted, kept after a
    refusal); for a restriction, those whose data map declares a restriction marker."""
    if intake.request_type not in ("correction", "restriction"):
        return []
    from privacyops.execution.rectify import correctable_systems
    from privacyops.execution.registry import system_for

    try:
        systems = correctable_systems(intake.tenant)
        first = system_for(intake.tenant)
    except DomainError:  # no usable data map: the outcome form remains
        return []
    chosen = posted.get("system", "") if posted is not None else ""
    offered = []
    for name, fields, restrictable in systems:
        if intake.request_type == "correction" and fields:
            values = posted if posted is not None and chosen == name else {}
            offered.append({"name": name, "job_system": first is not None and first.name == name,
                            "fields": [(field, values.get(f"change_{field}", ""))
                                       for field in fields]})
        elif intake.request_type == "restriction" and restrictable:
            offered.append({"name": name, "chosen": name == chosen})
    return offered


@login_required
@require_POST
def close(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "outcome_form", OutcomeForm,
                lambda data, actor: services.intake_close(
                    request_id=pk, outcome=data["outcome"], actor=actor),
                "Outcome recorded; the request is completed.")


@login_required
@require_POST
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "reject_form", RejectForm,
                lambda data, actor: services.intake_reject(
                    request_id=pk, reason=data["reason"], actor=actor),
                "Request rejected; the submitter was emailed the reason.")


@login_required
@require_POST
def extend(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "extend_form", ExtendForm,
                lambda data, actor: services.intake_extend(
                    request_id=pk, new_deadline=data["new_deadline"], reason=data["reason"],
                    actor=actor),
                "Deadline extended; the submitter was emailed the new date and the reason.")


@login_required
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "assign_form", AssignForm,
                lambda data, actor: services.request_assign(
                    request_id=pk, assignee_id=int(data["assignee"]) if data["assignee"] else None,
                    actor=actor),
                "Assignment saved.")


@login_required
@require_POST
def note(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "note_form", NoteForm,
                lambda data, actor: services.request_note(request_id=pk, text=data["text"],
                                                          actor=actor),
                "Note added.")


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "withdraw_form", WithdrawForm,
                lambda data, actor: services.request_withdraw(
                    request_id=pk, reason=data["reason"], actor=actor),
                "Request withdrawn on the person's behalf.")


@login_required
@require_POST
def merge(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "", None,
                lambda _data, actor: services.request_merge(request_id=pk, actor=actor),
                "Merged into the original request.")


@login_required
@require_POST
def keep(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, "", None,
                lambda _data, actor: services.request_keep(request_id=pk, actor=actor),
                "Kept as a request of its own.")
