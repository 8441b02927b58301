"""The person search operators use wherever they must name someone (new job, legal hold, linking a
request): it covers every SQL system of the tenant, not only the one jobs by id run on.

The oracle is the test's own SQL on the two real SQLite datastores (workspace app, helpdesk)."""

from __future__ import annotations

import html
import re

import pytest

from privacyops.jobs.models import Job
from tests.execution.multi_store import demo_store, multi_store

__all__ = ["demo_store", "multi_store"]

pytestmark = pytest.mark.django_db(transaction=True)

SEARCH = "/platform/privacy/people/"


def _options(client, tenant, field: str, typed: str) -> list[tuple[str, str]]:
    response = client.get(SEARCH, {"tenant": tenant.pk, field: typed})
    assert response.status_code == 200
    # What a browser shows: the option's value and its text, entities decoded.
    return [(html.unescape(value), html.unescape(text)) for value, text in re.findall(
        r'<option value="([^"]*)">([^<]*)</option>', response.content.decode())]


def _helpdesk_only(store, email: str, name: str) -> int:
    store.desk("INSERT INTO requesters (id, workspace_id, email, name, created_at) "
               "VALUES (88888, ?, ?, ?, '2026-01-01')", store.key, email, name)
    return 88888


class TestPeopleSearchAcrossSystems:
    def test_a_person_in_both_systems_is_one_suggestion_naming_both(self, client, staff,
                                                                    multi_store):
        person_id, email = multi_store.person()
        name = multi_store.app("SELECT name FROM people WHERE id = ?", person_id)[0][0]
        assert multi_store.desk("SELECT count(*) FROM requesters WHERE email = ?", email) == [(1,)]
        client.force_login(staff)
        options = _options(client, multi_store.tenant, "target_id", email)
        assert len(options) == 1, options
        value, text = options[0]
        assert value == str(person_id)
        job_system = multi_store.tenant.systems.order_by("pk").first().name
        assert text.startswith(name)
        assert text.endswith(f"· subject {person_id} · in {job_system}, helpdesk")

    def test_someone_only_the_helpdesk_holds_is_found_and_a_job_reaches_them_by_email(
            self, client, staff, multi_store):
        email = "zoë.ñandú@example.org"
        requester = _helpdesk_only(multi_store, email, "Zoë Ñandú")
        assert multi_store.app("SELECT count(*) FROM people WHERE lower(email) = ?", email) == [(0,)]
        client.force_login(staff)

        offered = _options(client, multi_store.tenant, "target_id", "Ñandú")
        assert offered == [(email, f"Zoë Ñandú <{email}> · by email · in helpdesk")]
        # A hold or a request link needs a subject id of the job system: not offered there.
        assert _options(client, multi_store.tenant, "scope_id", "Ñandú") == []
        assert _options(client, multi_store.tenant, "subject_id", "Ñandú") == []

        # Picking the suggestion puts the email in the target field; the job is by identity.
        response = client.post("/platform/privacy/jobs/new/", {
            "tenant": multi_store.tenant.pk, "job_type": "EXPORT", "target_type": "subject",
            "target_id": email, "email": "", "reason": "Art. 15 by letter"})
        assert response.status_code == 302, response.content.decode()[:2000]
        job = Job.objects.get(tenant=multi_store.tenant)
        assert job.identity == {"email": email}
        from privacyops.execution.runner import run_job_now

        run_job_now(job.pk)
        steps = {s.system_name: s for s in job.steps.all()}
        assert [str(k) for k in steps["helpdesk"].keys] == [str(requester)]
        assert steps["helpdesk"].rows > 0

    def test_another_tenants_people_are_not_suggested(self, client, staff, multi_store):
        email = "only.other@example.org"
        other_key = multi_store.demo.query(
            "SELECT id FROM workspaces WHERE id != ? LIMIT 1", multi_store.key)[0][0]
        multi_store.desk("INSERT INTO requesters (id, workspace_id, email, name, created_at) "
                         "VALUES (77777, ?, ?, 'Other Tenant Person', '2026-01-01')",
                         other_key, email)
        client.force_login(staff)
        assert _options(client, multi_store.tenant, "target_id", "Other Tenant Person") == []

    def test_a_system_that_does_not_answer_leaves_the_others_answering(self, client, staff,
                                                                       multi_store):
        person_id, email = multi_store.person()
        multi_store.helpdesk.unlink()  # the helpdesk's file is gone
        client.force_login(staff)
        options = _options(client, multi_store.tenant, "target_id", email)
        assert [value for value, _text in options] == [str(person_id)]
        assert "helpdesk" not in options[0][1]
