"""Two real SQLite systems of one tenant (the demo workspace app and the demo helpdesk), with
the same people in both by email, for multi-system job tests."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from privacyops.demo.helpdesk import generate_helpdesk, people_of_demo, write_helpdesk_datamap
from privacyops.execution.demo import write_paper_files_map
from privacyops.tenancy.models import ConnectorType, System
from tests import factories
from tests.demo_store import DemoStore, demo_store

__all__ = ["MultiStore", "demo_store", "multi_store"]


@dataclass
class MultiStore:
    demo: DemoStore
    helpdesk: Path
    key: int  # the tenant's workspace id in both datastores

    @property
    def tenant(self):
        return self.demo.tenant

    def app(self, sql: str, *params: object) -> list[tuple]:
        return self.demo.query(sql, *params)

    def desk(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.helpdesk) as conn:
            return conn.execute(sql, params).fetchall()

    def person(self, offset: int = 0) -> tuple[int, str]:
        """An erasable person of the workspace app: (id, email)."""
        person_id = self.demo.erasable_person(offset)
        email = self.app("SELECT email FROM people WHERE id = ?", person_id)[0][0]
        return person_id, email

    def requester_of(self, email: str) -> int:
        return self.desk("SELECT id FROM requesters WHERE workspace_id = ? AND email = ?",
                         self.key, email)[0][0]

    def ambiguous_erase(self, requested_by, approved_by):
        """An ERASE by email that failed because two helpdesk requesters share the address:
        (the job, the person's helpdesk requester id, the email)."""
        from privacyops.execution.runner import run_job_now
        from privacyops.jobs.models import JobStatus
        from privacyops.jobs.services import job_approve, job_create
        from privacyops.tenancy.actors import Actor

        _person_id, email = self.person()
        requester = self.requester_of(email)
        self.desk("INSERT INTO requesters (id, workspace_id, email, name, created_at) "
                  "VALUES (99999, ?, ?, 'Second Account', '2026-01-01')", self.key, email.upper())
        job = job_create(tenant_id=self.tenant.pk, job_type="ERASE", target_type="subject",
                         identity={"email": email}, reason="Art. 17",
                         actor=Actor.for_user(requested_by))
        job_approve(job_id=job.pk, actor=Actor.for_user(approved_by))
        run_job_now(job.pk)
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED
        return job, requester, email

    def table_bytes(self) -> tuple[bytes, bytes]:
        """Every row of both datastores, as bytes: equal before and after means nothing
        was written."""
        def dump(path: Path) -> bytes:
            with sqlite3.connect(path) as conn:
                return "\n".join(conn.iterdump()).encode()
        return dump(self.demo.path), dump(self.helpdesk)


@pytest.fixture
def multi_store(demo_store, settings, tmp_path) -> MultiStore:
    helpdesk = tmp_path / "helpdesk.sqlite3"
    generate_helpdesk(helpdesk, people_of_demo(demo_store.path))
    write_helpdesk_datamap(helpdesk, Path(settings.DATAMAP_DIR))
    write_paper_files_map()  # the map of the manual system some tests add (`paper-files`)
    key = factories.tenant_key(demo_store.tenant)
    System.objects.create(tenant=demo_store.tenant, name="helpdesk", datamap_name="helpdesk",
                          datastore_key=key, connector_type=ConnectorType.SQL)
    other_key = factories.tenant_key(demo_store.other_tenant)
    System.objects.create(tenant=demo_store.other_tenant, name="helpdesk",
                          datamap_name="helpdesk", datastore_key=other_key)
    return MultiStore(demo_store, helpdesk, int(key))
