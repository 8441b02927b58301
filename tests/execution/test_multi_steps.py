"""Steps of multi-system jobs: a system down mid-job, verification, manual systems."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.utils import timezone

from privacyops.execution.models import ErasureLedgerEntry, JobStep
from privacyops.execution.runner import run_job_now
from privacyops.execution.steps import step_settle, step_waiting
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_claim, job_create, jobs_reconcile
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ConnectorType, System
from tests import factories
from tests.execution.multi_store import demo_store, multi_store

__all__ = ["demo_store", "multi_store"]


def _erase(store, staff, approver, email, job_type="ERASE") -> Job:
    job = job_create(tenant_id=store.tenant.pk, job_type=job_type, target_type="subject",
                     identity={"email": email}, reason="Art. 17",
                     actor=factories.actor(staff))
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk)
    job.refresh_from_db()
    return job


def _steps(job: Job) -> dict[str, JobStep]:
    return {step.system_name: step for step in JobStep.objects.filter(job=job)}


def _point_helpdesk_at(settings, monkeypatch, url: str) -> None:
    path = Path(settings.DATAMAP_DIR) / "helpdesk.yaml"
    document = yaml.safe_load(path.read_text())
    document["connection"] = {"url_env": "HELPDESK_TEST_URL"}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.setenv("HELPDESK_TEST_URL", url)


class TestSystemDown:
    def test_retry_runs_only_what_remains(self, multi_store, staff, other_staff, settings,
                                          monkeypatch, tmp_path):
        person_id, email = multi_store.person()
        requester = multi_store.requester_of(email)
        _point_helpdesk_at(settings, monkeypatch,
                           f"sqlite:///{tmp_path / 'gone' / 'helpdesk.sqlite3'}")
        job = _erase(multi_store, staff, other_staff, email)
        steps = _steps(job)
        assert steps["demo"].status == "completed"
        assert steps["helpdesk"].status == "failed"
        assert steps["helpdesk"].error_code == "datastore_unavailable"
        # The workspace app is erased; the helpdesk is untouched, and the job will be retried.
        assert multi_store.app("SELECT name FROM people WHERE id = ?", person_id) == [
            ("Erased user",)]
        assert multi_store.desk("SELECT email FROM requesters WHERE id = ?", requester) == [
            (email,)]
        assert job.status == JobStatus.PROCESSING
        assert job.error_code == "datastore_unavailable"
        demo_finished = steps["demo"].finished_at

        monkeypatch.setenv("HELPDESK_TEST_URL", f"sqlite:///{multi_store.helpdesk}")
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        steps = _steps(job)
        assert steps["helpdesk"].status == "completed"
        assert steps["helpdesk"].verified
        assert steps["demo"].attempts == 1
        assert steps["demo"].finished_at == demo_finished
        assert multi_store.desk("SELECT name FROM requesters WHERE id = ?", requester) == [
            ("Erased requester",)]
        assert job.result["systems"]["demo"]["rows"] == steps["demo"].rows > 0
        assert ErasureLedgerEntry.objects.filter(job=job).count() == 1

    def test_an_interrupted_step_is_recorded_as_planned_not_run_again(
            self, multi_store, staff, other_staff):
        """A worker killed after the datastore committed, before the step was recorded: the
        next attempt finds the erasure applied and keeps the planned result."""
        _person_id, email = multi_store.person()
        job = _erase(multi_store, staff, other_staff, email)
        assert job.status == JobStatus.COMPLETED
        step = _steps(job)["helpdesk"]
        rows = step.rows
        # What the killed attempt left: the step running, its plan recorded, the job leased
        # to a dead worker whose lease has expired.
        JobStep.objects.filter(pk=step.pk).update(
            status="running", verified=False, result={"pending": step.result})
        Job.objects.filter(pk=job.pk).update(status=JobStatus.PROCESSING, lease_owner="dead:1",
                                             lease_expires_at=timezone.now(), result=None)
        ErasureLedgerEntry.objects.filter(job=job).delete()
        run_job_now(job.pk)
        step.refresh_from_db()
        assert step.status == "completed"
        assert step.rows == rows
        assert step.result["recovered"] is True


class TestVerification:
    def test_a_field_the_map_keeps_fails_the_step_naming_table_and_column(
            self, multi_store, staff, other_staff, settings):
        path = Path(settings.DATAMAP_DIR) / "helpdesk.yaml"
        document = yaml.safe_load(path.read_text())
        document["entities"]["ticket_messages"]["fields"]["author_email"]["erase"] = "keep"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        _person_id, email = multi_store.person()
        job = _erase(multi_store, staff, other_staff, email)
        step = _steps(job)["helpdesk"]
        assert step.status == "failed"
        assert step.error_code == "verification_failed"
        assert not step.verified
        assert "ticket_messages.author_email" in step.error_message
        assert "ticket_messages.author_email" in job.error_message
        assert job.status == JobStatus.FAILED  # another attempt would find the same value


class TestManualSystem:
    def test_a_waiting_step_parks_the_job_until_it_is_settled(
            self, multi_store, staff, other_staff):
        System.objects.create(tenant=multi_store.tenant, name="paper-files",
                              connector_type=ConnectorType.MANUAL, datamap_name="paper-files")
        heard: list[JobStep] = []

        def receiver(sender, step, **kwargs):
            heard.append(step)

        step_waiting.connect(receiver)
        try:
            _person_id, email = multi_store.person()
            job = _erase(multi_store, staff, other_staff, email)
        finally:
            step_waiting.disconnect(receiver)
        steps = _steps(job)
        assert steps["demo"].status == steps["helpdesk"].status == "completed"
        assert steps["paper-files"].status == "waiting"
        assert [s.system_name for s in heard] == ["paper-files"]
        assert job.status == JobStatus.PROCESSING
        assert job.lease_owner == ""
        assert job.lease_expires_at is None
        # Nobody takes it: not a worker, not the reconciler.
        assert jobs_reconcile(stale_after=timezone.timedelta(0)) == 0
        assert job_claim(job_id=job.pk, worker_id="other:2") is None
        run_job_now(job.pk)
        assert _steps(job)["paper-files"].attempts == 1

        step_settle(step_id=steps["paper-files"].pk, status="completed", rows=3,
                    result={"note": "shredded 3 folders"}, actor=Actor.for_user(staff))
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED
        assert job.result["systems"]["paper-files"]["rows"] == 3
        assert ErasureLedgerEntry.objects.filter(job=job).count() == 1

    def test_a_failed_manual_step_fails_the_job(self, multi_store, staff, other_staff):
        System.objects.create(tenant=multi_store.tenant, name="paper-files",
                              connector_type=ConnectorType.MANUAL, datamap_name="paper-files")
        _person_id, email = multi_store.person()
        job = _erase(multi_store, staff, other_staff, email, job_type="EXPORT")
        step = _steps(job)["paper-files"]
        assert step.status == "waiting"
        assert job.status == JobStatus.PROCESSING
        step_settle(step_id=step.pk, status="failed", result={"message": "Archive closed."},
                    actor=Actor.for_user(staff))
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert "paper-files" in job.error_message


class TestTenantPurge:
    def _purge(self, store, staff, approver) -> Job:
        job = job_create(tenant_id=store.tenant.pk, job_type="PURGE", target_type="tenant",
                         target_id=str(store.key), reason="Contract ended",
                         actor=factories.actor(staff))
        if job.status == JobStatus.PENDING:
            job_approve(job_id=job.pk, actor=factories.actor(approver))
        run_job_now(job.pk)
        job.refresh_from_db()
        return job

    def test_every_system_is_purged_and_counted_empty(self, multi_store, staff, other_staff):
        other_before = multi_store.desk("SELECT COUNT(*) FROM tickets WHERE workspace_id != ?",
                                        multi_store.key)
        job = self._purge(multi_store, staff, other_staff)
        assert job.status == JobStatus.COMPLETED, job.error_message
        steps = _steps(job)
        assert set(steps) == {"demo", "helpdesk"}
        assert all(step.verified and step.result["rows_left"] == 0 for step in steps.values())
        for table in ("requesters", "tickets", "ticket_messages"):
            assert multi_store.desk(f"SELECT COUNT(*) FROM {table} WHERE workspace_id = ?",  # noqa: S608
                                    multi_store.key) == [(0,)]
        assert multi_store.app("SELECT COUNT(*) FROM people WHERE workspace_id = ?",
                               multi_store.key) == [(0,)]
        assert multi_store.desk("SELECT COUNT(*) FROM tickets WHERE workspace_id != ?",
                                multi_store.key) == other_before
        assert steps["helpdesk"].rows == job.result["systems"]["helpdesk"]["rows_deleted"] > 0
        assert ErasureLedgerEntry.objects.filter(job=job).count() == 1

    def test_an_identity_hold_in_one_system_stops_the_purge_everywhere(
            self, multi_store, staff, other_staff):
        from privacyops.holds.services import hold_place

        _person_id, email = multi_store.person()
        hold_place(tenant_id=multi_store.tenant.pk, scope_type="identity",
                   scope_id=f"email {email}", reason="Tribunal",
                   actor=factories.actor(staff))
        before = multi_store.table_bytes()
        job = self._purge(multi_store, staff, other_staff)
        assert job.status == JobStatus.FAILED
        assert job.error_code == "legal_hold"
        assert multi_store.table_bytes() == before
