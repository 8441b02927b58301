"""The operator queue and request page through the Django test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from privacyops.intake.models import IntakeRequest, RequestStatus
from privacyops.jobs.models import Job
from privacyops.tenancy.models import Role
from tests import factories
from tests.intake.conftest import file_request

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(client, user):
    client.force_login(user)
    return client


def listed_requests(response) -> set[int]:
    """The request ids of the rendered queue's rows."""
    return {int(pk) for pk in re.findall(r'data-request-id="(\d+)"', response.content.decode())}


def set_deadline(request: IntakeRequest, days: float) -> None:
    IntakeRequest.objects.filter(pk=request.pk).update(
        deadline_at=timezone.now() + timedelta(days=days))


class TestPermissions:
    def test_anonymous_is_sent_to_sign_in(self, client, tenant):
        response = client.get("/platform/requests/")
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")

    def test_member_gets_403_on_list_and_detail(self, client, tenant):
        member = factories.user_create(tenant=tenant, role=Role.MEMBER)
        request, _ = file_request(tenant=tenant)
        signed_in(client, member)
        listing = client.get("/platform/requests/")
        assert listing.status_code == 403
        assert "ask one of them for access" in listing.content.decode()
        assert client.get(f"/platform/requests/{request.pk}/").status_code == 403
        refused = client.post(f"/platform/requests/{request.pk}/reject/", {"reason": "x"})
        assert refused.status_code == 403
        request.refresh_from_db()
        assert request.status == RequestStatus.RECEIVED

    def test_other_workspace_gets_404(self, client, tenant, other_tenant):
        outsider = factories.user_create(tenant=other_tenant, role=Role.SUPER_ADMIN)
        request, _ = file_request(tenant=tenant)
        file_request(tenant=other_tenant, email="own@example.com", address="198.51.100.2")
        signed_in(client, outsider)
        detail = client.get(f"/platform/requests/{request.pk}/")
        assert detail.status_code == 404
        assert f"Privacy request #{request.pk} does not exist." in detail.content.decode()
        assert client.post(f"/platform/requests/{request.pk}/link/",
                           {"subject_id": "1"}).status_code == 404
        listing = client.get("/platform/requests/").content.decode()
        assert "own@example.com" not in listing  # the queue shows no email either way
        assert f'data-request-id="{request.pk}"' not in listing

    @pytest.mark.parametrize("role", [Role.SUPER_ADMIN, Role.ADMIN, Role.IT_ADMIN])
    def test_workspace_admins_see_their_requests(self, client, tenant, role):
        admin = factories.user_create(tenant=tenant, role=role)
        request, _ = file_request(tenant=tenant)
        signed_in(client, admin)
        assert f'data-request-id="{request.pk}"' in client.get("/platform/requests/").content.decode()
        assert client.get(f"/platform/requests/{request.pk}/").status_code == 200


class TestQueue:
    def test_rows_show_deadline_days_left_and_highlighting(self, client, tenant, staff):
        overdue, _ = file_request(tenant=tenant, address="198.51.100.1")
        soon, _ = file_request(tenant=tenant, address="198.51.100.2")
        later, _ = file_request(tenant=tenant, address="198.51.100.3")
        set_deadline(overdue, -2)
        set_deadline(soon, 6.5)
        signed_in(client, staff)
        text = client.get("/platform/requests/").content.decode()
        assert f'<tr class="is-overdue" data-request-id="{overdue.pk}">' in text
        assert f'<tr class="is-due-soon" data-request-id="{soon.pk}">' in text
        assert f'<tr class="" data-request-id="{later.pk}">' in text
        assert "7 days" in text
        # one calendar month from today, as the person's deadline
        month_days = (later.deadline_at - timezone.now()).days + 1
        assert f"{month_days} days" in text
        assert "Unverified" in text
        assert text.index(f'data-request-id="{overdue.pk}"') < text.index(
            f'data-request-id="{later.pk}"')

    def test_filters_live_in_the_url(self, client, tenant, other_tenant, staff):
        access, link = file_request(tenant=tenant, request_type="access")
        erasure, _ = file_request(tenant=tenant, request_type="erasure", address="198.51.100.2")
        foreign, _ = file_request(tenant=other_tenant, address="198.51.100.3")
        set_deadline(erasure, -1)
        client.get(link.split("127.0.0.1:8000", 1)[-1])
        signed_in(client, staff)

        def ids(query: str) -> set[int]:
            text = client.get(f"/platform/requests/?{query}").content.decode()
            return {r.pk for r in (access, erasure, foreign) if f'data-request-id="{r.pk}"' in text}

        assert ids("") == {access.pk, erasure.pk, foreign.pk}
        assert ids("type=erasure") == {erasure.pk}
        assert ids("verified=yes") == {access.pk}
        assert ids("verified=no") == {erasure.pk, foreign.pk}
        assert ids("overdue=yes") == {erasure.pk}
        assert ids("tenant=globex") == {foreign.pk}
        assert ids("status=rejected") == set()

    def test_query_budget_does_not_grow_with_rows(self, client, tenant, staff):
        signed_in(client, staff)
        file_request(tenant=tenant)
        with CaptureQueriesContext(connection) as few:
            response = client.get("/platform/requests/")
        assert response.status_code == 200
        assert len(listed_requests(response)) == 1
        for n in range(5):
            file_request(tenant=tenant, address=f"198.51.100.{n + 10}")
        with CaptureQueriesContext(connection) as many:
            response = client.get("/platform/requests/")
        assert response.status_code == 200
        assert listed_requests(response) == set(IntakeRequest.objects.values_list("pk", flat=True))
        assert len(listed_requests(response)) == 6
        assert len(many) == len(few)


class TestActions:
    def test_link_fulfil_through_the_page(self, client, tenant, staff):
        request, link = file_request(tenant=tenant)
        client.get(link.split("127.0.0.1:8000", 1)[-1])
        signed_in(client, staff)
        response = client.post(f"/platform/requests/{request.pk}/link/", {"subject_id": "42"})
        assert response.status_code == 302
        response = client.post(f"/platform/requests/{request.pk}/fulfil/", follow=True)
        assert response.status_code == 200
        job = Job.objects.get()
        text = response.content.decode()
        assert "Fulfilment started; the request completes when its jobs complete." in text
        assert f'data-job-id="{job.pk}"' in text
        assert 'data-job-status="Approved"' in text
        assert "In progress" in text

    def test_refusal_is_shown_in_words_with_its_status(self, client, tenant, staff):
        request, _ = file_request(tenant=tenant)
        signed_in(client, staff)
        response = client.post(f"/platform/requests/{request.pk}/fulfil/")
        assert response.status_code == 409
        assert "is not verified yet" in response.content.decode()

    def test_empty_reason_is_a_field_error(self, client, tenant, staff):
        request, _ = file_request(tenant=tenant)
        signed_in(client, staff)
        response = client.post(f"/platform/requests/{request.pk}/reject/", {"reason": ""})
        assert response.status_code == 422
        assert "Give a reason; the submitter receives it by email." in response.content.decode()

    def test_extension_beyond_two_months_is_shown(self, client, tenant, staff):
        request, _ = file_request(tenant=tenant)
        mail.outbox.clear()
        signed_in(client, staff)
        too_late = (request.deadline_at + timedelta(days=70)).date().isoformat()
        response = client.post(f"/platform/requests/{request.pk}/extend/",
                               {"new_deadline": too_late, "reason": "Complex."})
        assert response.status_code == 422
        assert "at most two further months" in response.content.decode()
        assert not mail.outbox

    def test_get_on_an_action_is_refused(self, client, tenant, staff):
        request, _ = file_request(tenant=tenant)
        signed_in(client, staff)
        assert client.get(f"/platform/requests/{request.pk}/reject/").status_code == 405
