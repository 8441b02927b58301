"""`privacyops tenant|member|staff|system`: what an operator types and reads, exit statuses
included; and the onboarding walkthrough of docs/onboarding.md up to the erased patient."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from privacyops.execution.runner import run_job_now
from privacyops.jobs.models import Job, JobStatus
from privacyops.jobs.services import job_approve, job_create
from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import Membership, System, Tenant, User
from tests.tenancy.clinic import DATAMAP, ZOE_EMAIL, build_clinic, patient

pytestmark = pytest.mark.django_db


def _privacyops(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRIVACYOPS_DATA_DIR": str(data_dir)}
    env.pop("PRIVACYOPS_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "privacyops.cli", *args], capture_output=True,
                          text=True, timeout=180, check=False, env=env)


def _run(*args: str, capsys: pytest.CaptureFixture[str]) -> str:
    call_command(*args)
    return capsys.readouterr().out


class TestTenantCreateExactlyOnce:
    def test_a_second_create_says_it_exists_and_exits_1_or_0_with_if_missing(self, tmp_path):
        assert _privacyops("migrate", data_dir=tmp_path).returncode == 0
        first = _privacyops("tenant", "create", "--slug", "nord", "--name", "Clinique du Nord",
                            data_dir=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "Created tenant nord" in first.stdout
        again = _privacyops("tenant", "create", "--slug", "nord", "--name", "Other",
                            data_dir=tmp_path)
        assert again.returncode == 1
        assert "already exists" in again.stderr
        quiet = _privacyops("tenant", "create", "--slug", "nord", "--name", "Other",
                            "--if-missing", data_dir=tmp_path)
        assert quiet.returncode == 0
        assert "nothing was changed" in quiet.stdout
        listing = _privacyops("tenant", "list", data_dir=tmp_path)
        assert "Clinique du Nord" in listing.stdout
        assert "Other" not in listing.stdout


class TestMemberCommands:
    def test_add_list_role_remove(self, tenant, capsys):
        out = _run("member", "add", "--tenant", "acme", "--email", "Front.Desk@example.com",
                   "--role", "admin", capsys=capsys)
        assert "front.desk@example.com is now admin of acme" in out
        password = out.strip().splitlines()[-1]
        assert len(password) >= 12
        assert "front.desk@example.com  admin" in _run("member", "list", "--tenant", "acme",
                                                       capsys=capsys)
        _run("member", "role", "--tenant", "acme", "--email", "front.desk@example.com",
             "--role", "it-admin", capsys=capsys)
        assert Membership.objects.get(tenant=tenant).role == "it-admin"
        _run("member", "remove", "--tenant", "acme", "--email", "front.desk@example.com",
             capsys=capsys)
        assert not Membership.objects.exists()

    @pytest.mark.parametrize(("args", "sentence"), [
        (("--tenant", "acme", "--role", "owner"), "use one of super-admin, admin"),
        (("--tenant", "nowhere", "--role", "admin"), "`privacyops tenant list` shows"),
    ])
    def test_bad_input_is_named(self, tenant, args, sentence):
        with pytest.raises(CommandError, match=sentence):
            call_command("member", "add", "--email", "x@example.com", *args)


class TestSystemCommands:
    def test_add_list_and_test_a_system(self, tenant, tmp_path, settings, monkeypatch, capsys):
        build_clinic(tmp_path, settings, monkeypatch, install=False)
        out = _run("system", "add", "--tenant", "acme", "--name", "clinic-app", "--datamap",
                   str(DATAMAP), "--key", "1", capsys=capsys)
        assert "data map clinic, connection CLINIC_DATABASE_URL" in out
        assert (Path(settings.DATAMAP_DIR) / "clinic.yaml").read_text() == DATAMAP.read_text()
        assert "acme    clinic-app  sql   clinic   CLINIC_DATABASE_URL  1" in _run(
            "system", "list", capsys=capsys)
        report = _run("system", "test", "clinic-app", capsys=capsys)
        assert "ok    schema: 2 tables and every column the map names exist" in report
        assert "ok    subjects: 2 patients rows for tenant key 1" in report

    def test_a_column_the_map_names_but_the_database_lacks_fails_the_test(
            self, tenant, tmp_path, settings, monkeypatch, capsys):
        path = build_clinic(tmp_path, settings, monkeypatch)
        call_command("system", "add", "--tenant", "acme", "--name", "app", "--datamap",
                     "clinic", "--key", "1")
        with sqlite3.connect(path) as conn:
            conn.execute("ALTER TABLE patients DROP COLUMN phone")
        conn.close()
        with pytest.raises(CommandError, match="has a problem"):
            call_command("system", "test", "app")
        out = capsys.readouterr().out
        assert "FAIL  schema" in out
        assert ("entities.patients.fields.phone: table 'patients' has no column 'phone'"
                in out)
        assert "(database: patients.phone)" in out

    def test_a_missing_connection_variable_is_named(self, tenant, tmp_path, settings,
                                                    monkeypatch, capsys):
        build_clinic(tmp_path, settings, monkeypatch)
        call_command("system", "add", "--tenant", "acme", "--name", "app", "--datamap",
                     "clinic", "--key", "1")
        monkeypatch.delenv("CLINIC_DATABASE_URL")
        with pytest.raises(CommandError):
            call_command("system", "test", "app", "--tenant", "acme")
        assert "environment variable CLINIC_DATABASE_URL is not set" in capsys.readouterr().out

    def test_a_datamap_file_that_does_not_exist(self, tenant, tmp_path, settings):
        settings.DATAMAP_DIR = str(tmp_path / "maps")
        with pytest.raises(CommandError, match="does not exist; check the path"):
            call_command("system", "add", "--tenant", "acme", "--name", "app", "--datamap",
                         str(tmp_path / "nope.yaml"), "--key", "1")
        assert not System.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_onboarding_walkthrough_erases_zoe(tmp_path, settings, monkeypatch):
    """docs/onboarding.md: two tenants on one clinic database, then Zoë's erasure."""
    path = build_clinic(tmp_path, settings, monkeypatch, install=False)
    call_command("staff", "create", "--email", "ops@example.com")
    call_command("staff", "create", "--email", "approver@example.com")
    call_command("tenant", "create", "--slug", "nord", "--name", "Clinique du Nord")
    call_command("tenant", "create", "--slug", "sud", "--name", "Clinica del Sud")
    call_command("system", "add", "--tenant", "nord", "--name", "clinic-app", "--datamap",
                 str(DATAMAP), "--key", "1")
    call_command("system", "add", "--tenant", "sud", "--name", "clinic-app", "--datamap",
                 "clinic", "--key", "2")
    nord = Tenant.objects.get(slug="nord")
    ops, approver = (Actor.for_user(User.objects.get(email=e))
                     for e in ("ops@example.com", "approver@example.com"))
    job = job_create(tenant_id=nord.pk, job_type="ERASE", target_type="subject", target_id="1",
                     reason="Art. 17 request by email", actor=ops)
    job_approve(job_id=job.pk, actor=approver)
    run_job_now(job.pk)

    assert Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED
    email, name, phone, forgotten_at = patient(path, 1)
    assert (email, name, phone) == ("erased-user-1@erased.local", "Erased patient", None)
    assert forgotten_at
    assert patient(path, 3)[0] == "giulia.rossi@example.com"  # the other clinic's patient
    assert ZOE_EMAIL.encode() not in path.read_bytes()
