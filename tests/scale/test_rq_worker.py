"""The RQ path against a real redis-server: real `privacyops worker` and `serve` processes."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_create
from tests import factories
from tests.scale.conftest import free_port, process_env, run_worker_batch, stop_process, wait_until

# Real RQ worker processes, stopped by SIGTERM against deadlines: scripts/test runs them after
# the parallel runs, one at a time (under a parallel run's load their shutdown timing is not
# the product's).
pytestmark = pytest.mark.serial


def _rq_env(redis_url: str) -> dict[str, str]:
    return process_env(PRIVACYOPS_TASKS_BACKEND="rq", PRIVACYOPS_REDIS_URL=redis_url)


def _export(demo_store, staff, offset: int = 0) -> Job:
    job = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT", target_type="subject",
                     target_id=str(demo_store.erasable_person(offset)),
                     actor=factories.actor(staff))
    assert job.status == JobStatus.APPROVED
    return job


def _queued() -> int:
    return int(django_rq.get_queue("default").count)


def _status(job: Job) -> str:
    job.refresh_from_db()
    return job.status


class TestRQWorker:
    def test_worker_completes_an_export_rung_on_redis(self, demo_store, staff, rq_backend):
        job = _export(demo_store, staff)
        assert _queued() == 1, "the doorbell should ring on Redis, not in the control DB"

        finished = run_worker_batch(_rq_env(rq_backend))

        assert finished.returncode == 0, finished.stderr
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert job.result["sections"]["data_subject"] == 1
        assert job.result["download_url"].startswith("/downloads/")
        assert job.attempts == 1
        assert _queued() == 0

    def test_lost_message_is_recovered_by_the_reconciler(self, demo_store, staff, rq_backend):
        job = _export(demo_store, staff)
        django_rq.get_queue("default").empty()  # Redis lost the doorbell
        assert _queued() == 0
        env = _rq_env(rq_backend)
        assert run_worker_batch(env).returncode == 0
        assert _status(job) == JobStatus.APPROVED, "nothing rang: no worker may have run it"
        # Nobody took the job for a while: exactly what the reconciler looks for.
        Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

        worker = subprocess.Popen(
            [sys.executable, "-m", "privacyops.cli", "worker", "--reconcile-every", "0.5"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            wait_until(lambda: _status(job) in {JobStatus.COMPLETED, JobStatus.FAILED},
                       timeout=60, what="the reconciler re-ringing the lost job")
        finally:
            output = stop_process(worker)

        assert job.status == JobStatus.COMPLETED, (job.error_message, output)
        assert "re-enqueued 1 job(s)" in output
        assert worker.returncode == 0, output

    def test_two_workers_share_the_queue_and_run_each_job_once(self, demo_store, staff,
                                                               rq_backend):
        jobs = [_export(demo_store, staff, offset) for offset in range(6)]
        assert _queued() == 6
        env = _rq_env(rq_backend)

        workers = [
            subprocess.Popen([sys.executable, "-m", "privacyops.cli", "worker", "--batch"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=180)[0] for worker in workers]

        assert [worker.returncode for worker in workers] == [0, 0], outputs
        for job in jobs:
            job.refresh_from_db()
            assert job.status == JobStatus.COMPLETED, job.error_message
            assert job.attempts == 1
        started = AuditEvent.objects.filter(action="job.started",
                                            target_id__in=[str(job.pk) for job in jobs])
        assert sorted(int(event.target_id) for event in started) == sorted(j.pk for j in jobs)


class TestServeWithRQ:
    def test_serve_answers_and_its_worker_takes_jobs_from_redis(self, demo_store, staff,
                                                                rq_backend):
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "privacyops.cli", "serve", "--port", str(port),
             "--workers", "1"],
            env=_rq_env(rq_backend), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            def answers() -> bool:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/",
                                                timeout=2) as response:
                        return response.status == 200
                except OSError:
                    return False

            wait_until(answers, timeout=60, what="the web server answering")
            job = _export(demo_store, staff)
            wait_until(lambda: _status(job) in {JobStatus.COMPLETED, JobStatus.FAILED},
                       timeout=60, what="serve's worker taking the job from Redis")
        finally:
            output = stop_process(server)
        assert job.status == JobStatus.COMPLETED, (job.error_message, output)
        assert server.returncode == 0, output
