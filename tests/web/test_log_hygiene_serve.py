"""A real `privacyops serve` (gunicorn and its job worker) writes no canary to stdout/stderr.

The flows run over HTTP against the process, with mail going to a real SMTP server (the
console mail backend would print the mails themselves); its whole output is then scanned.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import closing

import pytest
import requests

from privacyops.execution.models import Artifact
from privacyops.intake.forms import form_token
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from tests import factories
from tests.browser.conftest import smtp_server
from tests.scale.conftest import free_port, process_env, stop_process, wait_until
from tests.web.test_log_hygiene import CANARY_EMAIL, CANARY_NAME, CANARY_PASSWORD, CANARY_TARGET
from tests.workspace.demo_store import acme, demo_store, demo_template, globex, must_match

__all__ = ["acme", "demo_store", "demo_template", "globex", "smtp_server"]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast_password_hashing():
    """The server process checks passwords with the real hashers: keep them here too."""


def _csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    return must_match(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def _mail_matching(smtp, pattern: str, seen: int) -> re.Match[str]:
    message = smtp.wait_for(lambda m: smtp.messages.index(m) >= seen
                            and re.search(pattern, m.get_body().get_content()) is not None,
                            timeout=30)
    return must_match(pattern, message.get_body().get_content())


def _job_done(job: Job) -> bool:
    job.refresh_from_db()
    return job.status in {JobStatus.COMPLETED, JobStatus.FAILED}


class TestServeProcessOutput:
    def test_flows_leave_no_canary_in_the_server_output(self, acme, globex, demo_store, staff,
                                                        other_staff, smtp_server):
        with closing(sqlite3.connect(demo_store)) as conn:
            person = conn.execute("SELECT id FROM people WHERE workspace_id = 1 AND role = "
                                  "'member' ORDER BY id LIMIT 1").fetchone()[0]
            conn.execute("UPDATE people SET email = ?, name = ? WHERE id = ?",
                         (CANARY_EMAIL, CANARY_NAME, person))
            conn.commit()
        outsider = factories.user_create(tenant=globex, role="admin")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = process_env(PRIVACYOPS_EMAIL_HOST=smtp_server.host,
                          PRIVACYOPS_EMAIL_PORT=str(smtp_server.port),
                          PRIVACYOPS_LOG_LEVEL="DEBUG")
        server = subprocess.Popen(
            [sys.executable, "-m", "privacyops.cli", "serve", "--port", str(port),
             "--workers", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        canaries = {"email": CANARY_EMAIL, "name": CANARY_NAME, "password": CANARY_PASSWORD,
                    "typed target": CANARY_TARGET.split("@")[0]}
        failure: BaseException | None = None
        try:
            def answers() -> bool:
                try:
                    return requests.get(f"{base}/login/", timeout=2).status_code == 200
                except requests.RequestException:
                    return False

            wait_until(answers, timeout=60, what="the web server answering")

            # Intake: submit, verify twice (the second answers 410 with the token in its path).
            visitor = requests.Session()
            csrf = _csrf(visitor, f"{base}/privacy/request/acme/")
            seen = len(smtp_server.messages)
            submitted = visitor.post(f"{base}/privacy/request/acme/", data={
                "csrfmiddlewaretoken": csrf, "email": CANARY_EMAIL, "name": CANARY_NAME,
                "request_type": "access", "details": CANARY_NAME, "own_data": "on",
                "homepage": "", "started": form_token(time.time() - 10)}, timeout=10)
            assert submitted.status_code == 200, submitted.text[:300]
            link = _mail_matching(smtp_server, r"/privacy/request/acme/verify/([-\w]+)/", seen)
            canaries["verification token"] = link.group(1)
            assert visitor.get(base + link.group(0), timeout=10).status_code == 200
            assert visitor.get(base + link.group(0), timeout=10).status_code == 410

            # Privacy center: code, a wrong code, the right code, an export, its download.
            csrf = _csrf(visitor, f"{base}/privacy/acme/")
            seen = len(smtp_server.messages)
            visitor.post(f"{base}/privacy/acme/code/",
                         data={"csrfmiddlewaretoken": csrf, "email": CANARY_EMAIL}, timeout=10)
            code = _mail_matching(smtp_server, r"\b(\d{6})\b", seen).group(1)
            canaries["privacy-center code"] = code
            csrf = visitor.cookies["csrftoken"]
            wrong = f"{(int(code) + 1) % 1_000_000:06d}"
            assert visitor.post(f"{base}/privacy/acme/verify/", timeout=10, data={
                "csrfmiddlewaretoken": csrf, "code": wrong}).status_code == 422
            assert visitor.post(f"{base}/privacy/acme/verify/", timeout=10, data={
                "csrfmiddlewaretoken": csrf, "code": code}).status_code == 200
            csrf = visitor.cookies["csrftoken"]
            visitor.post(f"{base}/privacy/acme/export/", data={"csrfmiddlewaretoken": csrf},
                         timeout=10)
            export = Job.objects.filter(tenant=acme, job_type="EXPORT").latest("pk")
            wait_until(lambda: _job_done(export), timeout=60, what="the worker exporting")
            artifact = Artifact.objects.get(job=export)
            assert visitor.get(f"{base}/privacy/acme/downloads/{artifact.pk}/",
                               timeout=10).status_code == 200
            assert visitor.get(f"{base}/privacy/acme/downloads/{uuid.uuid4()}/",
                               timeout=10).status_code == 404

            # Staff download link: valid, tampered, another tenant's admin.
            job = job_create(tenant_id=acme.pk, job_type="EXPORT", target_type="subject",
                             target_id=str(person), reason="Art. 15",
                             actor=factories.actor(staff))
            if job.requires_approval:
                job_approve(job_id=job.pk, actor=factories.actor(other_staff))
            wait_until(lambda: _job_done(job), timeout=60, what="the worker exporting")
            assert job.status == JobStatus.COMPLETED, job.error_message
            link = job.result["download_url"]
            canaries["signed download link"] = link.strip("/").rsplit("/", 1)[-1]
            for user, expected in ((staff, 200), (outsider, 404)):
                session = requests.Session()
                csrf = _csrf(session, f"{base}/login/")
                session.post(f"{base}/login/", timeout=10, data={
                    "csrfmiddlewaretoken": csrf, "username": user.email,
                    "password": factories.PASSWORD})
                answer = session.get(base + link, timeout=10, allow_redirects=False)
                assert answer.status_code == expected
            assert session.get(base + link.replace(":", "x", 1), timeout=10,
                               allow_redirects=False).status_code == 404
            assert requests.get(f"{base}/api/v1/jobs/{CANARY_TARGET}", timeout=10,
                                headers={"Authorization": f"Bearer po_{CANARY_TARGET}"}
                                ).status_code == 401

            # A job whose typed target fails in the worker, and failed sign-ins.
            failing = job_create(tenant_id=acme.pk, job_type="EXPORT", target_type="subject",
                                 target_id=CANARY_TARGET, reason="Art. 15",
                                 actor=factories.actor(staff))
            wait_until(lambda: failing.refresh_from_db() or bool(failing.error_code),
                       timeout=60, what="the worker trying the failing job")
            stranger = requests.Session()
            for _ in range(6):
                csrf = _csrf(stranger, f"{base}/login/")
                stranger.post(f"{base}/login/", timeout=10, data={
                    "csrfmiddlewaretoken": csrf, "username": CANARY_EMAIL,
                    "password": CANARY_PASSWORD})
        except Exception as error:
            failure = error
        finally:
            output = stop_process(server)
        if failure is not None:
            pytest.fail(f"{failure!r}\n--- server output ---\n{output[-6000:]}")
        assert "Not Found" in output or "Gone" in output, output[-3000:]
        # The access log names the route that answered each request, never its path.
        assert '"GET /privacy/request/<slug:slug>/verify/<str:token>/" 410 ' in output, \
            output[-3000:]
        assert '"GET /login/" 200 ' in output
        assert re.search(r'"POST /privacy/\S+/verify/" 422 ', output), output[-3000:]
        assert '"GET /" 302 ' in output
        leaked = [what for what, value in canaries.items() if value in output]
        assert leaked == [], output[-5000:]
