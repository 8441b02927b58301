"""The privacy request's lifecycle: every channel lands in one queue, the state machine, the
jobs that fulfil it (the request completes only when they all complete), duplicates,
rejection and withdrawal — through the API, the pages and the services, on the real database.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from privacyops.errors import InvalidTransition
from privacyops.intake import services
from privacyops.intake.lifecycle import request_record, transition
from privacyops.intake.models import IntakeRequest, RequestStatus
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_claim, job_complete, job_fail, job_retry
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Role
from privacyops.tenancy.services import api_token_create
from tests import factories
from tests.api.conftest import api_as, assert_error
from tests.intake.conftest import form_data, verification_link
from tests.workspace.demo_store import acme, demo_store, demo_template, people

__all__ = ["acme", "demo_store", "demo_template", "people"]

pytestmark = pytest.mark.django_db(transaction=True)

# The lifecycle as the product describes it (not read from the code): which moves are allowed.
ALLOWED = {
    ("received", "verified"), ("received", "rejected"), ("received", "withdrawn"),
    ("received", "merged"),
    ("verified", "in_progress"), ("verified", "completed"), ("verified", "rejected"),
    ("verified", "withdrawn"), ("verified", "merged"),
    ("in_progress", "completed"), ("in_progress", "rejected"), ("in_progress", "withdrawn"),
}
STATUSES = ["received", "verified", "in_progress", "completed", "rejected", "withdrawn",
            "merged"]


def recorded(tenant, *, email="ada@example.com", request_type="access", verified=True,
             subject_id="", channel="operator") -> IntakeRequest:
    with transaction.atomic():
        return request_record(tenant=tenant, email=email, request_type=request_type,
                              channel=channel, actor=Actor.system("test"), verified=verified,
                              subject_id=subject_id)


@pytest.mark.parametrize(("start", "to"), list(itertools.product(STATUSES, STATUSES)))
def test_state_machine(start, to):
    request = IntakeRequest(status=start, pk=7)
    if (start, to) in ALLOWED:
        transition(request, to)
        assert request.status == to
    else:
        with pytest.raises(InvalidTransition) as refused:
            transition(request, to)
        assert refused.value.status == 409
        assert "R-000007" in refused.value.message
        assert request.status == start


class TestChannels:
    def test_public_form_creates_a_received_request(self, client, tenant):
        assert client.post("/privacy/request/acme/", form_data()).status_code == 302
        request = IntakeRequest.objects.get()
        assert (request.channel, request.status) == ("intake", "received")
        assert client.get(urlparse(verification_link(mail.outbox[-1])).path).status_code == 200
        request.refresh_from_db()
        assert request.status == "verified"
        events = [(e.kind, e.data.get("mail")) for e in request.events.all()]
        assert events == [("received", None), ("email_sent", "verification"),
                          ("verified", None), ("email_sent", "received")]

    def test_api_creates_a_verified_request(self, tenant):
        admin = factories.user_create(tenant=tenant, role=Role.ADMIN)
        response = api_as(admin).post("/requests", {
            "tenant_id": tenant.pk, "type": "portability", "email": " Ada@Example.com ",
            "name": "Ada", "details": "Order 77", "identifiers": {"customer": "C-77"},
            "language": "de"})
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "verified"
        assert body["type"] == "portability"
        assert body["reference"] == f"R-{body['id']:06d}"
        assert body["email"] == "ada@example.com"
        assert body["language"] == "de"
        assert body["jobs"] == []
        request = IntakeRequest.objects.get(pk=body["id"])
        assert request.channel == "api"
        assert request.identifiers == {"customer": "C-77"}

    def test_operator_page_creates_a_verified_request(self, client, tenant, staff):
        client.force_login(staff)
        form = client.get("/platform/requests/new/")
        assert form.status_code == 200
        assert f'<option value="{tenant.pk}"' in form.content.decode()
        response = client.post("/platform/requests/new/", {
            "tenant": tenant.pk, "email": "caller@example.com", "name": "Caller",
            "request_type": "objection", "details": "By phone."})
        request = IntakeRequest.objects.get()
        assert response.status_code == 302
        assert response["Location"] == f"/platform/requests/{request.pk}/"
        assert (request.channel, request.status) == ("operator", "verified")
        page = client.get(response["Location"]).content.decode()
        assert request.reference in page
        assert "caller@example.com" in page

    def test_privacy_center_export_is_a_request_with_its_jobs(self, client, acme, people):
        _token, raw = api_token_create(user=None, tenant=acme, name="app",
                                       actor=Actor.system("test"))
        person = people.first()
        response = client.post("/api/v1/privacy/export", {"email": person.email},
                               content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert response.status_code == 201, response.content
        request = IntakeRequest.objects.get()
        assert (request.channel, request.request_type) == ("privacy_center", "access")
        job = Job.objects.get()
        assert job.request_id == request.pk
        assert job.job_type == "EXPORT"
        assert request.status == "in_progress"

    def test_request_jobs_name_the_person_not_a_row_id(self, client, acme, people, staff):
        _token, raw = api_token_create(user=None, tenant=acme, name="app",
                                       actor=Actor.system("test"))
        person = people.first()
        client.post("/api/v1/privacy/export", {"email": person.email},
                    content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
        request = IntakeRequest.objects.get()
        client.force_login(staff)
        fragment = client.get(f"/platform/requests/{request.pk}/jobs/").content.decode()
        assert person.email in fragment  # the job names the person by their email
        assert "subject:" not in fragment

    def test_privacy_center_cancel_withdraws_the_request(self, client, acme, people):
        _token, raw = api_token_create(user=None, tenant=acme, name="app",
                                       actor=Actor.system("test"))
        person = people.erasable(1)[0]
        auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        created = client.post("/api/v1/privacy/delete-account", {"email": person.email},
                              content_type="application/json", **auth)
        assert created.status_code == 201, created.content
        job_id = created.json()[0]["id"]
        cancelled = client.post(f"/api/v1/privacy/jobs/{job_id}/cancel", {"email": person.email},
                                content_type="application/json", **auth)
        assert cancelled.status_code == 200, cancelled.content
        request = IntakeRequest.objects.get()
        assert request.status == "withdrawn"
        assert Job.objects.get().status == JobStatus.REJECTED


class TestGdprScreen:
    def test_export_and_erasure_on_the_screen_are_completed_requests(self, client, acme, people):
        owner = factories.user_create(email="owner@example.com", tenant=acme,
                                      role=Role.SUPER_ADMIN)
        client.force_login(owner)
        reader, leaver = people.all()[5], people.erasable(1)[0]
        exported = client.post(f"/workspace/acme/gdpr/subjects/{reader.id}/export/")
        assert exported.status_code == 200
        b"".join(exported.streaming_content)
        erased = client.post(f"/workspace/acme/gdpr/subjects/{leaver.id}/erase/", {
            "confirmation_email": leaver.email, "reason": "Art. 17 request by letter"})
        assert erased.status_code == 303, erased.content
        requests = {r.request_type: r for r in IntakeRequest.objects.all()}
        assert set(requests) == {"access", "erasure"}
        for request in requests.values():
            assert request.channel == "gdpr_screen"
            assert request.status == "completed"
            assert [j.status for j in request.jobs.all()] == ["Completed"]
        # the erasure's email is gone once it completed; the export keeps no email at all
        assert requests["erasure"].email == ""
        assert requests["erasure"].minimised_at is not None
        assert requests["erasure"].subject_id == str(leaver.id)


class TestFulfilment:
    def test_request_completes_only_when_all_its_jobs_complete(self, tenant, staff):
        request = recorded(tenant, subject_id="42")
        services.intake_fulfil(request_id=request.pk, actor=factories.actor(staff))
        job = Job.objects.get(request=request)
        assert job.status == JobStatus.APPROVED  # EXPORT needs no approval

        # The worker fails it: the request stays in progress and its page says why.
        assert job_claim(job_id=job.pk, worker_id="w1") is not None
        job_fail(job_id=job.pk, worker_id="w1", code="precondition",
                 message="The datastore refused the export.")
        request.refresh_from_db()
        assert request.status == RequestStatus.IN_PROGRESS
        api = api_as(staff)
        shown = api.get(f"/requests/{request.pk}").json()
        assert shown["jobs"] == [{"id": job.pk, "type": "EXPORT", "status": "Failed",
                                  "error_code": "precondition",
                                  "error_message": "The datastore refused the export."}]
        factories_client = api.client
        factories_client.force_login(staff)
        page = factories_client.get(f"/platform/requests/{request.pk}/").content.decode()
        assert "The datastore refused the export." in page
        assert "the request stays in progress" in page

        # Retried and completed: now the request completes.
        job_retry(job_id=job.pk, actor=factories.actor(staff))
        assert job_claim(job_id=job.pk, worker_id="w2") is not None
        assert job_complete(job_id=job.pk, worker_id="w2", result={"rows": 1})
        request.refresh_from_db()
        assert request.status == RequestStatus.COMPLETED
        kinds = [e.kind for e in request.events.all()]
        assert kinds.count("job_finished") == 2
        assert kinds[-2:] == ["completed", "email_sent"]
        assert request.events.last().data == {"mail": "completed"}
        completion = mail.outbox[-1]
        assert completion.to == ["ada@example.com"]
        assert request.reference in completion.subject

    def test_a_rejected_job_keeps_the_request_open(self, tenant, staff, other_staff):
        request = recorded(tenant, request_type="erasure", subject_id="42")
        # The erasure of a subject the datastore cannot confirm is refused; link the job by
        # hand as fulfilment would, to exercise the hook on a rejection.
        job = factories.job_create(tenant=tenant, requested_by=staff, request=request)
        IntakeRequest.objects.filter(pk=request.pk).update(status="in_progress")
        response = api_as(other_staff).post(f"/jobs/{job.pk}/reject",
                                            {"reason": "Wrong person."})
        assert response.status_code == 200, response.content
        request.refresh_from_db()
        assert request.status == "in_progress"
        assert request.events.get(kind="job_finished").data["job_status"] == "Rejected"

    def test_fulfil_before_verification_is_a_409(self, tenant, staff):
        request = recorded(tenant, verified=False, subject_id="42")
        body = assert_error(api_as(staff).post(f"/requests/{request.pk}/fulfil"), 409,
                            "not_verified")
        assert "confirmation email" in body["message"]
        assert not Job.objects.exists()

    def test_objection_is_a_recorded_decision(self, tenant, staff):
        request = recorded(tenant, request_type="objection")
        api = api_as(staff)
        assert_error(api.post(f"/requests/{request.pk}/fulfil"), 409, "decision_required")
        response = api.post(f"/requests/{request.pk}/close",
                            {"outcome": "Objection upheld: profiling stopped."})
        assert response.status_code == 200
        assert response.json()["status"] == "completed"
        assert not Job.objects.exists()


class TestOperatorActions:
    def test_reject_with_a_reason_then_nothing_more(self, tenant, staff):
        request = recorded(tenant)
        api = api_as(staff)
        mail.outbox.clear()
        response = api.post(f"/requests/{request.pk}/reject", {"reason": "Manifestly unfounded."})
        assert response.status_code == 200
        assert response.json()["rejection_reason"] == "Manifestly unfounded."
        assert "Manifestly unfounded." in mail.outbox[0].body
        body = assert_error(api.post(f"/requests/{request.pk}/verify"), 409,
                            "invalid_transition")
        assert "is rejected; it cannot become verified" in body["message"]
        assert_error(api.post(f"/requests/{request.pk}/withdraw", {}), 409, "request_closed")

    def test_withdrawal_cancels_pending_jobs(self, tenant, staff):
        request = recorded(tenant, request_type="erasure")
        job = factories.job_create(tenant=tenant, requested_by=staff, request=request)
        response = api_as(staff).post(f"/requests/{request.pk}/withdraw",
                                      {"reason": "The person phoned to withdraw."})
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "withdrawn"
        job.refresh_from_db()
        assert job.status == JobStatus.REJECTED
        assert job.withdrawn_by_subject

    def test_withdrawal_after_work_started_is_refused(self, tenant, staff):
        request = recorded(tenant, request_type="erasure")
        factories.job_create(tenant=tenant, requested_by=staff, request=request,
                             status=JobStatus.PROCESSING)
        body = assert_error(api_as(staff).post(f"/requests/{request.pk}/withdraw", {}), 409,
                            "work_started")
        assert "has started" in body["message"]

    def test_extension_once_by_at_most_two_months(self, tenant, staff):
        request = recorded(tenant)
        api = api_as(staff)
        too_far = (request.original_deadline_at + timedelta(days=63)).date().isoformat()
        assert_error(api.post(f"/requests/{request.pk}/extend",
                              {"new_deadline": too_far, "reason": "Complex."}), 422, "invalid")
        ok = (request.original_deadline_at + timedelta(days=20)).date().isoformat()
        assert api.post(f"/requests/{request.pk}/extend",
                        {"new_deadline": ok, "reason": "Complex."}).status_code == 200
        again = (request.original_deadline_at + timedelta(days=30)).date().isoformat()
        assert_error(api.post(f"/requests/{request.pk}/extend",
                              {"new_deadline": again, "reason": "More."}), 409,
                     "already_extended")

    def test_assign_and_filter_by_assignee_and_due(self, tenant, staff):
        mine, later, overdue = recorded(tenant), recorded(tenant, email="b@example.com"), \
            recorded(tenant, email="c@example.com")
        IntakeRequest.objects.filter(pk=overdue.pk).update(
            deadline_at=timezone.now() - timedelta(days=1))
        IntakeRequest.objects.filter(pk=mine.pk).update(
            deadline_at=timezone.now() + timedelta(days=3))
        api = api_as(staff)
        assert api.post(f"/requests/{mine.pk}/assign",
                        {"assignee_id": staff.pk}).status_code == 200

        def ids(**query) -> set[int]:
            response = api.get("/requests", **query)
            assert response.status_code == 200, response.content
            return {item["id"] for item in response.json()["items"]}

        assert ids() == {mine.pk, later.pk, overdue.pk}
        assert ids(assignee="me") == {mine.pk}
        assert ids(assignee="none") == {later.pk, overdue.pk}
        assert ids(due="overdue") == {overdue.pk}
        assert ids(due="7d") == {mine.pk}
        assert ids(type="erasure") == set()
        assert ids(assignee=str(staff.pk)) == {mine.pk}
        # An id past any 64-bit key (found by schemathesis as a 500) names nobody.
        assert ids(assignee="9402201183251619523") == set()
        listed = api.get("/requests", sort="deadline").json()["items"]
        assert [item["id"] for item in listed] == [overdue.pk, mine.pk, later.pk]

    def test_queue_headers_sort_each_column_both_ways(self, client, tenant, other_tenant,
                                                      staff):
        """Clicking a header sorts by it (descending first), the filters kept; the oracle is
        Python's sort of the rows the test made."""
        made = [recorded(tenant, email="a@example.com"),
                recorded(other_tenant, email="b@example.com"),
                recorded(tenant, email="c@example.com", verified=False)]
        for offset, request in zip((5, 1, 9), made, strict=True):
            IntakeRequest.objects.filter(pk=request.pk).update(
                deadline_at=timezone.now() + timedelta(days=offset))
        services.request_assign(request_id=made[2].pk, assignee_id=staff.pk,
                                actor=factories.actor(staff))
        client.force_login(staff)

        def listed(sort: str) -> list[int]:
            page = client.get("/platform/requests/", {"sort": sort}).content.decode()
            return [int(i) for i in re.findall(r'data-request-id="(\d+)"', page)]

        rows = list(IntakeRequest.objects.select_related("tenant", "assignee"))
        by = {
            "deadline": lambda r: (r.deadline_at, r.pk),
            "workspace": lambda r: (r.tenant.name, r.deadline_at, r.pk),
            # verified in the order they were (the ids' order), the unverified (no date) last
            "verification": lambda r: (r.verified_at is None, r.pk),
        }
        for key, sort_key in by.items():
            ascending = [r.pk for r in sorted(rows, key=sort_key)]
            assert listed(key) == ascending, key
            assert listed(f"-{key}") == ascending[::-1], key
        page = client.get("/platform/requests/", {"sort": "-deadline", "type": "access"})
        html = page.content.decode()
        assert 'aria-sort="descending"' in html
        assert re.search(r'href="\?[^"]*type=access[^"]*sort=deadline|'
                         r'href="\?[^"]*sort=deadline[^"]*type=access', html)  # then ascending

    def test_assigning_someone_without_the_role_is_refused(self, tenant, staff):
        member = factories.user_create(tenant=tenant, role=Role.MEMBER)
        request = recorded(tenant)
        assert_error(api_as(staff).post(f"/requests/{request.pk}/assign",
                                        {"assignee_id": member.pk}), 422, "invalid")


class TestDuplicates:
    def test_same_identity_type_and_workspace_is_a_duplicate(self, tenant, other_tenant, staff):
        first = recorded(tenant, email="ada@example.com")
        second = recorded(tenant, email="  ADA@Example.COM ", channel="api")
        other_type = recorded(tenant, email="ada@example.com", request_type="erasure")
        other_place = recorded(other_tenant, email="ada@example.com")
        assert second.duplicate_of_id == first.pk
        assert other_type.duplicate_of_id is None
        assert other_place.duplicate_of_id is None
        shown = api_as(staff).get(f"/requests/{second.pk}").json()
        assert shown["duplicate_of"] == first.reference
        assert_error(api_as(staff).post(f"/requests/{second.pk}/fulfil"), 409, "duplicate")

    def test_merge_keeps_the_channel_on_the_original(self, client, tenant, staff):
        first = recorded(tenant)
        second = recorded(tenant, channel="api")
        client.force_login(staff)
        shown = client.get(f"/platform/requests/{second.pk}/")
        assert shown.status_code == 200
        assert f"Merge into {first.reference}" in shown.content.decode()
        assert client.post(f"/platform/requests/{second.pk}/merge/").status_code == 302
        second.refresh_from_db()
        assert second.status == "merged"
        merged_in = first.events.get(kind="merged_in")
        assert merged_in.data["channel"] == "api"
        assert merged_in.data["duplicate"] == second.reference
        page = client.get(f"/platform/requests/{first.pk}/").content.decode()
        assert "A duplicate was merged into this request" in page

    def test_keep_makes_it_a_request_of_its_own(self, tenant, staff):
        first = recorded(tenant)
        second = recorded(tenant, subject_id="42")
        services.request_keep(request_id=second.pk, actor=factories.actor(staff))
        services.intake_fulfil(request_id=second.pk, actor=factories.actor(staff))
        assert Job.objects.get().request_id == second.pk
        assert first.status == "verified"


class TestQueuePage:
    def test_csv_export_is_filtered_and_formula_safe(self, client, staff):
        hostile = factories.tenant_create(slug="evil", name="=HYPERLINK(\"http://x\")")
        calm = factories.tenant_create(slug="calm", name="Calm")
        recorded(hostile, request_type="erasure")
        recorded(calm, request_type="access")
        client.force_login(staff)
        response = client.get("/platform/requests/export.csv?type=erasure")
        assert response.status_code == 200
        text = b"".join(response.streaming_content).decode()
        lines = text.strip().splitlines()
        assert lines[0].startswith("reference,workspace,type,status")
        assert len(lines) == 2
        assert "'=HYPERLINK" in lines[1]
        assert "Calm" not in text
        assert "@example.com" not in text  # no emails in the export

    def test_request_page_shows_person_jobs_timeline_and_polls(self, client, tenant, staff):
        request = recorded(tenant, subject_id="42")
        services.request_note(request_id=request.pk, text="Asked for ID.",
                              actor=factories.actor(staff))
        services.intake_fulfil(request_id=request.pk, actor=factories.actor(staff))
        client.force_login(staff)
        page = client.get(f"/platform/requests/{request.pk}/").content.decode()
        assert "ada@example.com" in page
        assert "Asked for ID." in page
        assert f'hx-get="/platform/requests/{request.pk}/jobs/"' in page
        fragment = client.get(f"/platform/requests/{request.pk}/jobs/").content.decode()
        job = Job.objects.get()
        assert f'data-job-id="{job.pk}"' in fragment
        assert "every 3s" in fragment
        assert fragment.count("data-job-id") == 1
