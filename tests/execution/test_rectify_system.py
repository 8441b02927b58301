"""A correction names the system whose row it changes, in the API and on the new-job page; the
default is the tenant's first SQL system. Oracle: the rows of both real SQLite datastores."""

from __future__ import annotations

import pytest

from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from tests.api.conftest import api_as, assert_error
from tests.execution.multi_store import demo_store, multi_store

__all__ = ["demo_store", "multi_store"]

pytestmark = pytest.mark.django_db(transaction=True)

NEW_NAME = "Zoë Ñandú-Smith"


def _names(store, person_id: int, requester: int) -> tuple[str, str]:
    return (store.app("SELECT name FROM people WHERE id = ?", person_id)[0][0],
            store.desk("SELECT name FROM requesters WHERE id = ?", requester)[0][0])


def test_the_api_corrects_the_row_of_the_named_system_only(multi_store, staff):
    person_id, email = multi_store.person()
    requester = multi_store.requester_of(email)
    app_name, _ = _names(multi_store, person_id, requester)
    response = api_as(staff).post("/jobs", {
        "tenant_id": multi_store.tenant.pk, "type": "RECTIFY", "target_type": "subject",
        "target_id": str(requester), "system": "helpdesk", "changes": {"name": NEW_NAME},
        "reason": "Art. 16 by phone"})
    assert response.status_code == 201, response.content
    job_id = response.json()["id"]
    run_job_now(job_id)
    assert Job.objects.get(pk=job_id).status == JobStatus.COMPLETED
    assert _names(multi_store, person_id, requester) == (app_name, NEW_NAME)


def test_an_unknown_system_is_refused_naming_those_there_are(multi_store, staff):
    person_id, _email = multi_store.person()
    response = api_as(staff).post("/jobs", {
        "tenant_id": multi_store.tenant.pk, "type": "RECTIFY", "target_type": "subject",
        "target_id": str(person_id), "system": "crm", "changes": {"name": NEW_NAME}})
    body = assert_error(response, 422, "unknown_system")
    system = multi_store.tenant.systems.order_by("pk").first().name
    assert body["message"] == (f"Tenant {multi_store.tenant.slug} has no SQL system named "
                               f"'crm'; choose one of: {system}, helpdesk.")
    assert not Job.objects.filter(tenant=multi_store.tenant).exists()


def test_the_new_job_page_names_the_system(client, multi_store, staff):
    person_id, email = multi_store.person()
    requester = multi_store.requester_of(email)
    app_name, _ = _names(multi_store, person_id, requester)
    client.force_login(staff)
    page = client.get("/platform/privacy/jobs/new/", {"tenant": multi_store.tenant.pk})
    assert "helpdesk" in page.content.decode()  # the hint lists the tenant's SQL systems
    response = client.post("/platform/privacy/jobs/new/", {
        "tenant": multi_store.tenant.pk, "job_type": "RECTIFY", "target_type": "subject",
        "target_id": str(requester), "system": "helpdesk", "changes": f"name: {NEW_NAME}",
        "reason": "Art. 16 by letter"})
    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get(tenant=multi_store.tenant)
    run_job_now(job.pk)
    assert _names(multi_store, person_id, requester) == (app_name, NEW_NAME)
