"""The console commands of the data plane: `datamap check`, `datamap draft`, `demo`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from privacyops.audit.models import AuditEvent
from privacyops.datamap import load_datamap
from privacyops.demo.generate import generate_demo_datastore
from privacyops.jobs.models import Job, JobStatus
from privacyops.tenancy.models import Membership, System, Tenant, User


def _privacyops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privacyops.cli", *args], capture_output=True, text=True,
        timeout=120, check=False, env={**os.environ, **(env or {})},
    )


class TestDatamapCheck:
    def test_a_bad_file_names_the_path_and_exits_non_zero(self, tmp_path: Path):
        datamap = yaml.safe_load(
            (Path(__file__).parents[2] / "src/privacyops/demo/datamap.yaml").read_text())
        datamap["entities"]["hardware_assignments"]["relations"][0]["to"] = "nowhere"
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(datamap))
        finished = _privacyops("datamap", "check", str(bad))
        assert finished.returncode != 0
        assert "entities.hardware_assignments.relations[0]" in finished.stderr
        assert "nowhere" in finished.stderr

    def test_the_demo_map_is_ok(self):
        path = Path(__file__).parents[2] / "src/privacyops/demo/datamap.yaml"
        finished = _privacyops("datamap", "check", str(path))
        assert finished.returncode == 0, finished.stderr
        assert "OK" in finished.stdout


class TestDatamapDraft:
    def test_draft_of_the_demo_schema_loads_and_guesses_categories(self, tmp_path: Path):
        store = tmp_path / "store.sqlite3"
        generate_demo_datastore(store, people=20, workspaces=1, progress=False)
        out = tmp_path / "draft.yaml"
        finished = _privacyops("datamap", "draft", "--url", f"sqlite:///{store}",
                               "--out", str(out), "--name", "assets", "--url-env", "ASSETS_URL")
        assert finished.returncode == 0, finished.stderr
        assert "# REVIEW" in finished.stdout
        datamap = load_datamap(out)
        assert datamap.name == "assets"
        assert datamap.connection.url_env == "ASSETS_URL"
        people = datamap.entities["people"]
        assert people.fields["email"].category == "contact"
        assert people.fields["phone"].category == "contact"


@pytest.mark.django_db(transaction=True)
class TestDemoCommand:
    def test_builds_everything_once_and_says_so_the_second_time(self, settings, tmp_path,
                                                               capsys):
        settings.DATA_DIR = tmp_path
        settings.DATAMAP_DIR = str(tmp_path / "datamaps")
        call_command("demo", "--people", "300", "--no-progress")
        first = capsys.readouterr().out
        assert "Demo datastore written" in first
        assert System.objects.filter(datamap_name="demo").count() == 3
        assert Tenant.objects.filter(systems__datamap_name="demo").count() == 3
        for tenant in Tenant.objects.all():  # three systems each: two SQL, one manual
            assert dict(tenant.systems.values_list("name", "connector_type")) == {
                "workspace-app": "sql", "helpdesk": "sql", "paper-files": "manual"}
        import sqlite3

        with sqlite3.connect(tmp_path / "demo-helpdesk.sqlite3") as conn:
            assert conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] > 0
        assert "connector: manual" in (tmp_path / "datamaps" / "paper-files.yaml").read_text()
        created = set(AuditEvent.objects.filter(actor_id="demo").values_list("action", flat=True))
        assert {"tenant.created", "system.added", "member.added", "staff.created"} <= created
        roles = set(Membership.objects.values_list("role", flat=True))
        assert roles == {"super-admin", "admin", "it-admin", "member"}
        assert User.objects.filter(is_staff=True).count() == 2
        statuses = set(Job.objects.values_list("status", flat=True))
        assert {JobStatus.PENDING, JobStatus.APPROVED, JobStatus.COMPLETED, JobStatus.FAILED,
                JobStatus.REJECTED, JobStatus.PROCESSING} <= statuses
        assert Job.objects.filter(error_code="legal_hold").exists()
        jobs_before, events_before = Job.objects.count(), AuditEvent.objects.count()
        call_command("demo", "--no-progress")
        second = capsys.readouterr().out
        assert "nothing changed" in second
        assert Job.objects.count() == jobs_before
        assert AuditEvent.objects.count() == events_before
        assert System.objects.count() == 9
        assert "staff@example.com" in second
