"""The public form as a visitor uses it: Django test client, real database, locmem outbox."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from dateutil.relativedelta import relativedelta
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from privacyops.audit.models import AuditEvent
from privacyops.intake.forms import form_token
from privacyops.intake.models import IntakeRequest
from privacyops.intake.ratelimit import ip_hash
from tests import factories
from tests.intake.conftest import file_request, form_data, verification_link

pytestmark = pytest.mark.django_db(transaction=True)

IP = "203.0.113.7"


def post(client, slug: str, *, ip: str = IP, **fields):
    return client.post(f"/privacy/request/{slug}/", form_data(**fields), REMOTE_ADDR=ip)


class TestSubmission:
    def test_valid_submission_is_stored_with_a_hashed_ip(self, client, tenant):
        response = post(client, "acme")
        assert response.status_code == 302
        assert response["Location"] == "/privacy/request/acme/sent/"
        request = IntakeRequest.objects.get()
        assert (request.email, request.name, request.request_type) == (
            "ada@example.com", "Ada Lovelace", "access")
        assert request.ip_hash == ip_hash(IP)
        assert request.ip_hash != IP
        for field in IntakeRequest._meta.concrete_fields:
            assert IP not in str(getattr(request, field.attname)), field.name
        for event in AuditEvent.objects.all():
            assert IP not in str(event.metadata)
            assert "ada@example.com" not in str(event.metadata)

    def test_confirmation_page_after_redirect(self, client, tenant):
        response = client.post("/privacy/request/acme/", form_data(), REMOTE_ADDR=IP, follow=True)
        assert response.status_code == 200
        assert b"your request was received" in response.content
        assert b"Check your inbox" in response.content

    def test_one_verification_email_with_a_link(self, client, tenant):
        post(client, "acme")
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["ada@example.com"]
        request = IntakeRequest.objects.get()
        assert f"R-{request.pk:06d}" in message.subject
        link = verification_link(message)
        token = link.rstrip("/").rsplit("/", 1)[-1]
        assert len(token) >= 40
        assert token not in request.verification_token_hash

    def test_submission_is_audited_without_the_email(self, client, tenant):
        post(client, "acme")
        request = IntakeRequest.objects.get()
        event = AuditEvent.objects.get(action="intake.submitted")
        assert event.tenant_id == tenant.pk
        assert event.target_id == str(request.pk)
        assert event.metadata["request_id"] == request.pk
        assert "ada@example.com" not in str(event.metadata) + event.actor_label

    def test_deadline_is_one_calendar_month_by_default(self, client, tenant):
        post(client, "acme")
        request = IntakeRequest.objects.get()
        assert request.deadline_at == request.submitted_at + relativedelta(months=1)

    def test_deadline_follows_the_workspace_setting(self, client):
        factories.tenant_create(slug="initech", response_deadline_days=21)
        post(client, "initech")
        request = IntakeRequest.objects.get()
        assert request.deadline_at - request.submitted_at == timedelta(days=21)


class TestFieldErrors:
    def test_missing_fields_are_named(self, client, tenant):
        response = post(client, "acme", email="", request_type=None, own_data=None)
        assert response.status_code == 422
        text = response.content.decode()
        assert "Enter your email address" in text
        assert "Choose what you are asking for" in text
        assert "Confirm that this request concerns your own personal data" in text
        assert not IntakeRequest.objects.exists()
        assert not mail.outbox

    def test_invalid_email_and_long_details(self, client, tenant):
        response = post(client, "acme", email="not-an-email", details="x" * 5001)
        assert response.status_code == 422
        text = response.content.decode()
        assert "Enter a valid email address" in text
        assert "Keep the details under 5,000 characters" in text
        assert 'value="Ada Lovelace"' in text  # what was typed is kept

    def test_resubmitting_a_corrected_form_at_once_is_not_taken_for_a_bot(self, client, tenant):
        started = form_token(time.time() - 10)
        first = post(client, "acme", own_data=None, started=started)
        assert first.status_code == 422
        assert started in first.content.decode()
        assert post(client, "acme", started=started).status_code == 302
        assert IntakeRequest.objects.count() == 1

    def test_unknown_workspace_is_a_404_in_words(self, client, tenant):
        response = client.get("/privacy/request/nope/")
        assert response.status_code == 404
        assert "There is no workspace called" in response.content.decode()


class TestRateLimit:
    def test_fourth_submission_in_an_hour_is_refused_with_retry_time_and_contact(
        self, client
    ):
        factories.tenant_create(slug="acme", privacy_contact_email="dpo@acme.example.com")
        before = timezone.now()
        for n in range(3):
            assert post(client, "acme", email=f"p{n}@example.com").status_code == 302
        response = post(client, "acme", email="p4@example.com")
        assert response.status_code == 429
        retry_at = response.context["refused"].retry_at
        assert before + timedelta(hours=1) <= retry_at <= timezone.now() + timedelta(hours=1)
        text = response.content.decode()
        assert f"{retry_at:%H:%M} UTC" in text
        assert "dpo@acme.example.com" in text
        assert IntakeRequest.objects.count() == 3
        assert len(mail.outbox) == 3

    def test_another_address_still_gets_through(self, client, tenant):
        for _ in range(3):
            post(client, "acme")
        assert post(client, "acme").status_code == 429
        assert post(client, "acme", ip="198.51.100.99").status_code == 302
        assert IntakeRequest.objects.count() == 4

    def test_the_limit_holds_across_workspaces(self, client, tenant, other_tenant):
        factories.tenant_create(slug="initech")
        assert post(client, "acme").status_code == 302
        assert post(client, "globex").status_code == 302
        assert post(client, "initech").status_code == 302
        for slug in ("acme", "globex", "initech"):
            assert post(client, slug).status_code == 429
        assert IntakeRequest.objects.count() == 3

    def test_a_slot_frees_exactly_one_hour_after_its_submission(self, client, tenant,
                                                               time_machine):
        # The clock ticks: a frozen one would give every form the same (spent) token.
        start = timezone.now().replace(microsecond=0)
        time_machine.move_to(start, tick=True)
        for _ in range(3):
            assert post(client, "acme").status_code == 302
        time_machine.move_to(start + timedelta(minutes=59, seconds=59), tick=True)
        assert post(client, "acme").status_code == 429
        time_machine.move_to(start + timedelta(hours=1, seconds=1), tick=True)
        assert post(client, "acme").status_code == 302
        assert post(client, "acme").status_code == 302
        assert post(client, "acme").status_code == 302
        assert post(client, "acme").status_code == 429
        assert IntakeRequest.objects.count() == 6

    def test_the_limiter_stores_no_raw_address(self, client, tenant, settings):
        if "DatabaseCache" not in settings.CACHES["default"]["BACKEND"]:
            pytest.skip("inspects the database cache table")
        post(client, "acme")
        with connection.cursor() as cursor:
            cursor.execute("SELECT cache_key FROM privacyops_cache")
            keys = [row[0] for row in cursor.fetchall()]
        assert any(ip_hash(IP) in key for key in keys)
        assert not any(IP in key for key in keys)

    def test_the_address_is_kept_as_its_keyed_hash_and_its_slots_under_it(self, client, tenant,
                                                                          settings):
        """The oracle is the documented scheme, computed here: HMAC-SHA256 keyed with
        SECRET_KEY of "intake-ip|<address>", and the slots `intake-submit:<hash>:<n>` that every
        process (of any version) sharing the cache counts."""
        expected = hmac.new(settings.SECRET_KEY.encode(), f"intake-ip|{IP}".encode(),
                            hashlib.sha256).hexdigest()
        for _ in range(3):
            assert post(client, "acme").status_code == 302
        assert set(IntakeRequest.objects.values_list("ip_hash", flat=True)) == {expected}
        slots = [cache.get(f"intake-submit:{expected}:{n}") for n in range(3)]
        assert all(isinstance(taken, float) for taken in slots), slots

    def test_client_ip_behind_a_trusted_proxy(self, client, tenant, settings):
        settings.TRUSTED_PROXY_COUNT = 1
        for n in range(3):
            response = client.post("/privacy/request/acme/", form_data(),
                                   REMOTE_ADDR="10.0.0.1",
                                   HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
            assert response.status_code == 302
        assert set(IntakeRequest.objects.values_list("ip_hash", flat=True)) == {
            ip_hash(f"192.0.2.{n}") for n in range(3)}


class TestBots:
    def test_honeypot_sees_the_confirmation_and_nothing_happens(self, client, tenant):
        response = post(client, "acme", homepage="https://spam.invalid")
        assert response.status_code == 302
        assert response["Location"] == "/privacy/request/acme/sent/"
        assert not IntakeRequest.objects.exists()
        assert not mail.outbox
        assert not AuditEvent.objects.filter(action="intake.submitted").exists()

    def test_too_fast_submission_is_dropped(self, client, tenant):
        response = post(client, "acme", started=form_token(time.time() - 1))
        assert response.status_code == 302
        assert response["Location"] == "/privacy/request/acme/sent/"
        assert not IntakeRequest.objects.exists()
        assert not mail.outbox

    @pytest.mark.parametrize("started", ["", "1700000000", "forged:value"])
    def test_missing_or_forged_timestamp_is_dropped(self, client, tenant, started):
        post(client, "acme", started=started)
        assert not IntakeRequest.objects.exists()
        assert not mail.outbox

    def test_a_replayed_form_token_is_dropped(self, client, tenant):
        started = form_token(time.time() - 10)
        assert post(client, "acme", started=started).status_code == 302
        replay = post(client, "acme", started=started, email="bot@example.com", ip="192.0.2.99")
        assert replay.status_code == 302
        assert replay["Location"] == "/privacy/request/acme/sent/"
        assert list(IntakeRequest.objects.values_list("email", flat=True)) == ["ada@example.com"]
        assert len(mail.outbox) == 1

    def test_a_form_token_older_than_a_day_is_dropped(self, client, tenant, time_machine):
        start = timezone.now()
        time_machine.move_to(start, tick=False)
        started = form_token()
        time_machine.move_to(start + timedelta(hours=24, minutes=1), tick=False)
        assert post(client, "acme", started=started).status_code == 302
        assert not IntakeRequest.objects.exists()
        time_machine.move_to(start + timedelta(hours=23), tick=False)
        assert post(client, "acme", started=started).status_code == 302
        assert IntakeRequest.objects.count() == 1

    def test_bots_do_not_use_up_the_limit(self, client, tenant):
        for _ in range(5):
            post(client, "acme", homepage="x")
        assert post(client, "acme").status_code == 302

    def test_form_carries_the_traps(self, client, tenant):
        text = client.get("/privacy/request/acme/").content.decode()
        assert 'name="homepage"' in text
        assert "Leave this empty" in text
        assert 'name="started"' in text


class TestWorkspaceResolution:
    def test_host_first_label(self, client, tenant, other_tenant, settings):
        settings.ALLOWED_HOSTS = [".privacy.example.com"]
        response = client.get("/privacy/request", HTTP_HOST="globex.privacy.example.com")
        assert response.status_code == 200
        assert "Make a privacy request to Globex" in response.content.decode()

    def test_query_parameter(self, client, tenant, other_tenant):
        response = client.get("/privacy/request?workspace=acme")
        assert "Make a privacy request to Acme Corp" in response.content.decode()

    def test_single_workspace_needs_no_hint(self, client, tenant):
        response = client.get("/privacy/request")
        assert "Make a privacy request to Acme Corp" in response.content.decode()

    def test_several_workspaces_ask_which(self, client, tenant, other_tenant):
        response = client.get("/privacy/request")
        assert response.status_code == 200
        assert "Which organisation is your request for?" in response.content.decode()

    def test_slug_url(self, client, tenant, other_tenant):
        response = client.get("/privacy/request/globex/")
        assert "Make a privacy request to Globex" in response.content.decode()


class TestVerification:
    def test_link_verifies_once(self, client, tenant):
        request, link = file_request(tenant=tenant)
        response = client.get(urlparse(link).path)
        assert response.status_code == 200
        assert "Your email is confirmed" in response.content.decode()
        request.refresh_from_db()
        assert request.verified_at is not None
        event = AuditEvent.objects.get(action="intake.verified")
        assert event.target_id == str(request.pk)

        again = client.get(urlparse(link).path)
        assert again.status_code == 410
        assert "already used" in again.content.decode()
        assert AuditEvent.objects.filter(action="intake.verified").count() == 1

    def test_expired_link(self, client, tenant):
        request, link = file_request(tenant=tenant)
        IntakeRequest.objects.filter(pk=request.pk).update(
            verification_expires_at=timezone.now() - timedelta(minutes=1))
        response = client.get(urlparse(link).path)
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
        assert "Submit your request again" in response.content.decode()
        request.refresh_from_db()
        assert request.verified_at is None

    def test_link_expires_after_48_hours(self, tenant):
        request, _ = file_request(tenant=tenant)
        assert request.verification_expires_at - request.submitted_at == timedelta(hours=48)

    def test_unknown_or_foreign_token(self, client, tenant, other_tenant):
        _, link = file_request(tenant=tenant)
        token = link.rstrip("/").rsplit("/", 1)[-1]
        assert client.get(f"/privacy/request/acme/verify/{token}x/").status_code == 404
        foreign = client.get(f"/privacy/request/globex/verify/{token}/")
        assert foreign.status_code == 404
        assert "not valid" in foreign.content.decode()
