"""With the real engine: an identity job on two SQL systems and a manual one runs, parks on
the manual step, emails its owner; the owner's answer on the page completes the job."""

from __future__ import annotations

import html

from django.test import Client

from privacyops.audit.models import AuditEvent
from privacyops.execution.models import ErasureLedgerEntry, JobStep
from privacyops.execution.runner import run_job_now
from privacyops.execution.steps import step_settle
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ConnectorType, System
from tests import factories
from tests.execution.multi_store import demo_store, multi_store
from tests.manual.conftest import html_part, link_in, path_of, text_part

__all__ = ["demo_store", "multi_store"]


def _job(store, job_type: str, email: str) -> Job:
    staff = factories.user_create(is_staff=True)
    approver = factories.user_create(is_staff=True)
    job = job_create(tenant_id=store.tenant.pk, job_type=job_type, target_type="subject",
                     identity={"email": email}, reason="Art. 17", actor=factories.actor(staff))
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk)
    job.refresh_from_db()
    return job


def _paper_files(store) -> System:
    return System.objects.create(tenant=store.tenant, name="paper-files",
                                 connector_type=ConnectorType.MANUAL, datamap_name="paper-files")


def test_an_erasure_waits_for_the_owner_and_completes_on_their_answer(
        multi_store, mail_to_smtp, settings):
    settings.BASE_URL = "http://testserver"
    _paper_files(multi_store)
    _person, email = multi_store.person()
    job = _job(multi_store, "ERASE", email)
    assert job.status == JobStatus.PROCESSING
    step = JobStep.objects.get(job=job, system_name="paper-files")
    assert step.status == "waiting"

    message = mail_to_smtp.wait_for()
    assert message["To"] == f"records@{multi_store.tenant.slug}.example.com"
    assert email in text_part(message)
    assert email in html.unescape(html_part(message))
    assert email not in str(message["Subject"])
    path = path_of(link_in(message))

    client = Client(enforce_csrf_checks=True)
    page = client.get(path)
    assert page.status_code == 200
    assert email not in page.content.decode()  # the identity stays in the email
    response = client.post(path, {"csrfmiddlewaretoken": page.context["csrf_token"],
                                  "confirmed_by": "clerk@example.org", "rows": "2",
                                  "note": "Two folders", "done": "on"})
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.result["systems"]["paper-files"]["rows"] == 2
    assert job.result["systems"]["paper-files"]["confirmed_by"] == "clerk@example.org"
    assert ErasureLedgerEntry.objects.filter(job=job).count() == 1
    actions = list(AuditEvent.objects.filter(target_id=str(job.pk)).order_by("seq")
                   .values_list("action", flat=True))
    assert actions.index("manual.requested") < actions.index("manual.confirmed") \
        < actions.index("job.step_settled") < actions.index("job.completed")


def test_an_export_job_carries_the_uploaded_file_and_the_package(multi_store, mail_to_smtp,
                                                                  settings):
    import io

    from privacyops.execution.models import Artifact
    from privacyops.execution.storage import artifact_chunks

    settings.BASE_URL = "http://testserver"
    _paper_files(multi_store)
    _person, email = multi_store.person()
    job = _job(multi_store, "EXPORT", email)
    path = path_of(link_in(mail_to_smtp.wait_for()))
    client = Client(enforce_csrf_checks=True)
    page = client.get(path)
    upload = io.BytesIO(b"scan of the personnel file")
    upload.name = "personnel-file.pdf"
    client.post(path, {"csrfmiddlewaretoken": page.context["csrf_token"],
                       "confirmed_by": "clerk@example.org", "upload": upload})
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    paper = job.result["systems"]["paper-files"]
    part = Artifact.objects.get(pk=paper["artifact_id"])
    assert b"".join(artifact_chunks(part)) == b"scan of the personnel file"
    # Filed like the job's package: by a digest of the identity, never by the email.
    package = Artifact.objects.filter(job=job).exclude(pk=part.pk).get()
    assert (part.target_type, part.target_id) == (package.target_type, package.target_id)
    assert email not in part.target_id
    # The engine's package of the SQL systems is still there beside the part.
    assert job.result["download_url"]
    assert Artifact.objects.filter(job=job, deleted_at__isnull=True).count() == 2

    # The operator downloads the owner's file from its link in the result.
    staff = factories.user_create(is_staff=True)
    operator = Client()
    operator.force_login(staff)
    download = operator.get(paper["upload_download_url"])
    assert b"".join(download.streaming_content) == b"scan of the personnel file"


def test_a_step_the_team_settled_itself_closes_the_owner_link(multi_store, mail_to_smtp,
                                                               settings):
    settings.BASE_URL = "http://testserver"
    _paper_files(multi_store)
    _person, email = multi_store.person()
    job = _job(multi_store, "ERASE", email)
    path = path_of(link_in(mail_to_smtp.wait_for()))
    step = JobStep.objects.get(job=job, system_name="paper-files")
    staff = factories.user_create(is_staff=True)
    step_settle(step_id=step.pk, status="completed", rows=1, actor=Actor.for_user(staff))
    response = Client().get(path)
    assert response.status_code == 409
    assert "already closed this step" in response.content.decode()
