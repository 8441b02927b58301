"""An idle worker starts a job when the job is committed, not at its next poll.

A real `privacyops worker` process on the database queue, polling only every 30 s; the control
DB is this run's (SQLite, or PostgreSQL when PRIVACYOPS_DATABASE_URL points there), so the
ring travels over a Unix socket or over LISTEN/NOTIFY.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_create
from tests import factories
from tests.scale.conftest import free_port, process_env, stop_process, wait_until

POLL_SECONDS = 30


def _idle_worker(*extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "privacyops.cli", "worker", "--interval", str(POLL_SECONDS),
         *extra],
        env=process_env(PRIVACYOPS_TASKS_BACKEND="db"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )


def _export(demo_store, staff, offset: int, *, enqueue: bool = True) -> Job:
    return job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT", target_type="subject",
                      target_id=str(demo_store.erasable_person(offset)),
                      actor=factories.actor(staff), enqueue=enqueue)


def _settled(job: Job) -> bool:
    job.refresh_from_db()
    return job.status in {JobStatus.COMPLETED, JobStatus.FAILED}


class TestDoorbell:
    def test_a_job_created_while_the_worker_idles_starts_at_once(self, demo_store, staff):
        worker = _idle_worker("--reconcile-every", "600")
        try:
            first = _export(demo_store, staff, 0)  # found by the worker's first look
            wait_until(lambda: _settled(first), timeout=60, what="the first export")
            # The worker now idles until a ring, or for 30 s.
            job = _export(demo_store, staff, 1)
            wait_until(lambda: _settled(job), timeout=POLL_SECONDS * 0.8,
                       what="the export rung while the worker idled")
        finally:
            output = stop_process(worker)
        assert job.status == JobStatus.COMPLETED, (job.error_message, output)
        assert job.started_at is not None
        waited = job.started_at - job.created_at
        assert timedelta(0) <= waited < timedelta(seconds=1), (waited, output)

    def test_the_reconciler_runs_a_job_whose_ring_was_lost(self, demo_store, staff):
        worker = _idle_worker("--reconcile-every", "0.5")
        try:
            job = _export(demo_store, staff, 2, enqueue=False)  # neither queued nor rung
            # Nobody took the job for a while: exactly what the reconciler looks for.
            Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
            wait_until(lambda: _settled(job), timeout=POLL_SECONDS * 0.8,
                       what="the reconciler re-ringing the lost job")
        finally:
            output = stop_process(worker)
        assert job.status == JobStatus.COMPLETED, (job.error_message, output)
        assert "re-enqueued 1 job(s)" in output
        assert worker.returncode == 0, output


class TestLongPoll:
    def test_get_with_wait_answers_when_the_job_completes(self, demo_store, staff, client):
        worker = _idle_worker("--reconcile-every", "600")
        try:
            client.force_login(staff)
            created = client.post(
                "/api/v1/jobs", {"tenant_id": demo_store.tenant.pk, "type": "EXPORT",
                                 "target_type": "subject",
                                 "target_id": str(demo_store.erasable_person(3))},
                content_type="application/json",
            )
            assert created.status_code == 201, created.content
            job_id = created.json()["id"]
            answered = client.get(f"/api/v1/jobs/{job_id}?wait=25")
        finally:
            output = stop_process(worker)
        assert answered.status_code == 200
        body = answered.json()
        assert body["status"] == "Completed", (body, output)
        assert body["result"]["sections"]["data_subject"] == 1

    def test_wait_on_a_pending_job_answers_with_it_pending(self, demo_store, staff, client):
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="ERASE", target_type="subject",
                         target_id=str(demo_store.erasable_person(4)),
                         actor=factories.actor(staff))
        assert job.status == JobStatus.PENDING  # waits for a second person's approval
        client.force_login(staff)
        answered = client.get(f"/api/v1/jobs/{job.pk}?wait=0.3")
        assert answered.status_code == 200
        assert answered.json()["status"] == "Pending"


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


class TestServe:
    def test_serve_runs_jobs_on_a_thread_of_its_one_web_process(self, demo_store, staff):
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "privacyops.cli", "serve", "--port", str(port)],
            env=process_env(PRIVACYOPS_TASKS_BACKEND="db"), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        try:
            def answers() -> bool:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/",
                                                timeout=2) as response:
                        return response.status == 200
                except OSError:
                    return False

            wait_until(answers, timeout=90, what="the web server answering")
            processes = [server.pid, *_children(server.pid)]
            job = _export(demo_store, staff, 5)
            wait_until(lambda: _settled(job), timeout=60, what="serve's worker thread")
        finally:
            output = stop_process(server)
        assert job.status == JobStatus.COMPLETED, (job.error_message, output)
        # No supervisor holding a whole Django, no worker process: gunicorn and one web process.
        assert len(processes) == 2, output
        started = AuditEvent.objects.get(action="job.started", target_id=str(job.pk))
        assert started.actor_id.endswith(f":{processes[1]}"), (started.actor_id, processes)
        assert server.returncode == 0, output
