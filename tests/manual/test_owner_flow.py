"""The owner's side end to end: the email on a real SMTP server, the signed link, the page,
the confirmation that settles the step (and the job), its audit event, single use."""

from __future__ import annotations

import hashlib
import html
import io
import json
import logging
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from privacyops.audit.models import AuditEvent
from privacyops.execution.models import Artifact, JobStep, StepStatus
from privacyops.execution.storage import artifact_chunks
from privacyops.jobs.models import Job, JobStatus
from privacyops.manual.models import TaskStatus
from tests.manual.conftest import (
    CANARY_EMAIL,
    CANARY_NAME,
    OWNER,
    html_part,
    link_in,
    path_of,
    task_of,
    text_part,
    waiting_step,
)


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.7")


def open_form(client: Client, path: str) -> str:
    """GET the owner's page as a browser would; returns the CSRF token of its form."""
    response = client.get(path)
    assert response.status_code == 200, response.content.decode()[:500]
    return str(response.context["csrf_token"])


def test_the_owner_gets_an_email_with_what_to_do_for_whom_and_a_link(manual_setup, mail_to_smtp):
    step = waiting_step(manual_setup)
    message = mail_to_smtp.wait_for()
    assert message["To"] == OWNER
    assert message["Reply-To"] == "privacy@nord.example"
    subject = str(message["Subject"])
    assert "Nord Clinic" in subject
    assert "paper-archive" in subject
    assert "Erasure" in subject
    # Whom to search for is in the body only, never in the subject line.
    assert CANARY_EMAIL not in subject
    assert "Canary" not in subject
    for body in (text_part(message), html.unescape(html_part(message))):
        assert "Nord Clinic" in body
        assert "Shred the person's folder in cabinet B." in body
        assert CANARY_EMAIL in body
        assert CANARY_NAME in body
    assert link_in(message).startswith("http://testserver/manual/")
    task = task_of(step)
    assert task.status == TaskStatus.WAITING
    assert task.email_sent_at is not None
    assert task.owner_email == OWNER
    # Only a hash of the token is kept.
    assert link_in(message).rstrip("/").rsplit("/", 1)[1] not in task.token_hash


def test_confirming_an_erasure_settles_the_step_completes_the_job_and_is_audited(
        manual_setup, mail_to_smtp):
    step = waiting_step(manual_setup)
    path = path_of(link_in(mail_to_smtp.wait_for()))
    client = csrf_client()
    token = open_form(client, path)
    response = client.post(path, {"csrfmiddlewaretoken": token, "confirmed_by": "Clerk@Example.org",
                                  "rows": "3", "note": "Folder 17 shredded", "done": "on"})
    assert response.status_code == 200
    assert "3 records in paper-archive were erased" in response.content.decode()

    step.refresh_from_db()
    assert step.status == StepStatus.COMPLETED
    assert step.rows == 3
    assert step.result["rows_erased"] == 3
    assert step.result["confirmed_by"] == "Clerk@Example.org"  # as typed
    job = Job.objects.get(pk=step.job_id)
    assert job.status == JobStatus.COMPLETED
    event = AuditEvent.objects.filter(action="manual.confirmed").get()
    assert event.actor_type == "owner"
    assert event.actor_id == "Clerk@Example.org"
    assert event.target_id == str(job.pk)
    assert event.metadata["rows"] == 3
    # Free text may name the person: the chain keeps its digest, the task keeps the text.
    assert event.metadata["note_sha256"] == hashlib.sha256(b"Folder 17 shredded").hexdigest()
    assert "Folder 17" not in json.dumps(event.metadata)
    assert task_of(step).note == "Folder 17 shredded"
    confirmed_at = task_of(step).confirmed_at
    assert confirmed_at is not None
    assert event.metadata["confirmed_at"] == confirmed_at.isoformat()

    # Single use: the same link now says it was answered, by whom.
    again = client.get(path)
    assert again.status_code == 409
    assert "already answered" in again.content.decode()
    assert "Clerk@Example.org" in again.content.decode()


def test_an_export_upload_is_stored_encrypted_as_an_artifact_named_in_the_step(
        manual_setup, mail_to_smtp):
    step = waiting_step(manual_setup, job_type="EXPORT")
    message = mail_to_smtp.wait_for()
    assert "Scan the person's folder" in text_part(message)
    path = path_of(link_in(message))
    client = csrf_client()
    token = open_form(client, path)
    content = b"scanned folder of the canary person\n" * 1000
    upload = io.BytesIO(content)
    upload.name = "folder-17.pdf"
    response = client.post(path, {"csrfmiddlewaretoken": token, "confirmed_by": OWNER,
                                  "upload": upload})
    assert response.status_code == 200, response.content.decode()[:800]

    step.refresh_from_db()
    assert step.status == StepStatus.COMPLETED
    artifact = Artifact.objects.get(pk=step.result["artifact_id"])
    assert artifact.file_name == "folder-17.pdf"
    assert artifact.size == len(content)
    with default_storage.open(artifact.storage_name, "rb") as stored:
        raw = stored.read()
    assert b"canary person" not in raw  # encrypted at rest
    assert b"".join(artifact_chunks(artifact)) == content
    assert Job.objects.get(pk=step.job_id).status == JobStatus.COMPLETED


def test_a_file_over_the_limit_is_refused_and_the_step_still_waits(
        manual_setup, mail_to_smtp, settings):
    settings.MANUAL_UPLOAD_MAX_MB = 1
    step = waiting_step(manual_setup, job_type="EXPORT")
    path = path_of(link_in(mail_to_smtp.wait_for()))
    client = csrf_client()
    token = open_form(client, path)
    upload = io.BytesIO(b"x" * (1024 * 1024 + 10))
    upload.name = "too-big.bin"
    response = client.post(path, {"csrfmiddlewaretoken": token, "confirmed_by": OWNER,
                                  "upload": upload})
    assert response.status_code == 413
    assert "larger than 1 MB" in response.content.decode()
    assert task_of(step).status == TaskStatus.WAITING
    assert not Artifact.objects.filter(job_id=step.job_id).exists()


def test_the_form_refuses_a_post_without_its_csrf_token(manual_setup, mail_to_smtp):
    step = waiting_step(manual_setup)
    path = path_of(link_in(mail_to_smtp.wait_for()))
    response = csrf_client().post(path, {"confirmed_by": OWNER, "rows": "1", "done": "on"})
    assert response.status_code == 403
    assert task_of(step).status == TaskStatus.WAITING


def test_a_tampered_link_is_not_valid(manual_setup, mail_to_smtp):
    step = waiting_step(manual_setup)
    path = path_of(link_in(mail_to_smtp.wait_for()))
    token = path.split("/")[2]
    # Change one character of the payload: the signature no longer matches.
    flipped = ("A" if token[1] != "A" else "B")
    tampered = f"/manual/{token[0]}{flipped}{token[2:]}/"
    response = Client().get(tampered)
    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()
    assert task_of(step).status == TaskStatus.WAITING


def test_the_owner_page_is_rate_limited_per_address(manual_setup, mail_to_smtp):
    from privacyops.manual.services import CONFIRMS_PER_WINDOW

    waiting_step(manual_setup)
    path = path_of(link_in(mail_to_smtp.wait_for()))
    client = csrf_client()
    token = open_form(client, path)
    data = {"csrfmiddlewaretoken": token, "confirmed_by": OWNER, "rows": "1", "done": "on"}
    statuses = [client.post(path, data).status_code for _ in range(CONFIRMS_PER_WINDOW + 1)]
    # The first answer counts; replays say "already answered" until the limit refuses them.
    assert statuses == [200] + [409] * (CONFIRMS_PER_WINDOW - 1) + [429]
    refused = client.post(path, data)
    assert "Too many submissions" in refused.content.decode()
    # Another address is not limited by this one.
    other = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.9")
    assert other.get(path).status_code == 409


def test_no_log_line_names_the_person(manual_setup, mail_to_smtp, caplog: Any):
    caplog.set_level(logging.DEBUG)
    waiting_step(manual_setup)
    path = path_of(link_in(mail_to_smtp.wait_for()))
    client = csrf_client()
    token = open_form(client, path)
    client.post(path, {"csrfmiddlewaretoken": token, "confirmed_by": OWNER, "rows": "2",
                       "done": "on"})
    client.get(path)  # a 409 is logged by django.request
    # The test's own SMTP server (aiosmtpd, logger mail.log) logs what it receives: not ours.
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logged = "\n".join(f"{r.getMessage()} {r.args}" for r in ours)
    assert any(r.name.startswith("privacyops.manual") for r in ours)
    for secret in (CANARY_EMAIL, "Canary", path.split("/")[2]):
        assert secret not in logged


@pytest.mark.parametrize(("text", "where"), [
    ("connector: manual\nversion: 1\nname: x\nowner: x@example.org\n", "instructions"),
])
def test_a_map_that_cannot_be_used_fails_the_step(manual_setup, datamap_dir, text, where):
    (datamap_dir / "paper-archive.yaml").write_text(text)
    step = waiting_step(manual_setup)
    step.refresh_from_db()
    assert step.status == StepStatus.FAILED
    assert step.result["code"] == "datamap_unusable"
    assert where in step.result["message"]
    assert step.error_code == "datamap_unusable"
    job = Job.objects.get(pk=step.job_id)
    assert job.status == JobStatus.FAILED
    assert job.error_code == "datamap_unusable"
    assert "instructions" in job.error_message
    assert not JobStep.objects.filter(pk=step.pk, manual_tasks__isnull=False).exists()
