"""One person is one id: however a target id is spelled, an erasure removes the person's packages.

The attack: EXPORT subject 27, then ERASE "027" (or "+27", " 27", "٢٧"); the erasure changed
the rows but deleted no package, and the old package still downloaded. A PURGE of an issuer
removed its people's rows but left their packages. Each test follows the real download link.
"""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from privacyops.errors import ValidationFailed
from privacyops.execution.models import Artifact
from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from tests import factories
from tests.api.conftest import api_as, assert_error

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def spellings(person: int) -> dict[str, str]:
    return {"leading zero": f"0{person}", "plus sign": f"+{person}",
            "leading space": f" {person}", "arabic-indic digits": str(person).translate(ARABIC_INDIC)}


def _run(store, staff, approver, job_type, target_id, target_type="subject") -> Job:
    job = job_create(tenant_id=store.tenant.pk, job_type=job_type, target_type=target_type,
                     target_id=target_id, reason="test", actor=factories.actor(staff))
    if job.status == JobStatus.PENDING:
        job_approve(job_id=job.pk, actor=factories.actor(approver))
    run_job_now(job.pk)
    job.refresh_from_db()
    return job


def _exported(store, staff, approver, person) -> tuple[Client, str, Artifact]:
    export = _run(store, staff, approver, "EXPORT", str(person))
    assert export.status == JobStatus.COMPLETED, export.error_message
    client = Client()
    client.force_login(staff)
    url = export.result["download_url"]
    assert client.get(url).status_code == 200
    artifact = Artifact.objects.get(job=export)
    assert default_storage.exists(artifact.storage_name)
    return client, url, artifact


def _assert_gone(client: Client, url: str, artifact: Artifact) -> None:
    assert client.get(url).status_code == 404
    assert not default_storage.exists(artifact.storage_name)


class TestEraseWhateverTheSpelling:
    @pytest.mark.parametrize("spelling", list(spellings(27)))
    def test_erase_deletes_the_package_and_its_file(self, demo_store, staff, other_staff,
                                                    spelling):
        person = demo_store.erasable_person()
        client, url, artifact = _exported(demo_store, staff, other_staff, person)

        erase = _run(demo_store, staff, other_staff, "ERASE", spellings(person)[spelling])

        assert erase.status == JobStatus.COMPLETED, erase.error_message
        assert erase.target_id == str(person)
        assert erase.result["export_artifacts_deleted"] == 1
        _assert_gone(client, url, artifact)
        email = demo_store.query("SELECT email FROM people WHERE id = ?", person)[0][0]
        assert email == f"erased-user-{person}@erased.local"

    def test_a_package_filed_under_another_spelling_is_deleted_too(self, demo_store, staff,
                                                                   other_staff):
        """Packages made before ids were canonical carry the id as it was typed."""
        person = demo_store.erasable_person()
        client, url, artifact = _exported(demo_store, staff, other_staff, person)
        Artifact.objects.filter(pk=artifact.pk).update(target_id=f"00{person}")

        erase = _run(demo_store, staff, other_staff, "ERASE", str(person))

        assert erase.result["export_artifacts_deleted"] == 1
        _assert_gone(client, url, artifact)

    def test_other_people_s_packages_stay(self, demo_store, staff, other_staff):
        person, neighbour = demo_store.erasable_person(0), demo_store.erasable_person(1)
        client, url, _artifact = _exported(demo_store, staff, other_staff, neighbour)

        erase = _run(demo_store, staff, other_staff, "ERASE", f"0{person}")

        assert erase.result["export_artifacts_deleted"] == 0
        assert client.get(url).status_code == 200


class TestScopePurge:
    def test_purging_an_issuer_deletes_the_packages_of_its_people(self, demo_store, staff,
                                                                  other_staff):
        key = int(factories.tenant_key(demo_store.tenant))
        issuer, person = demo_store.query(
            "SELECT sso_issuer_id, id FROM people WHERE workspace_id = ? AND sso_issuer_id IS "
            "NOT NULL ORDER BY id LIMIT 1", key)[0]
        outsider = demo_store.query(
            "SELECT id FROM people WHERE workspace_id = ? AND (sso_issuer_id IS NULL OR "
            "sso_issuer_id <> ?) ORDER BY id LIMIT 1", key, issuer)[0][0]
        client, url, artifact = _exported(demo_store, staff, other_staff, person)
        _client, kept_url, _kept = _exported(demo_store, staff, other_staff, outsider)

        purge = _run(demo_store, staff, other_staff, "PURGE", f"+{issuer}", target_type="issuer")

        assert purge.status == JobStatus.COMPLETED, purge.error_message
        assert purge.target_id == str(issuer)
        assert demo_store.query("SELECT COUNT(*) FROM people WHERE id = ?", person)[0][0] == 0
        assert purge.result["export_artifacts_deleted"] == 1
        _assert_gone(client, url, artifact)
        assert client.get(kept_url).status_code == 200

    def test_an_issuer_s_own_package_goes_when_one_of_its_people_is_erased(
            self, demo_store, staff, other_staff):
        key = int(factories.tenant_key(demo_store.tenant))
        issuer = demo_store.query(
            "SELECT sso_issuer_id FROM people WHERE workspace_id = ? AND sso_issuer_id IS NOT "
            "NULL GROUP BY sso_issuer_id ORDER BY sso_issuer_id LIMIT 1", key)[0][0]
        person = demo_store.query(
            "SELECT p.id FROM people p WHERE p.sso_issuer_id = ? AND p.role = 'member' AND "
            "NOT EXISTS (SELECT 1 FROM hardware_assignments h WHERE h.person_id = p.id AND "
            "h.returned_at IS NULL) AND NOT EXISTS (SELECT 1 FROM software_assignments s WHERE "
            "s.person_id = p.id AND s.revoked_at IS NULL) ORDER BY p.id LIMIT 1", issuer)[0][0]
        export = _run(demo_store, staff, other_staff, "EXPORT", str(issuer), target_type="issuer")
        client = Client()
        client.force_login(staff)
        assert client.get(export.result["download_url"]).status_code == 200

        erase = _run(demo_store, staff, other_staff, "ERASE", str(person))

        assert erase.status == JobStatus.COMPLETED, erase.error_message
        assert client.get(export.result["download_url"]).status_code == 404


class TestCanonicalAtTheDoor:
    @pytest.mark.parametrize("spelling", list(spellings(27)))
    def test_every_spelling_is_stored_as_the_primary_key(self, demo_store, staff, spelling):
        person = demo_store.erasable_person()
        job = job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT",
                         target_type="subject", target_id=spellings(person)[spelling],
                         actor=factories.actor(staff))
        assert job.target_id == str(person)

    @pytest.mark.parametrize("job_type", ["ERASE", "PURGE"])
    @pytest.mark.parametrize("typed", ["999999", "abc", "9" * 25, "1.5"])
    def test_a_destructive_job_on_nothing_is_refused_with_422(self, demo_store, staff,
                                                              job_type, typed):
        api = api_as(staff)
        response = api.post("/jobs", {"tenant_id": demo_store.tenant.pk, "type": job_type,
                                      "target_type": "subject", "target_id": typed})
        body = assert_error(response, 422, "unknown_target")
        assert typed not in body["message"]
        assert "No subject with this id exists" in body["message"]
        assert not Job.objects.exists()

    def test_another_tenant_s_person_does_not_resolve(self, demo_store, staff):
        theirs = demo_store.query("SELECT id FROM people WHERE workspace_id = ? LIMIT 1",
                                  int(factories.tenant_key(demo_store.other_tenant)))[0][0]
        with pytest.raises(ValidationFailed, match="No subject with this id"):
            job_create(tenant_id=demo_store.tenant.pk, job_type="ERASE", target_type="subject",
                       target_id=str(theirs), actor=factories.actor(staff))

    def test_the_form_shows_the_refusal_on_the_target_field(self, demo_store, staff):
        client = Client()
        client.force_login(staff)
        response = client.post("/platform/privacy/jobs/new/", {
            "tenant": demo_store.tenant.pk, "job_type": "ERASE", "target_type": "subject",
            "target_id": "424242", "reason": "test"})
        assert response.status_code == 422
        page = response.content.decode()
        assert "No subject with this id exists" in page
        assert not Job.objects.exists()

    def test_a_tenant_target_is_the_tenant_s_key(self, demo_store, staff):
        tenant = demo_store.tenant
        job = job_create(tenant_id=tenant.pk, job_type="PURGE", target_type="tenant",
                         target_id=tenant.slug.upper(), actor=factories.actor(staff))
        assert job.target_id == factories.tenant_key(tenant)
        with pytest.raises(ValidationFailed, match="does not name tenant"):
            job_create(tenant_id=tenant.pk, job_type="PURGE", target_type="tenant",
                       target_id=demo_store.other_tenant.slug, actor=factories.actor(staff))

    def test_a_duplicate_privacy_center_export_is_seen_whatever_the_spelling(
            self, demo_store, staff):
        """The privacy center's open-job check compares ids: both must be canonical."""
        person = demo_store.erasable_person()
        job_create(tenant_id=demo_store.tenant.pk, job_type="EXPORT", target_type="subject",
                   target_id=f"0{person}", actor=factories.actor(staff), enqueue=False)
        assert Job.objects.filter(target_id=str(person)).count() == 1


class TestTargetNotFound:
    def test_an_export_of_nobody_fails_once_with_its_code(self, demo_store, staff, settings):
        settings.JOB_MAX_ATTEMPTS = 3
        job = _run(demo_store, staff, staff, "EXPORT", "999999")
        assert job.status == JobStatus.FAILED
        assert job.error_code == "target_not_found"
        assert job.attempts == 1
        assert "999999" not in job.error_message
        assert "does not exist" in job.error_message

    @pytest.mark.parametrize("typed", ["not-a-number", "999999"])
    def test_a_job_row_naming_nobody_is_a_final_failure(self, demo_store, staff, other_staff,
                                                        typed):
        """Jobs written before ids were checked (or whose subject was purged since)."""
        job = factories.job_create(tenant=demo_store.tenant, requested_by=staff,
                                   status=JobStatus.APPROVED, target_id=typed)
        run_job_now(job.pk)
        job.refresh_from_db()
        assert (job.status, job.error_code, job.attempts) == (
            JobStatus.FAILED, "target_not_found", 1)
        assert typed not in job.error_message
