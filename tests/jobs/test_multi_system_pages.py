"""The new-job page takes an email; the job page shows a row per system, updated while it runs."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from privacyops.audit.models import AuditEvent
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_create
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import ConnectorType, System
from tests import factories
from tests.execution.multi_store import demo_store, multi_store

__all__ = ["demo_store", "multi_store"]


def _rows(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-system="([^"]+)" data-status="([^"]+)"', html))


class TestPages:
    def test_new_job_by_email_and_its_page(self, multi_store, staff):
        client = Client()
        client.force_login(staff)
        _person_id, email = multi_store.person()
        response = client.post(reverse("platform:job-new"), {
            "tenant": multi_store.tenant.pk, "job_type": "EXPORT", "target_type": "subject",
            "target_id": "", "email": email.upper(), "reason": "Access request"})
        assert response.status_code == 302, response.content.decode()[:2000]
        job = Job.objects.get()
        assert job.identity == {"email": email}
        page = client.get(reverse("platform:job-detail", args=[job.pk])).content.decode()
        assert _rows(page) == {"demo": "pending", "helpdesk": "pending"}
        assert email in page
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED
        # The page's own poll (?seen=Approved) now answers with the changed page.
        polled = client.get(reverse("platform:job-detail", args=[job.pk]), {"seen": "Approved"})
        assert polled.status_code == 200
        assert _rows(polled.content.decode()) == {"demo": "completed", "helpdesk": "completed"}

    def test_neither_id_nor_email_is_refused_in_words(self, multi_store, staff):
        client = Client()
        client.force_login(staff)
        response = client.post(reverse("platform:job-new"), {
            "tenant": multi_store.tenant.pk, "job_type": "EXPORT", "target_type": "subject",
            "target_id": "", "email": ""})
        assert response.status_code == 422
        assert "the person&#x27;s email" in response.content.decode()
        assert not Job.objects.exists()


class TestDryRunByEmail:
    def test_each_system_lists_what_would_change_and_nothing_is_written(self, multi_store,
                                                                      staff):
        client = Client()
        client.force_login(staff)
        _person_id, email = multi_store.person()
        before = multi_store.table_bytes()
        response = client.get(reverse("platform:job-preview"), {
            "tenant": multi_store.tenant.pk, "job_type": "ERASE", "target_type": "subject",
            "target_id": "", "email": email})
        assert response.status_code == 200
        page = response.content.decode()
        parts = re.split(r'<section class="preview-system" data-system="', page)[1:]
        by_system = {part.split('"', 1)[0]: part for part in parts}
        assert set(by_system) == {"demo", "helpdesk"}
        # The helpdesk: one requester, 2 tickets, 4 messages (2 of each ticket).
        desk = dict(re.findall(r"<code>(\w+)</code></td><td>(\d+)</td>", by_system["helpdesk"]))
        assert desk == {"requesters": "1", "tickets": "2", "ticket_messages": "4"}
        assert multi_store.table_bytes() == before


class TestProgress:
    def test_a_job_waiting_on_one_of_three_systems_shows_two_thirds_done(self, multi_store,
                                                                         staff):
        System.objects.create(tenant=multi_store.tenant, name="paper-files",
                              connector_type=ConnectorType.MANUAL, datamap_name="paper-files")
        client = Client()
        client.force_login(staff)
        _person_id, email = multi_store.person()
        job = job_create(tenant_id=multi_store.tenant.pk, job_type="EXPORT",
                         target_type="subject", identity={"email": email},
                         actor=Actor.for_user(staff))
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.PROCESSING  # parked on the paper files
        for url, query in ((reverse("platform:job-detail", args=[job.pk]), {}),
                           (reverse("platform:job-progress", args=[job.pk]),
                            {"seen": "Processing"})):
            page = client.get(url, query).content.decode()
            assert 'data-system="paper-files"' in page, url
            assert "Waiting for the system&#x27;s owner" in page, url
            assert 'value="66"' in page, url  # 2 of 3 systems settled


def _ambiguous_erase(multi_store, staff, approver) -> tuple[Job, int, str]:
    return multi_store.ambiguous_erase(staff, approver)


def _pick_rows(html: str) -> dict[str, str]:
    """The candidates a pick form offers: radio value -> its label's text."""
    return {value: re.sub(r"<[^>]+>", "", label).strip()
            for value, label in re.findall(
                r'name="target_id" value="([^"]+)" required>\s*<label[^>]*>(.*?)</label>', html,
                re.S)}


class TestPickOnThePage:
    def test_the_candidates_are_shown_by_name_and_the_pick_resumes_the_job(
            self, multi_store, staff, other_staff):
        job, requester, email = _ambiguous_erase(multi_store, staff, other_staff)
        (name,) = multi_store.desk("SELECT name FROM requesters WHERE id = ?", requester)[0]
        client = Client(enforce_csrf_checks=True)
        client.force_login(staff)
        page = client.get(reverse("platform:job-detail", args=[job.pk])).content.decode()
        assert 'data-pick-system="helpdesk"' in page
        assert 'data-pick-system="demo"' not in page
        offered = _pick_rows(page)
        assert set(offered) == {str(requester), "99999"}
        assert name in offered[str(requester)]
        assert email in offered[str(requester)]
        assert "Second Account" in offered["99999"]
        url = reverse("platform:job-step-pick", args=[job.pk, "helpdesk"])
        before = multi_store.table_bytes()
        # Without the form's CSRF token: refused, nothing picked.
        assert client.post(url, {"target_id": "99999"}).status_code == 403
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        # A subject the identity does not match: refused in words, nothing picked.
        refused = client.post(url, {"target_id": "12345678", "csrfmiddlewaretoken": token})
        assert refused.status_code == 422
        assert "is not one of the 2 subjects" in refused.content.decode()
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        assert not job.steps.exclude(picked_key="").exists()
        response = client.post(url, {"target_id": "99999", "csrfmiddlewaretoken": token})
        assert response.status_code == 302
        job.refresh_from_db()
        assert job.status == JobStatus.APPROVED  # resumed, as a pick then a retry by the API
        assert multi_store.table_bytes() == before  # nothing written until the worker runs
        assert AuditEvent.objects.filter(action="job.step_picked", target_id=str(job.pk),
                                         outcome="success").count() == 1
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        assert multi_store.desk("SELECT name FROM requesters WHERE id = 99999") == [
            ("Erased requester",)]
        assert multi_store.desk("SELECT email FROM requesters WHERE id = ?", requester) == [
            (email,)]
        page = client.get(reverse("platform:job-detail", args=[job.pk])).content.decode()
        assert "data-pick-system" not in page
        assert "Picked key <code>99999</code> of 2 matches" in page

    def test_a_tenant_admin_sees_the_job_but_no_pick_and_may_not_pick(
            self, multi_store, staff, other_staff):
        job, requester, _email = _ambiguous_erase(multi_store, staff, other_staff)
        admin = factories.user_create(tenant=multi_store.tenant, role="admin")
        client = Client()
        client.force_login(admin)
        page = client.get(reverse("platform:job-detail", args=[job.pk]))
        assert page.status_code == 200
        assert "data-pick-system" not in page.content.decode()
        response = client.post(reverse("platform:job-step-pick", args=[job.pk, "helpdesk"]),
                               {"target_id": str(requester)})
        assert response.status_code == 403
        assert not job.steps.exclude(picked_key="").exists()
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
