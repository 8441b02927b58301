from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header

from privacyops.execution.selectors import artifact_for_viewer
from privacyops.execution.services import artifact_download_record
from privacyops.execution.storage import artifact_chunks
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import User


@login_required
def artifact_download(request: HttpRequest, token: str) -> StreamingHttpResponse:
    assert isinstance(request.user, User)  # noqa: S101 - login_required
    artifact = artifact_for_viewer(token, request.user)
    artifact_download_record(artifact=artifact, actor=Actor.for_user(request.user))
    response = StreamingHttpResponse(artifact_chunks(artifact), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, artifact.file_name) or "attachment"
    response["Cache-Control"] = "no-store"
    return response
