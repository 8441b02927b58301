from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from privacyops.audit.signing import key_id, public_key, public_key_text
from privacyops.execution.receipts import receipt_file_text, receipt_for_job
from privacyops.execution.selectors import artifact_for_viewer
from privacyops.execution.services import artifact_download_record
from privacyops.execution.storage import artifact_chunks
from privacyops.jobs.selectors import job_get
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import User
from privacyops.web.pages import privacy_page, viewer_of


@login_required
def artifact_download(request: HttpRequest, token: str) -> StreamingHttpResponse:
    assert isinstance(request.user, User)  # noqa: S101 - login_required
    artifact = artifact_for_viewer(token, request.user)
    artifact_download_record(artifact=artifact, actor=Actor.for_user(request.user))
    response = StreamingHttpResponse(artifact_chunks(artifact), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, artifact.file_name) or "attachment"
    response["Cache-Control"] = "no-store"
    return response


@privacy_page("job.view")
@require_GET
def job_receipt(request: HttpRequest, job_id: int) -> HttpResponse:
    """The signed erasure receipt of a completed ERASE or PURGE job, as a JSON download."""
    job = job_get(viewer_of(request), job_id)  # another tenant's job is a 404
    return receipt_download(receipt_for_job(job), f"erasure-receipt-job-{job.pk}.json")


def receipt_download(document: dict[str, Any], file_name: str) -> HttpResponse:
    """A signed receipt as a JSON download, never cached."""
    response = HttpResponse(receipt_file_text(document), content_type="application/json")
    response["Content-Disposition"] = content_disposition_header(True, file_name) or "attachment"
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def receipt_key(request: HttpRequest) -> JsonResponse:
    """The public key that verifies erasure receipts; anyone may fetch it."""
    public = public_key(create=True)
    return JsonResponse({"algorithm": "Ed25519", "key_id": key_id(public),
                         "public_key": public_key_text(public),
                         "verify": "privacyops receipt verify FILE --key <public_key>"})
