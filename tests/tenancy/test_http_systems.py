"""Registering HTTP and manual systems (CLI, API, Platform → Tenants form) and testing them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from privacyops.execution.demo import write_paper_files_map
from privacyops.tenancy.models import ConnectorType, System
from tests.api.conftest import api_as, assert_error
from tests.http_crm import crm_down, crm_fake, write_crm_map
from tests.tenancy.clinic import build_clinic

__all__ = ["crm_fake"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    call_command(*args)
    return capsys.readouterr().out


class TestCli:
    def test_add_an_http_system_from_its_file_and_test_it(self, tenant, tmp_path, settings,
                                                         crm_fake, capsys):
        settings.DATAMAP_DIR = str(tmp_path / "maps")
        given = write_crm_map(tmp_path / "elsewhere")
        out = _run(capsys, "system", "add", "--tenant", "acme", "--name", "crm", "--type",
                   "http", "--datamap", str(given), "--key", "K")
        assert "data map crm, connection TEST_CRM_URL" in out
        assert (Path(settings.DATAMAP_DIR) / "crm.yaml").read_text() == given.read_text()
        system = System.objects.get(tenant=tenant, name="crm")
        assert (system.connector_type, system.connection_ref, system.datastore_key) == (
            "http", "TEST_CRM_URL", "K")
        assert "acme    crm   http  crm      TEST_CRM_URL" in _run(capsys, "system", "list")
        report = _run(capsys, "system", "test", "crm")
        assert "ok    service: crm: the service answers (GET /: 404" in report
        assert "All checks passed" in report
        assert crm_fake.requests_to("GET", "/")  # the check really reached the service

    def test_a_service_that_does_not_answer_fails_the_test(self, tenant, tmp_path, settings,
                                                           crm_fake, capsys):
        settings.DATAMAP_DIR = str(tmp_path)
        write_crm_map(tmp_path)
        call_command("system", "add", "--tenant", "acme", "--name", "crm", "--type", "http",
                     "--datamap", "crm")
        crm_down(crm_fake)
        with pytest.raises(CommandError, match="has a problem"):
            call_command("system", "test", "crm")
        out = capsys.readouterr().out
        assert "FAIL  service: the service at TEST_CRM_URL does not answer" in out
        assert "503" in out

    def test_an_unset_variable_of_the_map_is_named(self, tenant, tmp_path, settings, crm_fake,
                                                   monkeypatch, capsys):
        settings.DATAMAP_DIR = str(tmp_path)
        write_crm_map(tmp_path)
        call_command("system", "add", "--tenant", "acme", "--name", "crm", "--type", "http",
                     "--datamap", "crm")
        monkeypatch.delenv("TEST_CRM_TOKEN")
        with pytest.raises(CommandError):
            call_command("system", "test", "crm")
        out = capsys.readouterr().out
        assert "FAIL  map" in out
        assert "TEST_CRM_TOKEN" in out

    def test_the_type_must_match_the_map(self, tenant, tmp_path, settings):
        settings.DATAMAP_DIR = str(tmp_path)
        write_crm_map(tmp_path)
        with pytest.raises(CommandError, match=r"for a http system .*--type http"):
            call_command("system", "add", "--tenant", "acme", "--name", "crm", "--datamap",
                         "crm")
        assert not System.objects.exists()

    def test_a_sql_map_is_refused_as_http(self, tenant, tmp_path, settings, monkeypatch):
        build_clinic(tmp_path, settings, monkeypatch)
        with pytest.raises(CommandError, match=r"for a sql system .*--type sql"):
            call_command("system", "add", "--tenant", "acme", "--name", "app", "--type", "http",
                         "--datamap", "clinic", "--key", "1")
        assert not System.objects.exists()

    def test_a_manual_system_is_added_and_its_map_checked(self, tenant, tmp_path, settings,
                                                          capsys):
        settings.DATAMAP_DIR = str(tmp_path)
        path = write_paper_files_map()
        out = _run(capsys, "system", "add", "--tenant", "acme", "--name", "archive", "--type",
                   "manual", "--datamap", path.stem)
        assert "connection in the map" in out
        report = _run(capsys, "system", "test", "archive")
        assert "ok    map:" in report
        assert "is asked to export and erase by hand" in report
        path.write_text(yaml.safe_dump({"connector": "manual", "name": path.stem}))
        with pytest.raises(CommandError, match="has a problem"):
            call_command("system", "test", "archive")
        assert "FAIL  map" in capsys.readouterr().out


class TestApi:
    def test_http_and_manual_systems_through_the_api(self, staff, tenant, tmp_path, settings,
                                                     crm_fake):
        settings.DATAMAP_DIR = str(tmp_path)
        write_crm_map(tmp_path)
        paper = write_paper_files_map()
        api = api_as(staff)
        created = api.post(f"/tenants/{tenant.pk}/systems",
                           {"name": "crm", "connector_type": "http", "datamap_name": "crm"})
        assert created.status_code == 201, created.content
        assert created.json()["connector_type"] == "http"
        assert created.json()["connection_ref"] == "TEST_CRM_URL"
        manual = api.post(f"/tenants/{tenant.pk}/systems",
                          {"name": "archive", "connector_type": "manual",
                           "datamap_name": paper.stem})
        assert manual.status_code == 201, manual.content
        assert {(s.name, s.connector_type) for s in System.objects.filter(tenant=tenant)} == {
            ("crm", ConnectorType.HTTP), ("archive", ConnectorType.MANUAL)}

    def test_a_type_that_does_not_match_the_map_is_a_422_that_says_which(
            self, staff, tenant, tmp_path, settings):
        settings.DATAMAP_DIR = str(tmp_path)
        write_crm_map(tmp_path)
        body = assert_error(api_as(staff).post(
            f"/tenants/{tenant.pk}/systems",
            {"name": "crm", "connector_type": "manual", "datamap_name": "crm"}), 422, "invalid")
        assert "for a http system" in body["message"]
        assert "not manual" in body["message"]
        assert not System.objects.exists()


class TestPlatformForm:
    def test_the_form_adds_an_http_system(self, client, staff, tenant, tmp_path, settings,
                                          crm_fake):
        settings.DATAMAP_DIR = str(tmp_path)
        write_crm_map(tmp_path)
        client.force_login(staff)
        response = client.post(f"/platform/tenants/{tenant.pk}/systems/",
                               {"name": "crm", "connector_type": "http", "datamap_name": "crm",
                                "datastore_key": ""})
        assert response.status_code in (200, 302), response.content[:500]
        system = System.objects.get(tenant=tenant)
        assert (system.name, system.connector_type, system.connection_ref) == (
            "crm", "http", "TEST_CRM_URL")

    def test_the_health_of_an_http_system_on_platform_tenants(self, client, staff, tenant,
                                                              tmp_path, settings, crm_fake):
        settings.DATAMAP_DIR = str(tmp_path)
        write_crm_map(tmp_path)
        call_command("system", "add", "--tenant", "acme", "--name", "crm", "--type", "http",
                     "--datamap", "crm")
        system = System.objects.get(tenant=tenant)
        client.force_login(staff)
        url = f"/platform/tenants/{tenant.pk}/systems/{system.pk}/health/"
        page = client.get(url).content.decode()
        assert 'data-ok="yes"' in page
        assert "crm: the service answers" in page
        crm_down(crm_fake)
        page = client.get(url).content.decode()
        assert 'data-ok="no"' in page
        assert "does not answer" in page
