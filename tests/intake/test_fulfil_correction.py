"""Correction and restriction requests are fulfilled with RECTIFY / RESTRICT jobs on the
subject found by the request's email, on the real demo datastore (a SQLite file); the request
completes with the job and its email names the corrected fields, never their values."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail
from django.db import transaction

from privacyops.execution.runner import run_job_now
from privacyops.intake.lifecycle import request_record
from privacyops.intake.models import IntakeRequest, RequestStatus
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.actors import Actor
from tests.api.conftest import api_as, assert_error
from tests.demo_store import demo_store

__all__ = ["demo_store"]

pytestmark = pytest.mark.django_db(transaction=True)


def _recorded(tenant, email: str, request_type: str) -> IntakeRequest:
    with transaction.atomic():
        return request_record(tenant=tenant, email=email, request_type=request_type,
                              channel="operator", actor=Actor.system("test"), verified=True)


def _row(store, person: int) -> tuple:
    return store.query("SELECT name, phone, processing_restricted_at FROM people WHERE id = ?",
                       person)[0]


def test_a_correction_rectifies_the_person_and_mails_the_field_names(demo_store, staff):
    person = demo_store.erasable_person()
    email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
    request = _recorded(demo_store.tenant, email, "correction")
    new_name = f"Canary-{uuid.uuid4().hex[:10]}"

    response = api_as(staff).post(f"/requests/{request.pk}/fulfil",
                                  {"changes": {"name": new_name}})
    assert response.status_code == 200, response.content
    job = Job.objects.get(request=request)
    assert (job.job_type, job.target_id) == ("RECTIFY", str(person))
    run_job_now(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message

    assert _row(demo_store, person)[0] == new_name  # read back from the SQLite file
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    completion = mail.outbox[-1]
    assert completion.to == [email]
    changed = completion.body.split("What changed:", 1)[1].split("Reference")[0]
    assert changed.split() == ["-", "name"]
    assert new_name not in completion.body


def test_a_restriction_marks_the_person_restricted(demo_store, staff):
    person = demo_store.erasable_person(1)
    email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
    request = _recorded(demo_store.tenant, email, "restriction")
    assert _row(demo_store, person)[2] is None

    response = api_as(staff).post(f"/requests/{request.pk}/fulfil", {"lift": False})
    assert response.status_code == 200, response.content
    job = Job.objects.get(request=request)
    assert job.job_type == "RESTRICT"
    run_job_now(job.pk)
    assert _row(demo_store, person)[2] is not None
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED


def test_a_correction_of_an_unknown_email_asks_to_link_a_subject(demo_store, staff):
    request = _recorded(demo_store.tenant, "nobody.here@example.org", "correction")
    assert_error(api_as(staff).post(f"/requests/{request.pk}/fulfil",
                                    {"changes": {"name": "X"}}), 409, "not_linked")
    assert not Job.objects.filter(request=request).exists()


def test_the_request_page_form_lists_fields_and_creates_the_rectify_job(
        demo_store, staff, client):
    person = demo_store.erasable_person(2)
    email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
    request = _recorded(demo_store.tenant, email, "correction")
    client.force_login(staff)
    page = client.get(f"/platform/requests/{request.pk}/").content.decode()
    assert 'name="change_name"' in page
    assert 'name="change_phone"' in page

    new_phone = "+1-555-" + uuid.uuid4().hex[:8]
    response = client.post(f"/platform/requests/{request.pk}/fulfil/",
                           {"action": "rectify", "system": "demo",
                            "change_phone": new_phone, "change_name": ""})
    assert response.status_code == 302
    job = Job.objects.get(request=request)
    assert job.job_type == "RECTIFY"
    assert job.params["fields"] == ["phone"]
    run_job_now(job.pk)
    assert _row(demo_store, person)[1] == new_phone
