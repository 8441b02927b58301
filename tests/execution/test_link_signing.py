"""Signed download links of export packages, checked without running an export.

The oracle signs and reads tokens with Django's own TimestampSigner and the documented salt
("privacyops.download"), not with the functions under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import signing
from django.utils import timezone

from privacyops.errors import NotFound
from privacyops.execution.executors import signed_download_path
from privacyops.execution.models import Artifact
from privacyops.execution.selectors import artifact_for_viewer, artifact_from_token
from privacyops.jobs.models import JobStatus
from privacyops.tenancy.models import Role
from tests import factories

pytestmark = pytest.mark.django_db

SALT = "privacyops.download"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def artifact_in(tenant, **extra) -> Artifact:
    job = factories.job_create(tenant=tenant, job_type="EXPORT", status=JobStatus.COMPLETED,
                               requires_approval=False)
    values = {"job": job, "tenant_id": tenant.pk, "target_type": "subject", "target_id": "42",
              "storage_name": "exports/none.zip.enc", "file_name": "export.zip", "size": 1,
              "sha256": "0" * 64, "expires_at": timezone.now() + timedelta(days=7), **extra}
    return Artifact.objects.create(**values)


def token_for(artifact: Artifact, *, salt: str = SALT) -> str:
    return signing.TimestampSigner(salt=salt).sign(str(artifact.pk))


def refusal(token: str) -> tuple[str, str]:
    with pytest.raises(NotFound) as refused:
        artifact_from_token(token)
    return refused.value.code, refused.value.message


class TestSignedDownloadPath:
    def test_the_path_carries_a_token_signed_for_downloads(self, tenant):
        artifact = artifact_in(tenant)
        path = signed_download_path(str(artifact.pk))
        assert path.startswith("/downloads/")
        assert path.endswith("/")
        token = path.removeprefix("/downloads/").removesuffix("/")
        assert signing.TimestampSigner(salt=SALT).unsign(token, max_age=60) == str(artifact.pk)

    def test_the_token_is_stamped_with_the_signing_time(self, tenant, time_machine):
        time_machine.move_to(T0, tick=False)
        artifact = artifact_in(tenant)
        token = signed_download_path(str(artifact.pk)).split("/")[2]
        stamp = token.rsplit(":", 2)[1]
        assert signing.b62_decode(stamp) == int(T0.timestamp())


class TestArtifactFromToken:
    def test_a_valid_link_names_its_artifact(self, tenant, other_tenant):
        first, second, third = artifact_in(tenant), artifact_in(tenant), artifact_in(other_tenant)
        for artifact in (first, second, third):
            assert artifact_from_token(token_for(artifact)) == artifact

    @pytest.mark.parametrize("salt", ["privacyops.other", "", "django.core.signing"])
    def test_a_token_signed_for_something_else_is_not_valid(self, tenant, salt):
        assert refusal(token_for(artifact_in(tenant), salt=salt)) == (
            "not_found", "This download link is not valid.")

    def test_a_changed_token_is_not_valid(self, tenant):
        other = artifact_in(tenant)
        token = token_for(artifact_in(tenant))
        _value, stamp, signature = token.rsplit(":", 2)
        for forged in (f"{other.pk}:{stamp}:{signature}", token[:-1], "", "garbage"):
            assert refusal(forged) == ("not_found", "This download link is not valid.")

    def test_an_expired_link_says_so(self, tenant, settings, time_machine):
        settings.DOWNLOAD_LINK_DAYS = 3
        time_machine.move_to(T0, tick=False)
        artifact = artifact_in(tenant)
        token = token_for(artifact)
        time_machine.move_to(T0 + timedelta(days=3), tick=False)
        assert artifact_from_token(token) == artifact
        time_machine.move_to(T0 + timedelta(days=3, seconds=1), tick=False)
        assert refusal(token) == (
            "link_expired", "This download link has expired. Run the export again for a new link.")

    def test_a_deleted_package_no_longer_exists(self, tenant):
        artifact = artifact_in(tenant, deleted_at=timezone.now())
        assert refusal(token_for(artifact)) == (
            "link_expired", "This export no longer exists (it expired or its subject was erased).")


class TestArtifactForViewer:
    @pytest.mark.parametrize("role", [Role.SUPER_ADMIN, Role.ADMIN, Role.IT_ADMIN])
    def test_staff_and_the_tenants_admins_may_follow_it(self, tenant, staff, role):
        artifact = artifact_in(tenant)
        admin = factories.user_create(tenant=tenant, role=role)
        assert artifact_for_viewer(token_for(artifact), staff) == artifact
        assert artifact_for_viewer(token_for(artifact), admin) == artifact

    def test_members_and_other_tenants_admins_see_no_such_export(self, tenant, other_tenant):
        artifact = artifact_in(tenant)
        member = factories.user_create(tenant=tenant, role=Role.MEMBER)
        foreign_admin = factories.user_create(tenant=other_tenant, role=Role.SUPER_ADMIN)
        for viewer in (member, foreign_admin):
            with pytest.raises(NotFound) as refused:
                artifact_for_viewer(token_for(artifact), viewer)
            assert (refused.value.code, refused.value.message) == (
                "not_found", "This export does not exist.")

    def test_an_expired_link_is_refused_before_anything_else(self, tenant, staff, settings,
                                                             time_machine):
        time_machine.move_to(T0, tick=False)
        token = token_for(artifact_in(tenant))
        time_machine.move_to(T0 + timedelta(days=settings.DOWNLOAD_LINK_DAYS, seconds=1),
                             tick=False)
        with pytest.raises(NotFound) as refused:
            artifact_for_viewer(token, staff)
        assert refused.value.code == "link_expired"
