"""The privacy center through the Django test client: code flow, export, download, deletion."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.execution.models import Artifact
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobSource, JobStatus
from privacyops.privacy_center.models import AccessCode
from tests.workspace.demo_store import must_match

pytestmark = pytest.mark.django_db(transaction=True)


def url(name: str, **kwargs) -> str:
    return reverse(f"privacy_center:{name}", kwargs={"slug": "acme", **kwargs})


def text(response) -> str:
    return html.unescape(response.content.decode())


def mailed_code() -> str:
    return must_match(r"\b(\d{6})\b", str(mail.outbox[-1].body)).group(1)


def sign_in(client, email: str) -> None:
    client.post(url("code"), {"email": email})
    response = client.post(url("verify"), {"code": mailed_code()})
    assert response.status_code == 303


class TestTenantResolution:
    def test_host_first_label_names_the_tenant(self, client, acme, globex, settings):
        settings.ALLOWED_HOSTS = ["*"]
        response = client.get("/privacy", HTTP_HOST="globex.privacy.example.com")
        assert "Your data at Globex Corporation" in text(response)

    def test_query_string_names_the_tenant(self, client, acme, globex):
        assert "Your data at Acme Corporation" in text(client.get("/privacy/?workspace=acme"))

    def test_the_only_tenant_is_chosen(self, client, acme):
        assert "Your data at Acme Corporation" in text(client.get("/privacy"))

    def test_several_tenants_ask_which(self, client, acme, globex):
        assert "Which organisation?" in text(client.get("/privacy/"))

    def test_slug_path(self, client, acme, globex):
        assert "Your data at Acme Corporation" in text(client.get(url("center")))

    def test_unknown_slug_is_not_found(self, client, acme):
        assert client.get("/privacy/nope/").status_code == 404


class TestCode:
    def test_code_is_mailed_and_stored_hashed(self, client, acme, people):
        person = people.all()[4]
        response = client.post(url("code"), {"email": person.email})
        assert response.status_code == 303
        assert mail.outbox[-1].to == [person.email]
        code = mailed_code()
        stored = AccessCode.objects.get()
        assert code not in stored.code_hash
        assert person.email not in stored.email_digest
        assert stored.expires_at - timezone.now() <= timedelta(minutes=10)
        assert "Enter your code" in text(client.get(url("center")))

    def test_right_code_shows_the_subjects_own_requests(self, client, acme, people):
        person = people.all()[4]
        sign_in(client, person.email)
        page = text(client.get(url("center")))
        assert re.search(rf"Signed in as <strong>{re.escape(person.email)}</strong>", page)
        assert "Your requests" in page
        assert "Available downloads" in page
        assert client.session["privacy_center"][str(acme.pk)]["subject_ids"] == [str(person.id)]
        assert AuditEvent.objects.filter(action="privacy_center.verified").exists()

    def test_wrong_code_counts_attempts_then_a_new_code_is_needed(self, client, acme, people):
        person = people.all()[4]
        client.post(url("code"), {"email": person.email})
        right = mailed_code()
        wrong = "000000" if right != "000000" else "111111"
        first = client.post(url("verify"), {"code": wrong})
        assert first.status_code == 422
        assert "4 attempts left" in text(first)
        for _ in range(4):
            last = client.post(url("verify"), {"code": wrong})
        assert "it was the last attempt" in text(last)
        after = client.post(url("verify"), {"code": right})
        assert after.status_code == 422
        assert "Too many wrong attempts for this code. Ask for a new code." in text(after)
        assert "subject_ids" not in client.session["privacy_center"][str(acme.pk)]
        client.post(url("code"), {"email": person.email})
        assert client.post(url("verify"), {"code": mailed_code()}).status_code == 303

    def test_expired_code_is_refused(self, client, acme, people):
        person = people.all()[4]
        client.post(url("code"), {"email": person.email})
        AccessCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        response = client.post(url("verify"), {"code": mailed_code()})
        assert response.status_code == 422
        assert "This code has expired" in text(response)

    def test_a_new_code_replaces_the_old_one(self, client, acme, people):
        person = people.all()[4]
        client.post(url("code"), {"email": person.email})
        old = mailed_code()
        client.post(url("code"), {"email": person.email})
        new = mailed_code()
        if old != new:
            assert client.post(url("verify"), {"code": old}).status_code == 422
        assert client.post(url("verify"), {"code": new}).status_code == 303

    def test_codes_per_hour_are_limited(self, client, acme, people):
        for _ in range(5):
            client.post(url("code"), {"email": "someone@example.com"})
        response = client.post(url("code"), {"email": "someone@example.com"})
        assert response.status_code == 429

    def test_someone_elses_five_requests_do_not_lock_the_owner_out(self, acme, people):
        attacker = Client(REMOTE_ADDR="198.51.100.66")
        victim = people.all()[3]
        for _ in range(5):
            attacker.post(url("code"), {"email": victim.email})
        assert attacker.post(url("code"), {"email": victim.email}).status_code == 429
        sent = len(mail.outbox)
        owner = Client(REMOTE_ADDR="203.0.113.20")
        assert owner.post(url("code"), {"email": victim.email}).status_code == 303
        assert len(mail.outbox) == sent + 1
        assert owner.post(url("verify"), {"code": mailed_code()}).status_code == 303

    def test_one_client_cannot_mail_codes_to_any_address(self, acme, globex):
        sender = Client(REMOTE_ADDR="198.51.100.77")
        for n in range(10):
            slug = "acme" if n % 2 else "globex"
            response = sender.post(f"/privacy/{slug}/code/", {"email": f"p{n}@example.com"})
            assert response.status_code == 303
        refused = sender.post(url("code"), {"email": "p10@example.com"})
        assert refused.status_code == 429
        assert "Try again after" in text(refused)
        assert len(mail.outbox) == 10
        assert Client(REMOTE_ADDR="198.51.100.78").post(
            url("code"), {"email": "p10@example.com"}).status_code == 303

    def test_one_inbox_gets_at_most_twenty_codes_an_hour(self, acme):
        for n in range(20):
            client = Client(REMOTE_ADDR=f"198.51.100.{100 + n // 4}")
            assert client.post(url("code"), {"email": "inbox@example.com"}).status_code == 303
        late = Client(REMOTE_ADDR="192.0.2.200").post(url("code"), {"email": "inbox@example.com"})
        assert late.status_code == 429
        assert len(mail.outbox) == 20

    def test_the_client_limit_frees_after_an_hour(self, acme, time_machine):
        start = timezone.now()
        time_machine.move_to(start, tick=True)
        sender = Client(REMOTE_ADDR="198.51.100.79")
        for n in range(10):
            sender.post(url("code"), {"email": f"q{n}@example.com"})
        time_machine.move_to(start + timedelta(minutes=59), tick=True)
        assert sender.post(url("code"), {"email": "q10@example.com"}).status_code == 429
        time_machine.move_to(start + timedelta(hours=1, seconds=5), tick=True)
        assert sender.post(url("code"), {"email": "q10@example.com"}).status_code == 303

    def test_invalid_email_is_explained(self, client, acme):
        response = client.post(url("code"), {"email": "not-an-email"})
        assert response.status_code == 422
        assert "Enter a valid email address" in text(response)

    def test_unknown_email_learns_nothing_until_verified(self, client, acme):
        client.post(url("code"), {"email": "stranger@example.com"})
        assert len(mail.outbox) == 1
        client.post(url("verify"), {"code": mailed_code()})
        assert "We hold no account for this email address" in text(client.get(url("center")))


class TestExportAndDownload:
    def ready_export(self, client, person) -> Job:
        sign_in(client, person.email)
        response = client.post(url("export"))
        assert response.status_code == 303
        job = Job.objects.get(job_type="EXPORT")
        # One job by identity (every system of the workspace), not by subject id.
        assert (job.source, job.status, job.target_id, job.identity) == (
            JobSource.PRIVACY_CENTER, JobStatus.APPROVED, "", {"email": person.email.lower()})
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED
        return job

    def test_export_link_downloads_in_the_verified_session(self, client, acme, people):
        person = people.all()[6]
        job = self.ready_export(client, person)
        page = text(client.get(url("center")))
        artifact = Artifact.objects.get(job=job)
        link = url("download", artifact_id=artifact.pk)
        assert link in page
        assert re.search(r'data-status="Ready"', page)
        response = client.get(link)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        assert b"".join(response.streaming_content)[:2] == b"PK"
        event = AuditEvent.objects.get(action="job.downloaded")
        assert (event.actor_type, event.target_id) == ("subject", str(job.pk))

    def test_link_does_not_work_outside_the_session(self, client, acme, people):
        person = people.all()[6]
        job = self.ready_export(client, person)
        link = url("download", artifact_id=Artifact.objects.get(job=job).pk)
        stranger = Client()
        assert stranger.get(link).status_code == 404
        other = Client()
        sign_in(other, people.all()[7].email)
        assert other.get(link).status_code == 404
        assert not AuditEvent.objects.filter(action="job.downloaded").exists()

    def test_expired_link_shows_expired(self, client, acme, people):
        person = people.all()[6]
        job = self.ready_export(client, person)
        artifact = Artifact.objects.get(job=job)
        Artifact.objects.filter(pk=artifact.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1))
        page = text(client.get(url("center")))
        assert 'data-status="Expired"' in page
        assert "Nothing to download right now." in page
        assert client.get(url("download", artifact_id=artifact.pk)).status_code == 404

    def test_a_second_export_waits_for_the_first(self, client, acme, people):
        sign_in(client, people.all()[6].email)
        client.post(url("export"))
        response = client.post(url("export"))
        assert response.status_code == 409
        assert Job.objects.count() == 1

    def test_requests_are_listed_newest_first(self, client, acme, people):
        person = people.erasable(1)[0]
        self.ready_export(client, person)
        client.post(url("delete"), {"confirmation_email": person.email})
        page = text(client.get(url("center")))
        assert page.index("Deletion of your data") < page.index("Access to your data")

    def test_actions_need_a_verified_session(self, client, acme):
        response = client.post(url("export"))
        assert response.status_code == 303
        assert not Job.objects.exists()


class TestDeletion:
    def test_deletion_is_scheduled_after_the_grace_period(self, client, acme, people):
        person = people.erasable(1)[0]
        sign_in(client, person.email)
        before = timezone.now()
        response = client.post(url("delete"), {"confirmation_email": person.email.upper(),
                                               "reason": "Leaving the company"})
        assert response.status_code == 303
        job = Job.objects.get(job_type="ERASE")
        assert job.source == JobSource.PRIVACY_CENTER
        assert job.status == JobStatus.PENDING  # the tenant's policy: ERASE needs approval
        assert job.not_before is not None
        assert job.not_before >= before + timedelta(hours=acme.deletion_grace_hours)
        assert "Leaving the company" in job.reason
        page = text(client.get(url("center")))
        assert 'data-status="Scheduled"' in page
        assert "Cancel deletion" in page

    def test_no_approval_policy_still_waits_for_the_grace_period(self, client, acme, people):
        acme.approval_required_types = ["PURGE"]
        acme.save()
        person = people.erasable(1)[0]
        sign_in(client, person.email)
        client.post(url("delete"), {"confirmation_email": person.email})
        job = Job.objects.get(job_type="ERASE")
        assert job.status == JobStatus.APPROVED
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.APPROVED
        assert people.get(person.id).email == person.email

    def test_confirmation_must_be_the_signed_in_email(self, client, acme, people):
        person = people.erasable(1)[0]
        sign_in(client, person.email)
        response = client.post(url("delete"), {"confirmation_email": "other@example.com"})
        assert response.status_code == 422
        assert "The confirmation doesn't match" in text(response)
        assert not Job.objects.exists()

    def test_cancel_during_the_grace_period(self, client, acme, people):
        acme.approval_required_types = []
        acme.save()
        person = people.erasable(1)[0]
        sign_in(client, person.email)
        client.post(url("delete"), {"confirmation_email": person.email})
        job = Job.objects.get(job_type="ERASE")
        response = client.post(url("cancel", job_id=job.pk))
        assert response.status_code == 303
        job.refresh_from_db()
        assert job.status == JobStatus.REJECTED
        assert job.rejection_reason == "Cancelled by the data subject"
        page = text(client.get(url("center")))
        assert 'data-status="Cancelled"' in page
        assert AuditEvent.objects.filter(action="job.cancelled", outcome="success").exists()

    def test_cancel_after_the_grace_period_is_refused(self, client, acme, people):
        acme.approval_required_types = []
        acme.save()
        person = people.erasable(1)[0]
        sign_in(client, person.email)
        client.post(url("delete"), {"confirmation_email": person.email})
        job = Job.objects.get(job_type="ERASE")
        Job.objects.filter(pk=job.pk).update(not_before=timezone.now() - timedelta(seconds=1))
        response = client.post(url("cancel", job_id=job.pk))
        assert response.status_code == 409
        assert "can no longer be cancelled" in text(response)

    def test_someone_elses_job_cannot_be_cancelled(self, client, acme, people):
        first, second = people.erasable(2)
        sign_in(client, first.email)
        client.post(url("delete"), {"confirmation_email": first.email})
        job = Job.objects.get(job_type="ERASE")
        other = Client()
        sign_in(other, second.email)
        assert other.post(url("cancel", job_id=job.pk)).status_code == 404
        job.refresh_from_db()
        assert job.status == JobStatus.PENDING
