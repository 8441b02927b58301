"""The emailed confirmation link of a public request, on a controlled clock: it works for 48
hours from the submission, then answers with the product's sentence and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from privacyops.audit.models import AuditEvent
from privacyops.intake.models import IntakeRequest
from tests.intake.conftest import file_request

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
LIFETIME = timedelta(hours=48)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


class TestVerificationLink:
    def test_works_until_48_hours_have_passed(self, client, tenant, clock):
        request, link = file_request(tenant=tenant)
        clock.move_to(T0 + LIFETIME - SECOND, tick=False)
        response = client.get(link)
        assert response.status_code == 200
        request.refresh_from_db()
        assert request.verified_at == T0 + LIFETIME - SECOND
        assert AuditEvent.objects.filter(action="intake.verified").count() == 1

    @pytest.mark.parametrize("late", [timedelta(0), SECOND, timedelta(days=30)])
    def test_refused_from_the_48th_hour_on(self, client, tenant, clock, late):
        request, link = file_request(tenant=tenant)
        clock.move_to(T0 + LIFETIME + late, tick=False)
        response = client.get(link)
        assert response.status_code == 410
        page = response.content.decode()
        assert "This link has expired" in page
        assert ("This link expired on 04 March 2026 at 09:00 UTC (links last 48 hours). "
                "Submit your request again to get a new link." in page)
        assert IntakeRequest.objects.get(pk=request.pk).verified_at is None
        assert not AuditEvent.objects.filter(action="intake.verified").exists()
