"""The privacy center's JSON API for a tenant application: export, delete-account, jobs."""

from __future__ import annotations

import pytest
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.jobs.models import Job, JobSource, JobStatus
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def app_token(tenant) -> str:
    _token, raw = api_token_create(user=None, tenant=tenant, name="privacy app",
                                   actor=Actor.system("test"))
    return raw


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


class TestAuth:
    def test_no_token_is_unauthenticated(self, client, acme):
        response = client.get("/api/v1/privacy/jobs", {"email": "x@example.com"})
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"

    def test_a_personal_token_is_not_a_tenant_token(self, client, acme, people):
        user = factories.user_create(tenant=acme, role="super-admin")
        _token, raw = api_token_create(user=user, name="mine", actor=Actor.for_user(user))
        response = client.get("/api/v1/privacy/jobs", {"email": people.all()[4].email},
                              **bearer(raw))
        assert response.status_code == 401

    def test_a_revoked_token_is_refused(self, client, acme, people):
        token, raw = api_token_create(user=None, tenant=acme, name="old",
                                      actor=Actor.system("test"))
        token.revoked_at = timezone.now()
        token.save()
        response = client.get("/api/v1/privacy/jobs", {"email": people.all()[4].email},
                              **bearer(raw))
        assert response.status_code == 401

    def test_another_tenants_token_does_not_reach_this_tenants_people(self, client, acme,
                                                                        globex, people):
        raw = app_token(globex)
        response = client.post("/api/v1/privacy/export", {"email": people.all()[4].email},
                               content_type="application/json", **bearer(raw))
        assert response.status_code == 404
        assert response.json()["code"] == "no_subject"
        assert not Job.objects.exists()


class TestOperations:
    def test_export_by_email_then_list(self, client, acme, people):
        raw = app_token(acme)
        person = people.all()[4]
        response = client.post("/api/v1/privacy/export", {"email": person.email},
                               content_type="application/json", **bearer(raw))
        assert response.status_code == 201
        [created] = response.json()
        assert created["job_type"] == "EXPORT"
        # One job by identity, run on every system of the workspace (no subject id).
        assert created["subject_id"] == ""
        job = Job.objects.get(pk=created["id"])
        assert job.identity == {"email": person.email.lower()}
        assert job.source == JobSource.PRIVACY_CENTER
        listed = client.get("/api/v1/privacy/jobs", {"email": person.email},
                            **bearer(raw)).json()
        assert [j["id"] for j in listed] == [job.pk]
        event = AuditEvent.objects.get(action="job.created")
        assert event.actor_type == "api_token"

    def test_delete_account_by_subject_id_and_cancel(self, client, acme, people):
        raw = app_token(acme)
        person = people.erasable(1)[0]
        response = client.post("/api/v1/privacy/delete-account",
                               {"subject_id": str(person.id), "reason": "Closing my account"},
                               content_type="application/json", **bearer(raw))
        assert response.status_code == 201
        [created] = response.json()
        assert created["status"] == "Scheduled"
        assert created["can_cancel"]
        assert created["not_before"]
        cancelled = client.post(f"/api/v1/privacy/jobs/{created['id']}/cancel",
                                {"subject_id": str(person.id)},
                                content_type="application/json", **bearer(raw))
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "Cancelled"
        assert Job.objects.get().status == JobStatus.REJECTED

    def test_jobs_are_newest_first(self, client, acme, people):
        raw = app_token(acme)
        person = people.erasable(1)[0]
        body = {"email": person.email}
        client.post("/api/v1/privacy/export", body, content_type="application/json",
                    **bearer(raw))
        client.post("/api/v1/privacy/delete-account", body, content_type="application/json",
                    **bearer(raw))
        listed = client.get("/api/v1/privacy/jobs", body, **bearer(raw)).json()
        assert [j["job_type"] for j in listed] == ["ERASE", "EXPORT"]

    @pytest.mark.parametrize(("body", "status"), [
        ({}, 422),
        ({"email": "not-an-email"}, 422),
        ({"email": "nobody@example.com"}, 404),
        ({"subject_id": "999999"}, 404),
    ])
    def test_identity_errors(self, client, acme, people, body, status):
        raw = app_token(acme)
        response = client.post("/api/v1/privacy/export", body, content_type="application/json",
                               **bearer(raw))
        assert response.status_code == status
        assert response.json()["message"]

    def test_both_identities_are_refused(self, client, acme, people):
        raw = app_token(acme)
        person = people.all()[4]
        response = client.post("/api/v1/privacy/export",
                               {"email": person.email, "subject_id": str(person.id)},
                               content_type="application/json", **bearer(raw))
        assert response.status_code == 422
