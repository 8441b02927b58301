"""The privacy center lists the person's privacy requests from every channel, found by the
keyed hash of the verified email (so also after an erasure), with downloads: the export
package (its download is recorded as delivered), the erasure receipt, a fresh copy."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.execution.models import Artifact
from privacyops.execution.receipts import receipt_problems
from privacyops.execution.runner import run_job_now
from privacyops.intake.lifecycle import request_record
from privacyops.intake.models import Channel, IntakeRequest, RequestEvent
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.actors import Actor
from tests.privacy_center.test_views import sign_in, text, url

pytestmark = pytest.mark.django_db(transaction=True)


def filed(tenant, email: str, channel: str, request_type: str = "access") -> IntakeRequest:
    with transaction.atomic():
        return request_record(tenant=tenant, email=email, request_type=request_type,
                              channel=channel, actor=Actor.system("test"),
                              verified=channel != Channel.INTAKE)


def export_ready(client, person) -> Job:
    sign_in(client, person.email)
    assert client.post(url("export")).status_code == 303
    job = Job.objects.get(job_type="EXPORT")
    run_job_now(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    return job


class TestEveryChannel:
    def test_requests_of_every_channel_newest_first_and_nobody_elses(self, client, acme, people):
        person, other = people.all()[3], people.all()[4]
        mine = [filed(acme, person.email, channel) for channel in
                (Channel.INTAKE, Channel.API, Channel.OPERATOR, Channel.GDPR_SCREEN)]
        # The same person, typed differently on another channel, is still the same person.
        mine.append(filed(acme, f"  {person.email.upper()} ", Channel.API, "erasure"))
        theirs = filed(acme, other.email, Channel.API)
        sign_in(client, person.email)
        page = text(client.get(url("center")))
        positions = [page.index(f'data-reference="{r.reference}"') for r in mine]
        assert positions == sorted(positions, reverse=True)  # newest first
        assert theirs.reference not in page
        assert f'id="request-{mine[0].reference}" data-status="Awaiting confirmation"' in page
        assert f'id="request-{mine[1].reference}" data-status="Verified"' in page
        assert "Deletion of your data" in page
        assert "answer due by" in page

    def test_status_labels_in_german(self, acme, people):
        person = people.all()[3]
        filed(acme, person.email, Channel.API)
        client = Client(HTTP_ACCEPT_LANGUAGE="de")
        sign_in(client, person.email)
        page = text(client.get(url("center")))
        assert "Zugang zu Ihren Daten" in page
        assert "Bestätigt" in page


class TestDownloads:
    def test_download_is_recorded_as_delivered(self, client, acme, people):
        person = people.all()[6]
        job = export_ready(client, person)
        artifact = Artifact.objects.get(job=job)
        page = text(client.get(url("center")))
        assert f'data-reference="{job.request.reference}"' in page
        assert 'data-status="Ready"' in page
        assert not RequestEvent.objects.filter(kind="delivered").exists()
        response = client.get(url("download", artifact_id=artifact.pk))
        assert b"".join(response.streaming_content)[:2] == b"PK"
        delivered = RequestEvent.objects.get(kind="delivered")
        assert delivered.request_id == job.request_id
        assert delivered.data["artifact"] == str(artifact.pk)
        assert AuditEvent.objects.filter(action="intake.delivered",
                                         target_id=str(job.request_id)).exists()

    def test_expired_package_asks_for_a_fresh_copy(self, client, acme, people):
        person = people.all()[6]
        job = export_ready(client, person)
        Artifact.objects.filter(job=job).update(expires_at=timezone.now() - timedelta(minutes=1))
        page = text(client.get(url("center")))
        assert 'data-status="Expired"' in page
        renew = url("renew", request_id=job.request_id)
        assert renew in page
        other = Client()
        sign_in(other, people.all()[7].email)
        assert other.post(renew).status_code == 404  # not theirs
        assert other.get(url("receipt", request_id=job.request_id)).status_code == 404
        assert IntakeRequest.objects.count() == 1
        assert client.post(renew).status_code == 303
        fresh = IntakeRequest.objects.exclude(pk=job.request_id).get()
        assert (fresh.request_type, fresh.channel, fresh.status) == (
            "access", Channel.PRIVACY_CENTER, "in_progress")
        assert Job.objects.filter(request=fresh, job_type="EXPORT").count() == 1
        # A package that has not expired is not renewed.
        run_job_now(Job.objects.get(request=fresh).pk)
        assert client.post(url("renew", request_id=fresh.pk)).status_code == 409


class TestAfterErasure:
    def test_erasure_request_and_receipt_are_found_after_the_erasure(self, client, acme,
                                                                        people):
        acme.approval_required_types = []
        acme.save()
        person = people.erasable(1)[0]
        sign_in(client, person.email)
        assert client.post(url("delete"), {"confirmation_email": person.email}).status_code == 303
        job = Job.objects.get(job_type="ERASE")
        assert job.identity == {"email": person.email.lower()}  # by identity, every system
        Job.objects.filter(pk=job.pk).update(not_before=timezone.now() - timedelta(seconds=1))
        run_job_now(job.pk)
        request = IntakeRequest.objects.get(pk=job.request_id)
        assert request.status == "completed"
        assert request.email == ""
        assert person.email not in [p.email for p in people.all()]

        again = Client()
        sign_in(again, person.email)
        page = text(again.get(url("center")))
        assert "We hold no account for this email address" in page
        assert f'id="request-{request.reference}" data-status="Completed"' in page
        link = url("receipt", request_id=request.pk)
        assert link in page
        response = again.get(link)
        assert response.status_code == 200
        assert f"receipt-{request.reference}.json" in response["Content-Disposition"]
        document = json.loads(response.content)
        assert receipt_problems(document) == []
        # Nobody else gets it.
        assert Client().get(link).status_code == 404


class TestFiledBySubjectId:
    """A request that names the person by subject id alone (an application's API call, the
    GDPR screen) is listed in their privacy center when their email is in the data."""

    def _by_subject_id(self, client, acme, person) -> IntakeRequest:
        from tests.privacy_center.test_api import app_token, bearer

        response = client.post("/api/v1/privacy/delete-account",
                               {"subject_id": str(person.id)},
                               content_type="application/json", **bearer(app_token(acme)))
        assert response.status_code == 201, response.content
        request = IntakeRequest.objects.get()
        assert request.email == ""  # the email itself is not stored
        return request

    def test_an_api_request_by_subject_id_is_listed_for_the_person(self, client, acme,
                                                                   people, staff):
        person = people.erasable(2)[1]
        request = self._by_subject_id(client, acme, person)
        operator = Client()
        operator.force_login(staff)
        detail = text(operator.get(f"/platform/requests/{request.pk}/"))
        assert "Listed in the person's privacy center" in detail

        sign_in(client, person.email.upper())  # however the person types it
        page = text(client.get(url("center")))
        assert f'data-reference="{request.reference}"' in page
        assert "Deletion of your data" in page

    def test_the_gdpr_screen_export_is_listed_for_the_person(self, client, acme, people):
        from privacyops.tenancy.models import Role
        from tests.workspace.test_views import export_url, signed_in

        person = people.all()[7]
        signed_in(client, acme, Role.ADMIN)
        assert client.post(export_url(person.id)).status_code == 200
        request = IntakeRequest.objects.get(channel=Channel.GDPR_SCREEN)
        assert request.email == ""
        person_client = Client()
        sign_in(person_client, person.email)
        page = text(person_client.get(url("center")))
        assert f'data-reference="{request.reference}"' in page

    def test_without_an_email_in_the_data_the_operator_page_says_so(self, client, acme,
                                                                    people, staff):
        person = people.erasable(3)[2]
        people.execute("UPDATE people SET email = '' WHERE id = ?", person.id)
        request = self._by_subject_id(client, acme, person)
        operator = Client()
        operator.force_login(staff)
        detail = text(operator.get(f"/platform/requests/{request.pk}/"))
        assert "Not listed in the person's privacy center" in detail
        assert f"Tell them its reference ({request.reference})" in detail

        # Signing in with the address the person had finds nothing of it.
        sign_in(client, person.email)
        assert request.reference not in text(client.get(url("center")))
