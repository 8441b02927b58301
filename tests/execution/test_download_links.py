"""The staff download link of an export, on a controlled clock.

A link works for PRIVACYOPS_DOWNLOAD_LINK_DAYS from the moment the export finished, then
answers with the product's sentence. The instants are computed here from the setting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import signing
from django.test import Client

from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_create
from tests import factories

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
EXPIRED = "This download link has expired. Run the export again for a new link."


def exported(demo_store, staff) -> Job:
    job = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT", target_type="subject",
                     target_id=str(demo_store.erasable_person()), reason="test",
                     actor=factories.actor(staff))
    run_job_now(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message
    return job


def download(user, link: str):
    client = Client()
    client.force_login(user)
    return client.get(link)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


class TestStaffDownloadLink:
    @pytest.mark.parametrize("days", [7, 2])
    def test_works_for_its_lifetime_and_not_a_second_longer(self, demo_store, staff, settings,
                                                           clock, days):
        settings.DOWNLOAD_LINK_DAYS = days
        job = exported(demo_store, staff)
        link = job.result["download_url"]
        assert datetime.fromisoformat(job.result["expires_at"]) == T0 + timedelta(days=days)

        clock.move_to(T0 + timedelta(days=days) - SECOND, tick=False)
        response = download(staff, link)
        assert response.status_code == 200
        assert b"".join(response.streaming_content)[:2] == b"PK"

        clock.move_to(T0 + timedelta(days=days) + SECOND, tick=False)
        response = download(staff, link)
        assert response.status_code == 404
        assert EXPIRED in response.content.decode()

    def test_a_link_with_a_changed_timestamp_is_not_valid(self, demo_store, staff, clock):
        link = exported(demo_store, staff).result["download_url"]
        token = link.rstrip("/").rsplit("/", 1)[1]
        value, stamp, signature = token.rsplit(":", 2)
        newer = signing.b62_encode(signing.b62_decode(stamp) + 86400)
        clock.move_to(T0 + timedelta(days=30), tick=False)
        response = download(staff, link.replace(token, f"{value}:{newer}:{signature}"))
        assert response.status_code == 404
        assert "This download link is not valid." in response.content.decode()
