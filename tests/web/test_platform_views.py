"""Platform → Privacy pages through the Django test client: access, filters, actions, exports."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.holds.models import LegalHold
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_claim, job_fail
from tests import factories

pytestmark = pytest.mark.django_db

OVERVIEW = "/platform/privacy/"
HOLDS = "/platform/privacy/holds/"
AUDIT = "/platform/privacy/audit/"


def detail_url(job: Job) -> str:
    return f"/platform/privacy/jobs/{job.pk}/"


def job_ids(response) -> set[int]:
    """The job ids listed in a rendered jobs table."""
    return {int(pk) for pk in re.findall(r'<tr id="job-(\d+)"', response.content.decode())}


def stat_cards(response) -> dict[str, int]:
    html = response.content.decode()
    return {
        status: int(count)
        for status, count in re.findall(
            r'data-status="(\w+)">\s*<span class="stat-label">[^<]*</span>\s*'
            r'<span class="stat-count">(\d+)</span>', html)
    }


@pytest.fixture
def tenant_admin(tenant):
    return factories.user_create(email="admin@acme.example.com", tenant=tenant, role="admin")


@pytest.fixture
def member(tenant):
    return factories.user_create(email="member@acme.example.com", tenant=tenant, role="member")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def approver_client(other_staff):
    client = Client()
    client.force_login(other_staff)
    return client


class TestAccess:
    @pytest.mark.parametrize("path", [OVERVIEW, "/platform/privacy/jobs/1/", HOLDS, AUDIT,
                                      "/platform/privacy/jobs/new/"])
    def test_anonymous_is_sent_to_login(self, client, path):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")

    @pytest.mark.parametrize("path", [OVERVIEW, HOLDS, AUDIT, "/platform/privacy/jobs/new/"])
    def test_member_gets_403_in_words(self, client, member, path):
        client.force_login(member)
        response = client.get(path)
        assert response.status_code == 403
        assert "your role does not include it" in response.content.decode()

    def test_tenant_admin_opening_another_tenants_job_gets_404(
        self, client, tenant_admin, other_tenant, staff
    ):
        foreign = factories.job_create(tenant=other_tenant, requested_by=staff)
        client.force_login(tenant_admin)
        assert client.get(detail_url(foreign)).status_code == 404
        assert client.get(f"/platform/privacy/jobs/{foreign.pk}/row/").status_code == 404
        response = client.post(f"/platform/privacy/jobs/{foreign.pk}/approve/")
        assert response.status_code == 404
        foreign.refresh_from_db()
        assert foreign.status == JobStatus.PENDING

    def test_tenant_admin_sees_only_own_tenant(self, client, tenant_admin, tenant, other_tenant,
                                               staff):
        own = factories.job_create(tenant=tenant, requested_by=staff)
        factories.job_create(tenant=other_tenant, requested_by=staff)
        factories.job_create(tenant=other_tenant, requested_by=staff, status=JobStatus.FAILED)
        client.force_login(tenant_admin)
        response = client.get(OVERVIEW)
        assert response.status_code == 200
        assert job_ids(response) == {own.pk}
        assert stat_cards(response)["total"] == 1
        assert stat_cards(response)["Failed"] == 0

    def test_tenant_admin_cannot_approve_and_sees_why(self, client, tenant_admin, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        client.force_login(tenant_admin)
        page = client.get(detail_url(job)).content.decode()
        assert ">Approve</button>" not in page
        response = client.post(f"/platform/privacy/jobs/{job.pk}/approve/")
        assert response.status_code == 403
        assert "Only platform staff approve jobs" in response.content.decode()
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING


class TestOverviewAndJobsList:
    @pytest.fixture
    def jobs(self, tenant, other_tenant, staff):
        make = factories.job_create
        return {
            "pending_erase": make(tenant=tenant, requested_by=staff, target_id="1001"),
            "approved_export": make(tenant=tenant, requested_by=staff, job_type="EXPORT",
                                    status=JobStatus.APPROVED, requires_approval=False,
                                    target_id="1002"),
            "processing_purge": make(tenant=other_tenant, requested_by=staff, job_type="PURGE",
                                     status=JobStatus.PROCESSING, target_type="tenant",
                                     target_id="globex"),
            "completed_erase": make(tenant=other_tenant, requested_by=staff,
                                    status=JobStatus.COMPLETED, target_id="1004"),
            "failed_erase": make(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                                 target_id="1005"),
            "rejected_purge": make(tenant=tenant, requested_by=staff, job_type="PURGE",
                                   status=JobStatus.REJECTED, target_id="1006"),
            "failed_export": make(tenant=other_tenant, requested_by=staff, job_type="EXPORT",
                                  status=JobStatus.FAILED, target_id="1007"),
        }

    def test_stat_cards_equal_database_counts_and_link_to_filtered_list(self, staff_client, jobs):
        response = staff_client.get(OVERVIEW)
        cards = stat_cards(response)
        assert cards["total"] == Job.objects.count() == 7
        for status in JobStatus.values:
            assert cards[status] == Job.objects.filter(status=status).count(), status
        html = response.content.decode()
        assert f'href="{OVERVIEW}?status=Failed"' in html
        assert ">Legal holds</a>" in html
        assert ">Audit log</a>" in html

    def test_status_filter(self, staff_client, jobs):
        response = staff_client.get(OVERVIEW, {"status": "Failed"})
        assert job_ids(response) == {jobs["failed_erase"].pk, jobs["failed_export"].pk}

    def test_type_filter(self, staff_client, jobs):
        response = staff_client.get(OVERVIEW, {"type": "PURGE"})
        assert job_ids(response) == {jobs["processing_purge"].pk, jobs["rejected_purge"].pk}

    def test_filters_combine(self, staff_client, jobs):
        response = staff_client.get(OVERVIEW, {"status": "Failed", "type": "EXPORT"})
        assert job_ids(response) == {jobs["failed_export"].pk}
        # The toolbar keeps what was chosen, so the URL can be shared and reloaded.
        html = response.content.decode()
        assert '<option value="Failed" selected>' in html
        assert '<option value="EXPORT" selected>' in html

    @pytest.mark.parametrize(("search", "expected"), [
        ("Globex", {"processing_purge", "completed_erase", "failed_export"}),
        ("1005", {"failed_erase"}),
    ])
    def test_search_by_tenant_name_and_target_id(self, staff_client, jobs, search, expected):
        response = staff_client.get(OVERVIEW, {"q": search})
        assert job_ids(response) == {jobs[name].pk for name in expected}

    def test_search_by_job_id(self, staff_client, jobs):
        wanted = jobs["rejected_purge"]
        response = staff_client.get(OVERVIEW, {"q": f"#{wanted.pk}"})
        assert wanted.pk in job_ids(response)
        assert job_ids(response) <= {wanted.pk} | {j.pk for j in jobs.values()
                                                  if j.target_id == str(wanted.pk)}

    def test_search_and_filter_combine(self, staff_client, jobs):
        response = staff_client.get(OVERVIEW, {"q": "Acme", "status": "Pending"})
        assert job_ids(response) == {jobs["pending_erase"].pk}

    def test_unknown_status_is_answered_in_words(self, staff_client, jobs):
        response = staff_client.get(OVERVIEW, {"status": "Exploded"})
        assert response.status_code == 422
        assert "Select a valid choice" in response.content.decode()
        assert job_ids(response) == set()

    def test_unfinished_rows_poll_and_stop_when_done(self, staff_client, jobs):
        html = staff_client.get(OVERVIEW).content.decode()
        job = jobs["processing_purge"]
        row = re.search(rf'<tr id="job-{job.pk}"[^>]*>', html).group(0)
        assert f'hx-get="/platform/privacy/jobs/{job.pk}/row/"' in row
        assert 'hx-trigger="every 2s"' in row
        # Queued and pending jobs follow too (a pending one changes only by a decision: slower).
        queued = re.search(rf'<tr id="job-{jobs["approved_export"].pk}"[^>]*>', html).group(0)
        assert 'hx-trigger="every 2s"' in queued
        pending = re.search(rf'<tr id="job-{jobs["pending_erase"].pk}"[^>]*>', html).group(0)
        assert 'hx-trigger="every 10s"' in pending
        done = re.search(rf'<tr id="job-{jobs["completed_erase"].pk}"[^>]*>', html).group(0)
        assert "hx-trigger" not in done

        Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)
        partial = staff_client.get(f"/platform/privacy/jobs/{job.pk}/row/",
                                   HTTP_HX_REQUEST="true").content.decode()
        assert partial.lstrip().startswith(f'<tr id="job-{job.pk}"')
        assert "hx-trigger" not in partial
        assert "badge-Completed" in partial

    def test_keyset_paging_walks_every_job_once(self, staff_client, tenant, staff):
        created = [factories.job_create(tenant=tenant, requested_by=staff, target_id=str(n))
                   for n in range(62)]
        first = staff_client.get(OVERVIEW)
        first_ids = job_ids(first)
        assert len(first_ids) == 50
        assert max(j.pk for j in created) in first_ids
        older = re.search(r'href="(\?after=[^"]+)"', first.content.decode()).group(1)
        second = staff_client.get(OVERVIEW + older.replace("&amp;", "&"))
        second_ids = job_ids(second)
        assert len(second_ids) == 12
        assert first_ids.isdisjoint(second_ids)
        assert first_ids | second_ids == {j.pk for j in created}
        assert 'rel="next"' not in second.content.decode()
        newer = re.search(r'href="(\?before=[^"]+)"', second.content.decode()).group(1)
        assert job_ids(staff_client.get(OVERVIEW + newer.replace("&amp;", "&"))) == first_ids

    def test_paging_keeps_the_filters(self, staff_client, tenant, staff):
        for n in range(55):
            factories.job_create(tenant=tenant, requested_by=staff, target_id=str(n),
                                 status=JobStatus.FAILED)
        factories.job_create(tenant=tenant, requested_by=staff)
        html = staff_client.get(OVERVIEW, {"status": "Failed"}).content.decode()
        link = re.search(r'href="(\?[^"]*after=[^"]+)"', html).group(1).replace("&amp;", "&")
        assert "status=Failed" in link
        assert len(job_ids(staff_client.get(OVERVIEW + link))) == 5

    def test_damaged_cursor_is_answered_in_words(self, staff_client, jobs):
        response = staff_client.get(OVERVIEW, {"after": "yesterday"})
        assert response.status_code == 422
        assert "page link is damaged" in response.content.decode()

    def test_query_count_does_not_grow_with_rows(self, staff_client, tenant, other_tenant, staff,
                                                 django_assert_max_num_queries):
        for n in range(3):
            factories.job_create(tenant=tenant, requested_by=staff, target_id=str(n))
        with CaptureQueriesContext(connection) as few:
            assert staff_client.get(OVERVIEW).status_code == 200
        with CaptureQueriesContext(connection) as few_searched:
            assert staff_client.get(OVERVIEW, {"q": "e"}).status_code == 200
        for n in range(45):
            factories.job_create(tenant=other_tenant if n % 2 else tenant,
                                 requested_by=factories.user_create(), target_id=str(n),
                                 status=JobStatus.PROCESSING if n % 3 else JobStatus.PENDING)
        # Session, user, tenant-name probe, the page, the match count, stat counts, withdrawals,
        # the listed tenants' systems (for names), the drifted systems notice, navigation: a
        # fixed number however many rows.
        with django_assert_max_num_queries(10), CaptureQueriesContext(connection) as many:
            response = staff_client.get(OVERVIEW, {"q": "e"})
        assert response.status_code == 200
        assert len(job_ids(response)) == 48
        with CaptureQueriesContext(connection) as unfiltered:
            response = staff_client.get(OVERVIEW)
        assert response.status_code == 200
        assert len(job_ids(response)) == 48
        assert stat_cards(response)["Pending"] == 3 + 15
        assert len(unfiltered) == len(few)
        assert len(many) == len(few_searched)

    def test_tenant_admin_query_count_is_constant(self, client, tenant, tenant_admin, staff,
                                                  django_assert_max_num_queries):
        for n in range(30):
            factories.job_create(tenant=tenant, requested_by=staff, target_id=str(n))
        client.force_login(tenant_admin)
        # Session, user, tenant scoping, the page, counts, withdrawals, the tenants' systems, the
        # request trends (three bounded queries), navigation: a fixed number however many rows.
        with django_assert_max_num_queries(13):
            response = client.get(OVERVIEW)
        assert response.status_code == 200
        assert len(job_ids(response)) == 30


class TestJobDetail:
    def test_information_and_context_cards(self, staff_client, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, reason="Art. 17 request",
                                   target_id="77", status=JobStatus.APPROVED,
                                   approved_by=other_staff, approved_at=timezone.now())
        html = staff_client.get(detail_url(job)).content.decode()
        assert "Job information" in html
        assert "Context" in html
        assert "Art. 17 request" in html
        assert "<code>77</code>" in html
        assert f"Acme Corp <span class=\"muted\">(id {tenant.pk})</span>" in html
        assert "staff@example.com" in html
        assert "Approved by" in html
        assert other_staff.email in html

    def test_export_result_shows_download_link_and_expiry(self, staff_client, tenant, staff):
        result = {"download_url": "/downloads/abc123/", "expires_at": "2031-05-04T10:00:00+00:00",
                  "sections": {"profile": 1}}
        job = factories.job_create(tenant=tenant, requested_by=staff, job_type="EXPORT",
                                   status=JobStatus.COMPLETED, result=result)
        html = staff_client.get(detail_url(job)).content.decode()
        assert 'href="/downloads/abc123/"' in html
        assert ">2031-05-04 10:00</time>" in html  # in the viewer's zone (UTC by default)
        assert "Sunday 4 May 2031, 10:00:00 UTC" in html  # the full moment on hover
        assert "&quot;sections&quot;: {\n    &quot;profile&quot;: 1\n  }" in html

    def test_failed_job_names_its_code_and_links_the_hold(self, staff_client, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff, scope_id="42")
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.APPROVED)
        assert job_claim(job_id=job.pk, worker_id="w1") is not None
        assert job_fail(job_id=job.pk, worker_id="w1", code="legal_hold",
                        message=f"Blocked by {hold.describe()}.", hold_id=hold.pk)
        html = staff_client.get(detail_url(job)).content.decode()
        assert "legal_hold" in html
        assert f"Blocked by legal hold #{hold.pk} on subject 42" in html
        assert f'href="/platform/privacy/holds/{hold.pk}/"' in html
        assert ">Retry</button>" in html

    def test_processing_job_shows_progress_and_refreshes_when_done(self, staff_client, tenant,
                                                                   staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, job_type="PURGE",
                                   status=JobStatus.PROCESSING,
                                   progress={"done": 30, "total": 120})
        html = staff_client.get(detail_url(job)).content.decode()
        assert '<progress id="progress-bar" max="100" value="25">' in html
        assert f'hx-get="/platform/privacy/jobs/{job.pk}/?seen=Processing"' in html
        Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)
        response = staff_client.get(f"/platform/privacy/jobs/{job.pk}/?seen=Processing",
                                    HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert response.status_code == 200
        assert 'badge-Completed' in html
        assert "?seen=" not in html  # final: the page stops polling

    def test_an_unchanged_queued_job_answers_its_poll_with_204(self, staff_client, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.APPROVED)
        html = staff_client.get(detail_url(job)).content.decode()
        assert f'hx-get="/platform/privacy/jobs/{job.pk}/?seen=Approved"' in html
        poll = staff_client.get(f"/platform/privacy/jobs/{job.pk}/?seen=Approved",
                                HTTP_HX_REQUEST="true")
        assert poll.status_code == 204
        Job.objects.filter(pk=job.pk).update(status=JobStatus.PROCESSING)
        poll = staff_client.get(f"/platform/privacy/jobs/{job.pk}/?seen=Approved",
                                HTTP_HX_REQUEST="true")
        assert poll.status_code == 200
        assert "badge-Processing" in poll.content.decode()

    def test_a_destructive_approval_without_the_confirmation_changes_nothing(
        self, approver_client, tenant, staff
    ):
        job = factories.job_create(tenant=tenant, requested_by=staff, job_type="PURGE",
                                   target_type="tenant", target_id=tenant.slug)
        response = approver_client.post(f"/platform/privacy/jobs/{job.pk}/approve/")
        assert response.status_code == 422
        assert "cannot be undone: tick the confirmation" in response.content.decode()
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING

    def test_approve_through_the_form(self, approver_client, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        assert ">Approve erase</button>" in approver_client.get(detail_url(job)).content.decode()
        response = approver_client.post(f"/platform/privacy/jobs/{job.pk}/approve/",
                                        {"confirm": "yes"}, follow=True)
        assert "approved; it is queued" in response.content.decode()
        job.refresh_from_db()
        assert job.status == JobStatus.APPROVED
        assert job.approved_by == other_staff
        assert AuditEvent.objects.filter(action="job.approved", target_id=str(job.pk)).exists()

    def test_requester_sees_no_buttons_and_cannot_approve(self, staff_client, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        html = staff_client.get(detail_url(job)).content.decode()
        assert ">Approve</button>" not in html
        assert "You requested this job" in html
        response = staff_client.post(f"/platform/privacy/jobs/{job.pk}/approve/")
        assert response.status_code == 403
        assert "another approver must approve or reject it" in response.content.decode()

    def test_reject_with_reason_emails_the_requester(self, approver_client, tenant, staff,
                                                     django_capture_on_commit_callbacks):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        with django_capture_on_commit_callbacks(execute=True):
            response = approver_client.post(f"/platform/privacy/jobs/{job.pk}/reject/",
                                            {"reason": "Duplicate of #12"})
        assert response.status_code == 302
        job.refresh_from_db()
        assert job.status == JobStatus.REJECTED
        assert job.rejection_reason == "Duplicate of #12"
        [message] = mail.outbox
        assert message.to == [staff.email]
        assert "Duplicate of #12" in message.body
        html = approver_client.get(detail_url(job)).content.decode()
        assert "Rejection reason" in html
        assert "Duplicate of #12" in html

    def test_reject_without_reason_is_refused_in_words(self, approver_client, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        response = approver_client.post(f"/platform/privacy/jobs/{job.pk}/reject/",
                                        {"reason": "  "})
        assert response.status_code == 422
        html = response.content.decode()
        assert "A reason is required to reject a job" in html
        assert 'id="reject-reason"' in html  # the form stays there, beside Approve
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING

    def test_retry_a_failed_job(self, staff_client, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.FAILED,
                                   error_code="execution_error", error_message="Boom.")
        response = staff_client.post(f"/platform/privacy/jobs/{job.pk}/retry/", follow=True)
        assert "sent back to Approved" in response.content.decode()
        job.refresh_from_db()
        assert job.status == JobStatus.APPROVED
        assert job.error_code == ""

    def test_retry_of_a_completed_job_is_a_409_in_words(self, staff_client, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff, status=JobStatus.COMPLETED)
        response = staff_client.post(f"/platform/privacy/jobs/{job.pk}/retry/")
        assert response.status_code == 409
        assert "only Failed jobs can be retried" in response.content.decode()

    def test_forms_enforce_csrf(self, tenant, staff, other_staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        client = Client(enforce_csrf_checks=True)
        client.force_login(other_staff)
        url = f"/platform/privacy/jobs/{job.pk}/approve/"
        assert client.post(url).status_code == 403
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING
        html = client.get(detail_url(job)).content.decode()
        token = re.search(
            rf'action="{url}" class="decide-approve">\s*<input type="hidden" '
            r'name="csrfmiddlewaretoken" value="([^"]+)"',
            html).group(1)
        assert client.post(url, {"csrfmiddlewaretoken": token, "confirm": "yes"}).status_code == 302
        job.refresh_from_db()
        assert job.status == JobStatus.APPROVED

    def test_get_on_an_action_is_refused(self, staff_client, tenant, staff):
        job = factories.job_create(tenant=tenant, requested_by=staff)
        assert staff_client.get(f"/platform/privacy/jobs/{job.pk}/approve/").status_code == 405


class TestNewJob:
    def test_form_lists_tenants_and_target_types(self, staff_client, tenant, other_tenant):
        html = staff_client.get("/platform/privacy/jobs/new/").content.decode()
        assert "Acme Corp" in html
        assert "Globex" in html
        assert '<option value="subject"' in html
        assert '<option value="tenant"' in html

    def test_create_an_erase_job(self, staff_client, tenant, staff):
        response = staff_client.post("/platform/privacy/jobs/new/", {
            "tenant": tenant.pk, "job_type": "ERASE", "target_type": "subject",
            "target_id": "314", "reason": "Art. 17 request #9"})
        job = Job.objects.get()
        assert response.status_code == 302
        assert response["Location"] == detail_url(job)
        assert (job.job_type, job.target_id, job.status) == ("ERASE", "314", JobStatus.PENDING)
        assert job.requested_by == staff

    def test_tenant_admin_cannot_create_a_purge(self, client, tenant, tenant_admin):
        client.force_login(tenant_admin)
        response = client.post("/platform/privacy/jobs/new/", {
            "tenant": tenant.pk, "job_type": "PURGE", "target_type": "tenant",
            "target_id": "acme"})
        assert response.status_code == 403
        assert "Your role does not allow this action." in response.content.decode()
        assert not Job.objects.exists()

    def test_missing_target_id_is_a_field_error(self, staff_client, tenant):
        response = staff_client.post("/platform/privacy/jobs/new/", {
            "tenant": tenant.pk, "job_type": "ERASE", "target_type": "subject", "target_id": ""})
        assert response.status_code == 422
        assert "Type the target id, or the person&#x27;s email below." in \
            response.content.decode()
        assert not Job.objects.exists()

    def test_preview_of_an_export_says_nothing_changes(self, staff_client, tenant):
        response = staff_client.get("/platform/privacy/jobs/preview/", {
            "tenant": tenant.pk, "type": "EXPORT", "target_type": "subject", "target_id": "1"})
        assert response.status_code == 200
        assert "An export changes no data" in response.content.decode()

    def test_preview_of_another_tenant_is_404(self, client, tenant_admin, other_tenant):
        client.force_login(tenant_admin)
        response = client.get("/platform/privacy/jobs/preview/", {
            "tenant": other_tenant.pk, "type": "ERASE", "target_type": "subject",
            "target_id": "1"})
        assert response.status_code == 404
        assert "Choose a tenant you can see" in response.content.decode()

    def test_preview_without_a_data_map_says_so(self, staff_client, tenant):
        response = staff_client.get("/platform/privacy/jobs/preview/", {
            "tenant": tenant.pk, "type": "ERASE", "target_type": "subject", "target_id": "1"})
        html = response.content.decode()
        assert response.status_code == 409  # the tenant's configuration, not an outage
        assert "has no system yet" in html
        assert "privacyops system add" in html


class TestNewJobPreviewOnDemoData:
    """The dry-run preview against the real demo datastore and its data map."""

    @pytest.fixture
    def demo_tenant(self, tmp_path, settings):
        from privacyops.demo.generate import generate_demo_datastore
        from privacyops.execution.demo import write_demo_datamap

        settings.DATAMAP_DIR = str(tmp_path / "datamaps")
        path = tmp_path / "demo.sqlite3"
        summary = generate_demo_datastore(path, people=40, workspaces=1, progress=False)
        write_demo_datamap(path)
        ws = summary.workspaces[0]
        tenant = factories.tenant_create(slug=f"demo-{ws.slug}", name=f"{ws.name} (demo)",
                                         datastore_key=str(ws.id), datamap_name="demo")
        import sqlite3
        with sqlite3.connect(path) as conn:
            person = conn.execute("SELECT id FROM people WHERE workspace_id = ? ORDER BY id",
                                  (ws.id,)).fetchone()[0]
        return tenant, str(person)

    def test_preview_lists_tables_and_rows(self, staff_client, demo_tenant):
        tenant, person = demo_tenant
        response = staff_client.get("/platform/privacy/jobs/preview/", {
            "tenant": tenant.pk, "type": "PURGE", "target_type": "subject",
            "target_id": person})
        html = response.content.decode()
        assert response.status_code == 200, html
        assert "would change <strong>" in html
        assert "<code>people</code>" in html

    def test_preview_names_the_hold_that_would_block(self, staff_client, demo_tenant, staff):
        tenant, person = demo_tenant
        factories.hold_create(tenant=tenant, created_by=staff, scope_type="subject",
                              scope_id=person)
        html = staff_client.get("/platform/privacy/jobs/preview/", {
            "tenant": tenant.pk, "type": "ERASE", "target_type": "subject",
            "target_id": person}).content.decode()
        assert "This job would be refused" in html
        assert "legal hold" in html


class TestHolds:
    def test_place_a_hold_through_the_form(self, staff_client, tenant):
        response = staff_client.post(HOLDS, {
            "tenant": tenant.pk, "scope_type": "subject", "scope_id": "42",
            "reason": "Litigation 2024-17", "expires_at": ""}, follow=True)
        hold = LegalHold.objects.get()
        assert (hold.scope_type, hold.scope_id, hold.active) == ("subject", "42", True)
        html = response.content.decode()
        assert f"Legal hold #{hold.pk} placed" in html
        assert "Litigation 2024-17" in html
        assert AuditEvent.objects.filter(action="hold.placed", target_id=str(hold.pk)).exists()

    def test_place_with_a_past_expiry_is_refused_in_words(self, staff_client, tenant):
        past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        response = staff_client.post(HOLDS, {
            "tenant": tenant.pk, "scope_type": "subject", "scope_id": "42",
            "reason": "Audit", "expires_at": past})
        assert response.status_code == 422
        assert "The expiry date is in the past" in response.content.decode()
        assert not LegalHold.objects.exists()

    def test_tenant_admin_sees_holds_but_cannot_place(self, client, tenant, other_tenant,
                                                      tenant_admin, staff):
        own = factories.hold_create(tenant=tenant, created_by=staff, reason="Own tenant hold")
        factories.hold_create(tenant=other_tenant, created_by=staff, reason="Foreign hold")
        client.force_login(tenant_admin)
        html = client.get(HOLDS).content.decode()
        assert "Own tenant hold" in html
        assert "Foreign hold" not in html
        assert "Place a legal hold" not in html
        response = client.post(HOLDS, {"tenant": tenant.pk, "scope_type": "subject",
                                       "scope_id": "1", "reason": "x"})
        assert response.status_code == 403
        assert LegalHold.objects.count() == 2
        assert client.post(f"/platform/privacy/holds/{own.pk}/release/",
                           {"reason": "x"}).status_code == 403

    def test_filters_narrow_the_list(self, staff_client, tenant, other_tenant, staff):
        active = factories.hold_create(tenant=tenant, created_by=staff, scope_type="subject")
        released = factories.hold_create(tenant=tenant, created_by=staff, scope_type="issuer",
                                         active=False)
        expired = factories.hold_create(tenant=other_tenant, created_by=staff,
                                        expires_at=timezone.now() - timedelta(hours=1))

        def listed(**params):
            html = staff_client.get(HOLDS, params).content.decode()
            return {int(pk) for pk in re.findall(r'<tr id="hold-(\d+)"', html)}

        assert listed() == {active.pk, released.pk, expired.pk}
        assert listed(state="active") == {active.pk}
        assert listed(state="released") == {released.pk}
        assert listed(state="expired") == {expired.pk}
        assert listed(scope_type="issuer") == {released.pk}
        assert listed(tenant=other_tenant.pk) == {expired.pk}
        assert listed(tenant=tenant.pk, scope_type="subject") == {active.pk}

    def test_release_with_a_reason(self, staff_client, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        response = staff_client.post(f"/platform/privacy/holds/{hold.pk}/release/",
                                     {"reason": "Case closed"}, follow=True)
        assert f"Legal hold #{hold.pk} released" in response.content.decode()
        hold.refresh_from_db()
        assert not hold.active
        assert hold.release_reason == "Case closed"
        assert hold.state == "released"

    def test_release_without_a_reason_is_refused(self, staff_client, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        response = staff_client.post(f"/platform/privacy/holds/{hold.pk}/release/",
                                     {"reason": ""})
        assert response.status_code == 422
        assert "A release reason is required." in response.content.decode()
        hold.refresh_from_db()
        assert hold.active

    def test_hold_shows_the_jobs_it_blocked(self, staff_client, tenant, staff):
        hold = factories.hold_create(tenant=tenant, created_by=staff)
        blocked = factories.job_create(tenant=tenant, requested_by=staff,
                                       status=JobStatus.FAILED, blocking_hold=hold)
        for path in (HOLDS, f"/platform/privacy/holds/{hold.pk}/"):
            html = staff_client.get(path).content.decode()
            assert f'href="/platform/privacy/jobs/{blocked.pk}/">#{blocked.pk} ERASE</a>' in html

    def test_holds_list_query_count_is_constant(self, staff_client, tenant, staff,
                                                django_assert_max_num_queries):
        blocked = []
        for n in range(20):
            hold = factories.hold_create(tenant=tenant, created_by=factories.user_create(),
                                         scope_id=str(n))
            blocked.append(factories.job_create(tenant=tenant, requested_by=staff,
                                                status=JobStatus.FAILED, blocking_hold=hold))
        # Two of them: the tenants' systems for the form, and the listed holds' tenants' systems
        # (for "matches no data today"), each at once; one more counts the holds (the total).
        with django_assert_max_num_queries(9):
            response = staff_client.get(HOLDS)
        assert response.status_code == 200
        html = response.content.decode()
        for job in blocked:
            assert f'href="/platform/privacy/jobs/{job.pk}/">#{job.pk} ERASE</a>' in html


class TestAuditLog:
    @pytest.fixture
    def events(self, tenant, other_tenant, staff, other_staff):
        """Real events, written by the services through the pages."""
        approver = Client()
        approver.force_login(other_staff)
        own = factories.job_create(tenant=tenant, requested_by=staff)
        foreign = factories.job_create(tenant=other_tenant, requested_by=staff)
        approver.post(f"/platform/privacy/jobs/{own.pk}/approve/", {"confirm": "yes"})
        approver.post(f"/platform/privacy/jobs/{foreign.pk}/reject/", {"reason": "Not needed"})
        # refused: not Pending
        approver.post(f"/platform/privacy/jobs/{own.pk}/approve/", {"confirm": "yes"})
        return own, foreign

    def test_rows_show_label_tenant_actor_outcome_and_metadata(self, staff_client, events):
        _own, _foreign = events
        html = staff_client.get(AUDIT).content.decode()
        assert "Job approved" in html
        assert "Job rejected" in html
        assert "approver@example.com" in html
        assert "badge-failure" in html
        assert "badge-success" in html
        assert "<summary>Metadata</summary>" in html
        assert "&quot;reason&quot;: &quot;Not needed&quot;" in html

    def test_filters_narrow_the_list(self, staff_client, events, tenant, other_tenant):
        own, _foreign = events

        def seqs(**params):
            html = staff_client.get(AUDIT, params).content.decode()
            return [int(s) for s in re.findall(r'<tr id="event-(\d+)"', html)]

        def expected(**lookup):
            return list(AuditEvent.objects.filter(**lookup).order_by("-seq")
                        .values_list("seq", flat=True))

        assert seqs(action="job.rejected") == expected(action="job.rejected")
        assert seqs(outcome="failure") == expected(outcome="failure")
        assert len(seqs(outcome="failure")) == 1
        assert seqs(tenant=other_tenant.pk) == expected(tenant_id=other_tenant.pk)
        assert seqs(target_type="job", target_id=str(own.pk)) == expected(
            target_type="job", target_id=str(own.pk))
        assert seqs(actor="approver@example.com", outcome="success") == expected(
            actor_label="approver@example.com", outcome="success")
        today = timezone.now().date().isoformat()
        assert len(seqs(since=today, until=today)) == AuditEvent.objects.count()
        assert seqs(until="2001-01-01") == []

    def test_since_after_until_is_answered_in_words(self, staff_client, events):
        response = staff_client.get(AUDIT, {"since": "2030-01-02", "until": "2001-01-01"})
        assert response.status_code == 422
        assert "start of the time range is after its end" in response.content.decode()

    def test_cursor_paging(self, staff_client, tenant, staff):
        from django.db import transaction

        from privacyops.audit.services import audit_record
        with transaction.atomic():
            for n in range(60):
                audit_record(actor=factories.actor(staff), action="job.created",
                             tenant_id=tenant.pk, target_type="job", target_id=n)
        first = staff_client.get(AUDIT).content.decode()
        assert len(re.findall(r'<tr id="event-', first)) == 50
        link = re.search(r'href="(\?cursor=\d+)"', first).group(1)
        second = staff_client.get(AUDIT + link).content.decode()
        assert len(re.findall(r'<tr id="event-', second)) == 10

    def test_export_csv_contains_the_filtered_events(self, staff_client, events, staff):
        response = staff_client.get("/platform/privacy/audit/export.csv",
                                    {"action": "job.approved"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert re.fullmatch(r'attachment; filename="audit-events-\d{8}T\d{6}Z\.csv"',
                            response["Content-Disposition"])
        body = b"".join(response.streaming_content).decode()
        rows = list(csv.DictReader(io.StringIO(body)))
        expected = AuditEvent.objects.filter(action="job.approved").order_by("seq")
        assert [int(r["seq"]) for r in rows] == [e.seq for e in expected]
        assert {r["action"] for r in rows} == {"job.approved"}
        assert {r["outcome"] for r in rows} == {"success", "failure"}
        assert all(len(r["hash"]) == 64 for r in rows)
        exported = AuditEvent.objects.get(action="audit.exported")
        assert exported.actor_label == staff.email
        assert exported.metadata == {"format": "csv", "filters": {"action": "job.approved"}}

    def test_export_jsonl_contains_the_filtered_events(self, staff_client, events, other_tenant):
        response = staff_client.get("/platform/privacy/audit/export.jsonl",
                                    {"tenant": other_tenant.pk})
        assert response["Content-Disposition"].endswith('.jsonl"')
        lines = b"".join(response.streaming_content).decode().splitlines()
        records = [json.loads(line) for line in lines]
        assert records
        assert {r["tenant_id"] for r in records} == {other_tenant.pk}
        assert [r["seq"] for r in records] == list(
            AuditEvent.objects.filter(tenant_id=other_tenant.pk).order_by("seq")
            .values_list("seq", flat=True))
        assert any(r["action"] == "job.rejected" and r["metadata"] == {"reason": "Not needed"}
                   for r in records)

    def test_tenant_admin_exports_only_their_tenant(self, client, events, tenant, tenant_admin):
        client.force_login(tenant_admin)
        response = client.get("/platform/privacy/audit/export.jsonl")
        records = [json.loads(line)
                   for line in b"".join(response.streaming_content).decode().splitlines()]
        assert records
        assert {r["tenant_id"] for r in records} == {tenant.pk}
        assert AuditEvent.objects.get(action="audit.exported").tenant_id == tenant.pk

    def test_verify_chain_says_ok(self, staff_client, events):
        response = staff_client.post("/platform/privacy/audit/verify/", HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert response.status_code == 200
        assert "Chain verification: OK:" in html
        assert "chain intact" in html
        assert AuditEvent.objects.filter(action="audit.verified").exists()

    def test_verify_is_staff_only(self, client, tenant_admin, events):
        client.force_login(tenant_admin)
        assert "Verify chain" not in client.get(AUDIT).content.decode()
        response = client.post("/platform/privacy/audit/verify/")
        assert response.status_code == 403
