"""No log record carries a token, a signed link or a data subject's identity.

Every public and operator flow runs with canary values (an email, a name, typed target ids,
the tokens and codes the flows hand out), then every record captured from the root logger is
scanned whole: message, arguments, traceback, stack and any extra attribute. The oracle is the
list of canaries, not the redaction code.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
import uuid
from contextlib import closing
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client

from privacyops.execution.models import Artifact
from privacyops.execution.runner import run_job_now
from privacyops.execution.targets import UnknownTarget
from privacyops.intake.forms import form_token
from privacyops.jobs.models import JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.logs import redacted_traceback
from tests import factories
from tests.workspace.demo_store import acme, demo_store, demo_template, globex, must_match

__all__ = ["acme", "demo_store", "demo_template", "globex"]

pytestmark = pytest.mark.django_db(transaction=True)

CANARY_EMAIL = "zq-canary-mail-5c1e@example.com"
CANARY_NAME = "Quillon Canarysson"
CANARY_TARGET = "zq-canary-target-77b2@example.com"
CANARY_PASSWORD = "zq-canary-password-90df"
# LogRecord attributes that are numbers of the logging machinery (a 6-digit code could occur
# in a timestamp by chance); everything else in a record is scanned.
NUMERIC_FIELDS = {"created", "msecs", "relativeCreated", "thread", "process", "levelno",
                  "lineno"}


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write from this record, and everything it carries."""
    parts = [str(record.msg), repr(record.args), record.getMessage()]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    for key, value in record.__dict__.items():
        if key not in NUMERIC_FIELDS and key not in {"msg", "args"}:
            parts.append(f"{key}={value!r}")
    return "\n".join(parts)


def leaks(records: list[logging.LogRecord], canaries: dict[str, str]) -> list[str]:
    found = []
    for record in records:
        text = record_text(record)
        found += [f"{what} in a {record.name} record: {record.getMessage()[:200]!r}"
                  for what, value in canaries.items() if value and value in text]
    return found


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def capture(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def _canary_person(demo_store, workspace_id: int = 1) -> int:
    """A member of the demo datastore renamed to the canary identity."""
    with closing(sqlite3.connect(demo_store)) as conn:
        person = conn.execute(
            "SELECT p.id FROM people p WHERE p.workspace_id = ? AND p.role = 'member' AND NOT "
            "EXISTS (SELECT 1 FROM hardware_assignments h WHERE h.person_id = p.id AND "
            "h.returned_at IS NULL) AND NOT EXISTS (SELECT 1 FROM software_assignments s "
            "WHERE s.person_id = p.id AND s.revoked_at IS NULL) ORDER BY p.id LIMIT 1",
            (workspace_id,)).fetchone()[0]
        conn.execute("UPDATE people SET email = ?, name = ? WHERE id = ?",
                     (CANARY_EMAIL, CANARY_NAME, person))
        conn.commit()
    return int(person)


def _intake_flows(client: Client, canaries: dict[str, str]) -> None:
    form = {"email": CANARY_EMAIL, "name": CANARY_NAME, "request_type": "erasure",
            "details": f"Please erase {CANARY_NAME}", "own_data": "on", "homepage": "",
            "started": form_token(time.time() - 10)}
    assert client.post("/privacy/request/acme/", form, REMOTE_ADDR="198.51.100.7").status_code == 302
    link = must_match(r"/privacy/request/acme/verify/([-\w]+)/", str(mail.outbox[-1].body))
    canaries["verification token"] = link.group(1)
    assert client.get(link.group(0)).status_code == 200
    assert client.get(link.group(0)).status_code == 410  # used: a 4xx with the token in its path
    assert client.get(link.group(0).replace(link.group(1), link.group(1)[::-1])).status_code == 404
    invalid = {**form, "own_data": "", "started": form_token(time.time() - 10)}
    assert client.post("/privacy/request/acme/", invalid, REMOTE_ADDR="198.51.100.7").status_code == 422
    for _ in range(3):
        client.post("/privacy/request/acme/", {**form, "started": form_token(time.time() - 10)},
                    REMOTE_ADDR="198.51.100.8")
    limited = client.post("/privacy/request/acme/", {**form, "started": form_token(time.time() - 10)},
                          REMOTE_ADDR="198.51.100.8")
    assert limited.status_code == 429


def _privacy_center_flows(client: Client, canaries: dict[str, str]) -> Artifact:
    assert client.post("/privacy/acme/code/", {"email": CANARY_EMAIL}).status_code == 303
    code = must_match(r"\b(\d{6})\b", str(mail.outbox[-1].body)).group(1)
    canaries["privacy-center code"] = code
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert client.post("/privacy/acme/verify/", {"code": wrong}).status_code == 422
    assert client.post("/privacy/acme/verify/", {"code": code}).status_code == 303
    assert client.post("/privacy/acme/export/").status_code == 303
    artifact_job = _latest_job()
    run_job_now(artifact_job.pk)
    artifact = Artifact.objects.get(job=artifact_job)
    assert client.get(f"/privacy/acme/downloads/{artifact.pk}/").status_code == 200
    assert client.get(f"/privacy/acme/downloads/{uuid.uuid4()}/").status_code == 404
    assert Client().get(f"/privacy/acme/downloads/{artifact.pk}/").status_code == 404
    assert client.post("/privacy/acme/delete/", {"confirmation_email": f"x{CANARY_EMAIL}",
                                                "reason": CANARY_NAME}).status_code == 422
    client.post("/privacy/globex/code/", {"email": CANARY_EMAIL})
    return artifact


def _latest_job() -> Any:
    from privacyops.jobs.models import Job

    return Job.objects.order_by("-pk").first()


def _download_flows(staff, outsider, person: int, canaries: dict[str, str], tenant) -> None:
    approver = factories.user_create(is_staff=True)
    job = job_create(tenant_id=tenant.pk, job_type="EXPORT", target_type="subject",
                     target_id=str(person), reason=f"Asked by {CANARY_NAME}",
                     actor=factories.actor(staff))
    if job.requires_approval:
        job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message
    link = job.result["download_url"]
    canaries["signed download link"] = link.strip("/").rsplit("/", 1)[-1]
    client = Client()
    client.force_login(staff)
    assert client.get(link).status_code == 200
    tampered = link.replace(":", "x", 1)
    assert client.get(tampered).status_code == 404
    canaries["tampered link"] = tampered.strip("/").rsplit("/", 1)[-1]
    other = Client()
    other.force_login(outsider)
    assert other.get(link).status_code == 404
    assert Client().get(link).status_code == 302  # to sign-in, with the link in ?next=


def _api_flows(staff, tenant) -> None:
    client = Client()
    client.force_login(staff)
    post = client.post("/api/v1/jobs", {"tenant_id": tenant.pk, "type": "ERASE",
                                        "target_type": "subject", "target_id": CANARY_TARGET,
                                        "reason": CANARY_NAME}, content_type="application/json")
    assert post.status_code < 500
    assert client.get(f"/api/v1/jobs/{CANARY_TARGET}").status_code in {404, 422}
    assert client.get("/api/v1/jobs", {"search": CANARY_TARGET}).status_code == 200
    assert client.get("/api/v1/jobs", {"cursor": CANARY_TARGET}).status_code == 422
    assert client.get(f"/api/v1/nowhere/{CANARY_EMAIL}").status_code == 404
    assert Client().get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer po_{CANARY_TARGET}").status_code == 401


def _failed_job_flows(demo_store, staff, tenant) -> None:
    approver = factories.user_create(is_staff=True)
    # An ERASE of an id that matches nothing is refused at creation (422), an EXPORT fails.
    with pytest.raises(UnknownTarget):
        job_create(tenant_id=tenant.pk, job_type="ERASE", target_type="subject",
                   target_id=CANARY_TARGET, reason="Art. 17", actor=factories.actor(staff))
    for job_type in ("EXPORT",):
        job = job_create(tenant_id=tenant.pk, job_type=job_type, target_type="subject",
                         target_id=CANARY_TARGET, reason="Art. 17", actor=factories.actor(staff))
        if job.requires_approval:
            job_approve(job_id=job.pk, actor=factories.actor(approver))
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status != JobStatus.COMPLETED


def _worker_failure_flow(demo_store, staff, tenant, person: int) -> None:
    """The datastore breaks under a running export of the canary person (the id resolves, a
    later table is gone): the driver's error quotes the query's values."""
    job = job_create(tenant_id=tenant.pk, job_type="EXPORT", target_type="subject",
                     target_id=str(person), reason="Art. 15", actor=factories.actor(staff))
    with closing(sqlite3.connect(demo_store)) as conn:
        conn.execute("ALTER TABLE activity_log RENAME TO activity_log_gone")
        conn.commit()
    try:
        run_job_now(job.pk)
    finally:
        with closing(sqlite3.connect(demo_store)) as conn:
            conn.execute("ALTER TABLE activity_log_gone RENAME TO activity_log")
            conn.commit()


def _login_failures(canaries: dict[str, str]) -> None:
    client = Client()
    for _ in range(7):
        client.post("/login/", {"username": CANARY_EMAIL, "password": CANARY_PASSWORD})
    client.post("/login/?next=/downloads/" + canaries["signed download link"] + "/",
                {"username": f" {CANARY_EMAIL}", "password": CANARY_PASSWORD})


class TestNoSecretsOrIdentitiesInLogs:
    def test_every_flow_logs_no_canary(self, capture, acme, globex, demo_store, staff):
        person = _canary_person(demo_store)
        canaries = {"email": CANARY_EMAIL, "email's local part": CANARY_EMAIL.split("@")[0],
                    "name": CANARY_NAME, "typed target": CANARY_TARGET.split("@")[0],
                    "password": CANARY_PASSWORD}
        outsider = factories.user_create(tenant=globex, role="admin")
        client = Client()
        _intake_flows(client, canaries)
        _privacy_center_flows(client, canaries)
        _download_flows(staff, outsider, person, canaries, acme)
        _api_flows(staff, acme)
        _failed_job_flows(demo_store, staff, acme)
        _worker_failure_flow(demo_store, staff, acme, person)
        _login_failures(canaries)

        records = capture.records
        names = {record.name for record in records}
        # The scan is only worth something if the flows logged: 4xx lines, job lines, tracebacks.
        assert "django.request" in names, names
        assert any(r.name == "privacyops.execution.runner" and r.exc_text for r in records), [
            (r.name, r.getMessage()) for r in records if r.name.startswith("privacyops")]
        assert leaks(records, canaries) == []
        assert any("/privacy/request/<slug:slug>/verify/<str:token>/" in r.getMessage()
                   for r in records), "4xx lines should name the route instead of the path"


class TestRedactedTraceback:
    def test_keeps_frames_and_types_but_not_messages(self):
        def lookup() -> None:
            raise KeyError(CANARY_EMAIL)

        try:
            try:
                lookup()
            except KeyError as error:
                raise RuntimeError(f"no person {CANARY_NAME}") from error
        except RuntimeError as error:
            text = redacted_traceback(error)
        assert CANARY_EMAIL not in text
        assert CANARY_NAME not in text
        assert "in lookup" in text
        assert "builtins.KeyError" in text
        assert "builtins.RuntimeError" in text

    def test_a_logged_exception_reaches_handlers_redacted(self, capture):
        try:
            raise ValueError(CANARY_EMAIL)
        except ValueError:
            logging.getLogger("privacyops.test").exception("lookup failed")
        record = capture.records[-1]
        assert record.exc_info is None
        assert "builtins.ValueError" in capture.text
        assert CANARY_EMAIL not in capture.text
        assert re.search(r"test_log_hygiene\.py", record.exc_text or "")
