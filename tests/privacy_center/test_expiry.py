"""Everything timed in the privacy center, on a controlled clock: one-time codes (10 minutes),
codes per address (5 an hour), the verified session (1 hour) and download links (the download
lifetime). Just before the end: accepted; just after: refused with the product's sentence.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from privacyops.execution.models import Artifact
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def url(name: str, **kwargs) -> str:
    return reverse(f"privacy_center:{name}", kwargs={"slug": "acme", **kwargs})


def text(response) -> str:
    return html.unescape(response.content.decode())


def mailed_code() -> str:
    found = re.search(r"\b(\d{6})\b", str(mail.outbox[-1].body))
    assert found is not None
    return found.group(1)


def ask_code(client: Client, email: str):
    return client.post(url("code"), {"email": email})


def enter_code(client: Client, code: str):
    return client.post(url("verify"), {"code": code})


def signed_in(client: Client, email: str) -> Client:
    assert ask_code(client, email).status_code == 303
    assert enter_code(client, mailed_code()).status_code == 303
    return client


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


class TestOneTimeCode:
    def test_accepted_until_ten_minutes_have_passed(self, client, acme, people, clock):
        ask_code(client, people.all()[3].email)
        clock.move_to(T0 + 10 * MINUTE - SECOND, tick=False)
        assert enter_code(client, mailed_code()).status_code == 303
        assert "Signed in as" in text(client.get(url("center")))

    @pytest.mark.parametrize("late", [timedelta(0), SECOND])
    def test_refused_from_the_tenth_minute_on(self, client, acme, people, clock, late):
        ask_code(client, people.all()[3].email)
        clock.move_to(T0 + 10 * MINUTE + late, tick=False)
        response = enter_code(client, mailed_code())
        assert response.status_code == 422
        assert ("This code has expired (codes last 10 minutes). Ask for a new code."
                in text(response))
        assert "Signed in as" not in text(client.get(url("center")))


class TestCodesPerHour:
    def test_a_sixth_code_waits_until_the_first_is_an_hour_old(self, client, acme, clock):
        email = "someone@example.com"
        for n in range(5):
            clock.move_to(T0 + n * MINUTE, tick=False)
            assert ask_code(client, email).status_code == 303
        clock.move_to(T0 + HOUR - SECOND, tick=False)
        refused = ask_code(client, email)
        assert refused.status_code == 429
        assert ("5 codes were sent to this address in the last hour. Use the latest one, or "
                "ask again after" in text(refused))
        assert len(mail.outbox) == 5

        clock.move_to(T0 + HOUR, tick=False)
        assert ask_code(client, email).status_code == 429

        clock.move_to(T0 + HOUR + SECOND, tick=False)
        assert ask_code(client, email).status_code == 303
        assert len(mail.outbox) == 6
        # Still four codes within the hour: the next one waits for the second to age out.
        clock.move_to(T0 + HOUR + 2 * SECOND, tick=False)
        assert ask_code(client, email).status_code == 429

    def test_the_limit_is_per_address(self, client, acme, clock):
        for _ in range(5):
            ask_code(client, "someone@example.com")
        assert ask_code(client, "someone@example.com").status_code == 429
        assert ask_code(client, "someone-else@example.com").status_code == 303


class TestVerifiedSession:
    def test_lasts_one_hour(self, client, acme, people, clock):
        signed_in(client, people.all()[3].email)
        clock.move_to(T0 + HOUR - SECOND, tick=False)
        assert "Signed in as" in text(client.get(url("center")))

        clock.move_to(T0 + HOUR + SECOND, tick=False)
        page = text(client.get(url("center")))
        assert "Signed in as" not in page
        assert "Sign in with your email" in page
        response = client.post(url("export"), follow=True)
        assert "Your session has ended. Enter your email to get a new code." in text(response)
        assert not Job.objects.exists()


class TestDownloadLink:
    def test_works_for_its_lifetime_then_shows_expired(self, acme, people, settings, clock):
        settings.DOWNLOAD_LINK_DAYS = 7
        person = people.all()[6]
        client = signed_in(Client(), person.email)
        assert client.post(url("export")).status_code == 303
        job = Job.objects.get(job_type="EXPORT")
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, job.error_message
        link = url("download", artifact_id=Artifact.objects.get(job=job).pk)
        end = T0 + timedelta(days=7)

        clock.move_to(end - 2 * SECOND, tick=False)
        client = signed_in(Client(), person.email)
        clock.move_to(end - SECOND, tick=False)
        page = text(client.get(url("center")))
        assert 'data-status="Ready"' in page
        assert link in page
        response = client.get(link)
        assert response.status_code == 200
        assert b"".join(response.streaming_content)[:2] == b"PK"

        clock.move_to(end + SECOND, tick=False)
        page = text(client.get(url("center")))
        assert "Signed in as" in page
        assert 'data-status="Expired"' in page
        assert link not in page
        response = client.get(link)
        assert response.status_code == 404
        assert "This download link has expired. Request a new export." in text(response)
