"""After an erasure request completes, nothing of the person's identity is left in the control
database file (nor its WAL), the artifacts folder or the logs: only a keyed hash.

The whole path is real: the public form, the emailed link, the operator's fulfilment, a second
operator's approval, the worker's run against a real demo datastore, the completion hook.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection

from privacyops.audit.models import AuditEvent
from privacyops.execution.runner import run_job_now
from privacyops.intake import services
from privacyops.intake.lifecycle import identity_digest
from privacyops.intake.models import IntakeRequest, RequestStatus
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve
from tests import factories
from tests.intake.conftest import form_data, verification_link
from tests.workspace.demo_store import acme, demo_store, demo_template, people

__all__ = ["acme", "demo_store", "demo_template", "people"]

pytestmark = pytest.mark.django_db(transaction=True)

CANARY_EMAIL = "Zq7canary.Wren@Example.NET"
CANARY_NAME = "Quillon Zq7canarywren"
CANARY_CUSTOMER = "CUST-Zq7-55120"


def _hits(data: bytes) -> list[str]:
    lowered = data.lower()
    needles = {CANARY_EMAIL, CANARY_EMAIL.lower(), CANARY_NAME, "zq7canary", CANARY_CUSTOMER}
    found = []
    for needle in needles:
        for encoding in ("utf-8", "utf-16-le"):
            if needle.lower().encode(encoding) in lowered:
                found.append(f"{needle} ({encoding})")
    return found


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_an_erasure_request_leaves_only_a_hash(client, acme, people, caplog):
    caplog.set_level(logging.DEBUG)
    person = people.erasable(1)[0]
    people.execute("UPDATE people SET email = ?, name = ? WHERE id = ?",
                   CANARY_EMAIL.lower(), CANARY_NAME, person.id)

    # The person files the public form and opens the emailed link.
    response = client.post("/privacy/request/acme/", form_data(
        email=CANARY_EMAIL, name=CANARY_NAME, request_type="erasure",
        details=f"My customer number is {CANARY_CUSTOMER}."))
    assert response.status_code == 302
    request = IntakeRequest.objects.get()
    link = verification_link(mail.outbox[-1])
    assert client.get(urlparse(link).path).status_code == 200

    # An operator fulfils it (the ERASE waits for approval), another approves, a worker runs.
    operator = factories.user_create(email="op.one@example.com", is_staff=True)
    approver = factories.user_create(email="op.two@example.com", is_staff=True)
    services.request_note(request_id=request.pk, actor=factories.actor(operator),
                          text=f"Called {CANARY_NAME} back on their number to confirm.")
    services.intake_fulfil(request_id=request.pk, actor=factories.actor(operator))
    job = Job.objects.get(request=request)
    assert job.job_type == "ERASE"
    assert job.status == JobStatus.PENDING
    job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk, worker="canary-worker")

    job.refresh_from_db()
    request.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert request.status == RequestStatus.COMPLETED
    # The person is gone from the datastore, and from the request: only the hash remains.
    assert people.raw("SELECT count(*) FROM people WHERE email = ?", CANARY_EMAIL.lower()) == [(0,)]
    # The completion email went out first, to the address that is now gone.
    completion = mail.outbox[-1]
    assert completion.to == [CANARY_EMAIL]
    assert request.reference in completion.subject
    assert (request.email, request.name, request.details) == ("", "", "")
    # (the assertions above are repeated by the byte scan below, which would also catch a
    # copy of the email anywhere else in the control database)
    assert request.minimised_at is not None
    assert request.identity_hash == identity_digest(acme.pk, CANARY_EMAIL.lower())
    assert "[erased]" in request.events.get(kind="note").text
    assert AuditEvent.objects.filter(action="intake.minimised",
                                     target_id=str(request.pk)).exists()

    # Scan the bytes: the control DB file and its WAL, the artifacts, the captured logs.
    connection.close()
    database = Path(settings.DATABASES["default"]["NAME"])
    if connection.vendor == "sqlite":
        scanned = [database, Path(f"{database}-wal")]
        for path in scanned:
            if path.exists():
                assert _hits(path.read_bytes()) == [], path
        assert database.stat().st_size > 0
    for path in _files_under(Path(settings.DATA_DIR) / "artifacts"):
        assert _hits(path.read_bytes()) == [], path
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert _hits(logged.encode()) == []
    # The scanner itself finds the canary where it must be: the email sent to the person.
    assert _hits(" ".join(mail.outbox[0].to).encode())
