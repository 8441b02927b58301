"""A request is fulfilled by one job that names the person by email, so it runs on every
system of the workspace (here two real SQLite systems), and the request completes with it."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from privacyops.execution.models import JobStep
from privacyops.execution.receipts import receipt_problems
from privacyops.execution.runner import run_job_now
from privacyops.intake import services
from privacyops.intake.lifecycle import request_record
from privacyops.intake.models import IntakeRequest, RequestStatus
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve
from privacyops.tenancy.actors import Actor
from tests import factories
from tests.execution.multi_store import demo_store, multi_store
from tests.requests_mail.conftest import smtp

__all__ = ["demo_store", "multi_store", "smtp"]

pytestmark = pytest.mark.django_db(transaction=True)


def _recorded(tenant, email: str, request_type: str) -> IntakeRequest:
    with transaction.atomic():
        return request_record(tenant=tenant, email=email, request_type=request_type,
                              channel="operator", actor=Actor.system("test"), verified=True)


def test_an_erasure_request_erases_the_person_in_every_system(multi_store, staff, other_staff,
                                                             smtp):
    person_id, email = multi_store.person()
    requester = multi_store.requester_of(email)
    request = _recorded(multi_store.tenant, email, "erasure")

    services.intake_fulfil(request_id=request.pk, actor=factories.actor(staff))
    job = Job.objects.get(request=request)
    assert job.identity == {"email": email.lower()}
    assert job.target_id == ""
    assert sorted(JobStep.objects.filter(job=job).values_list("system_name", flat=True)) == [
        "demo", "helpdesk"]
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(other_staff))
    run_job_now(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message

    # The person is gone from both datastores (read straight from the SQLite files).
    assert multi_store.app("SELECT email FROM people WHERE id = ?", person_id) != [(email,)]
    assert multi_store.desk("SELECT email FROM requesters WHERE id = ?", requester) != [
        (email,)]
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETED
    assert request.email == ""  # minimised after the erasure, the job's identity too
    job.refresh_from_db()
    assert job.identity == {"email": "[erased]"}
    # The completion email, through a real SMTP server, carries the signed receipt.
    completion = smtp.wait_for(lambda m: request.reference in str(m["Subject"]))
    assert str(completion["To"]) == email
    attached = [part for part in completion.iter_attachments()
                if part.get_filename() == f"receipt-{request.reference}.json"]
    assert len(attached) == 1
    content = attached[0].get_payload(decode=True).decode()
    receipt = json.loads(content)
    assert receipt_problems(receipt) == []  # it verifies with the installation's key
    assert email not in content


def test_a_linked_subject_keeps_the_single_system_job(multi_store, staff):
    person_id, email = multi_store.person(1)
    with transaction.atomic():
        request = request_record(tenant=multi_store.tenant, email=email, request_type="access",
                                 channel="operator", actor=Actor.system("test"),
                                 verified=True, subject_id=str(person_id))
    services.intake_fulfil(request_id=request.pk, actor=factories.actor(staff))
    job = Job.objects.get(request=request)
    assert job.identity == {}
    assert job.target_id == str(person_id)
    assert not JobStep.objects.filter(job=job).exists()
