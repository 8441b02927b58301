"""The operator's request page fulfils a correction (system, fields, new values) and a
restriction (set or lift) with a RECTIFY / RESTRICT job, through the same service as the API,
and records an objection's decision; on two real SQLite systems of one workspace."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from privacyops.execution.runner import run_job_now
from privacyops.intake.lifecycle import request_record
from privacyops.intake.models import IntakeRequest, RequestStatus
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.actors import Actor
from tests.api.conftest import api_as, assert_error
from tests.execution.multi_store import demo_store, multi_store

__all__ = ["demo_store", "multi_store"]

pytestmark = pytest.mark.django_db(transaction=True)


def _recorded(tenant, email: str, request_type: str) -> IntakeRequest:
    with transaction.atomic():
        return request_record(tenant=tenant, email=email, request_type=request_type,
                              channel="operator", actor=Actor.system("test"), verified=True)


def _page(client, request: IntakeRequest) -> str:
    return client.get(f"/platform/requests/{request.pk}/").content.decode()


def test_a_correction_in_the_second_system_changes_only_that_system(multi_store, staff,
                                                                    client):
    person_id, email = multi_store.person(3)
    requester = multi_store.requester_of(email)
    request = _recorded(multi_store.tenant, email, "correction")
    client.force_login(staff)
    page = _page(client, request)
    # One form per system, each with its own subject's fields (keys and markers left out).
    assert "Create RECTIFY job in demo" in page
    assert "Create RECTIFY job in helpdesk" in page
    assert 'id="change-2-phone"' in page
    assert 'name="change_id"' not in page
    assert 'name="change_erased_at"' not in page
    app_before = multi_store.app("SELECT name, phone FROM people WHERE id = ?", person_id)

    new_phone = "+44 20 " + uuid.uuid4().hex[:8]
    response = client.post(f"/platform/requests/{request.pk}/fulfil/", {
        "action": "rectify", "system": "helpdesk", "change_phone": new_phone,
        "change_name": ""})
    assert response.status_code == 302, response.content.decode()[-2000:]
    job = Job.objects.get(request=request)
    assert (job.job_type, job.target_id) == ("RECTIFY", str(requester))
    assert job.params["system"] == "helpdesk"
    assert job.params["fields"] == ["phone"]
    request.refresh_from_db()
    assert request.status == RequestStatus.IN_PROGRESS  # completes with the job, not before

    run_job_now(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message
    # Read straight from the SQLite files: the helpdesk row changed, the app's did not.
    assert multi_store.desk("SELECT phone FROM requesters WHERE id = ?", requester) == [
        (new_phone,)]
    assert multi_store.app("SELECT name, phone FROM people WHERE id = ?",
                           person_id) == app_before
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    job_page = client.get(f"/platform/privacy/jobs/{job.pk}/").content.decode()
    assert 'id="rectify-system">In system <strong>helpdesk</strong>' in job_page


def test_a_restriction_in_a_system_without_a_marker_is_refused(multi_store, staff):
    _person, email = multi_store.person(11)
    request = _recorded(multi_store.tenant, email, "restriction")
    before = multi_store.table_bytes()
    assert_error(api_as(staff).post(f"/requests/{request.pk}/fulfil",
                                    {"lift": False, "system": "helpdesk"}), 422,
                 "no_restriction_marker")
    assert not Job.objects.filter(request=request).exists()
    assert multi_store.table_bytes() == before


def test_a_blank_correction_form_is_refused_and_keeps_nothing(multi_store, staff, client):
    _person, email = multi_store.person(4)
    request = _recorded(multi_store.tenant, email, "correction")
    client.force_login(staff)
    response = client.post(f"/platform/requests/{request.pk}/fulfil/", {
        "action": "rectify", "system": "demo", "change_name": "  ", "change_phone": ""})
    assert response.status_code == 422
    assert "at least one change" in response.content.decode()
    assert not Job.objects.filter(request=request).exists()
    request.refresh_from_db()
    assert request.status == RequestStatus.VERIFIED  # not put in progress by hand


def test_a_refused_value_is_shown_with_what_was_typed(multi_store, staff, client):
    _person, email = multi_store.person(5)
    request = _recorded(multi_store.tenant, email, "correction")
    client.force_login(staff)
    response = client.post(f"/platform/requests/{request.pk}/fulfil/", {
        "action": "rectify", "system": "nowhere", "change_phone": "+1 555 0100"})
    assert response.status_code == 422
    body = response.content.decode()
    assert "no SQL system named &#x27;nowhere&#x27;" in body
    assert "demo, helpdesk" in body
    assert not Job.objects.filter(request=request).exists()


def test_the_api_validates_the_same_way(multi_store, staff):
    _person, email = multi_store.person(6)
    request = _recorded(multi_store.tenant, email, "correction")
    api = api_as(staff)
    assert_error(api.post(f"/requests/{request.pk}/fulfil",
                          {"changes": {"id": "1"}, "system": "helpdesk"}), 422,
                 "invalid_change")
    assert_error(api.post(f"/requests/{request.pk}/fulfil",
                          {"changes": {"phone": "1"}, "system": "nowhere"}), 422,
                 "unknown_system")
    assert_error(api.post(f"/requests/{request.pk}/fulfil", {"lift": True}), 422,
                 "invalid_params")
    assert not Job.objects.filter(request=request).exists()
    request.refresh_from_db()
    assert request.status == RequestStatus.VERIFIED


def test_a_restriction_is_set_or_lifted_from_the_page(multi_store, staff, client):
    client.force_login(staff)
    marker = "SELECT processing_restricted_at FROM people WHERE id = ?"
    person_id, email = multi_store.person(7)
    request = _recorded(multi_store.tenant, email, "restriction")
    page = _page(client, request)
    assert "Restrict processing (set the marker)" in page
    assert "Lift the restriction (clear the marker)" in page
    assert 'name="system" value="demo"' in page  # the only system with a restriction marker

    response = client.post(f"/platform/requests/{request.pk}/fulfil/",
                           {"action": "restrict", "system": "demo", "lift": "0"})
    assert response.status_code == 302
    job = Job.objects.get(request=request)
    assert (job.job_type, job.params["lift"]) == ("RESTRICT", False)
    run_job_now(job.pk)
    assert multi_store.app(marker, person_id)[0][0] is not None
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED

    # The person later asks to lift it: a new restriction request, "lift" chosen.
    again = _recorded(multi_store.tenant, email, "restriction")
    response = client.post(f"/platform/requests/{again.pk}/fulfil/",
                           {"action": "restrict", "system": "demo", "lift": "1"})
    assert response.status_code == 302
    job = Job.objects.get(request=again)
    assert job.params["lift"] is True
    run_job_now(job.pk)
    assert multi_store.app(marker, person_id) == [(None,)]
    again.refresh_from_db()
    assert again.status == RequestStatus.COMPLETED


def test_an_objection_decision_is_recorded_from_the_page(multi_store, staff, client):
    _person, email = multi_store.person(8)
    request = _recorded(multi_store.tenant, email, "objection")
    client.force_login(staff)
    page = _page(client, request)
    assert "Your decision on the objection" in page
    assert "Create RECTIFY job" not in page
    assert "Create RESTRICT job" not in page
    decision = "Direct marketing stopped for this person on 7 December."
    response = client.post(f"/platform/requests/{request.pk}/close/", {"outcome": decision})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    assert request.outcome == decision
    assert request.closed_by == staff
    assert decision in _page(client, request)
    assert not Job.objects.filter(request=request).exists()


def test_linking_an_id_nobody_has_is_refused(multi_store, staff, client):
    _person, email = multi_store.person(9)
    request = _recorded(multi_store.tenant, email, "access")
    client.force_login(staff)
    response = client.post(f"/platform/requests/{request.pk}/link/",
                           {"subject_id": "Ada Lovelace"})
    assert response.status_code == 422
    assert "pick them from the suggestions" in response.content.decode()
    request.refresh_from_db()
    assert request.subject_id == ""
    assert not request.events.filter(kind="linked").exists()


def test_a_linked_person_is_shown_by_name(multi_store, staff, client):
    person_id, email = multi_store.person(10)
    (name,) = multi_store.app("SELECT name FROM people WHERE id = ?", person_id)[0]
    request = _recorded(multi_store.tenant, "another.address@example.org", "access")
    client.force_login(staff)
    assert client.post(f"/platform/requests/{request.pk}/link/",
                       {"subject_id": f" {person_id} "}).status_code == 302
    request.refresh_from_db()
    assert request.subject_id == str(person_id)
    page = _page(client, request)
    subject = page.split('id="subject">', 1)[1].split("</dd>", 1)[0]
    assert name in subject
    assert email in subject


def test_an_it_admin_records_the_outcome_instead(multi_store, client):
    from privacyops.tenancy.models import Role
    from tests import factories

    _person, email = multi_store.person(12)
    request = _recorded(multi_store.tenant, email, "correction")
    client.force_login(factories.user_create(tenant=multi_store.tenant, role=Role.IT_ADMIN))
    page = _page(client, request)
    assert "Create RECTIFY job" not in page  # IT admins may not create RECTIFY jobs
    assert "Record outcome and close" in page
