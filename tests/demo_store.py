"""A real demo datastore (SQLite file) with its data map and two tenants, for execution tests."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from privacyops.demo.generate import generate_demo_datastore
from privacyops.execution.demo import write_demo_datamap
from privacyops.tenancy.models import Tenant
from tests import factories


@dataclass
class DemoStore:
    path: Path
    tenant: Tenant
    other_tenant: Tenant

    def query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql, params).fetchall()

    def erasable_person(self, offset: int = 0) -> int:
        rows = self.query(
            "SELECT p.id FROM people p WHERE p.workspace_id = ? AND p.role = 'member' "
            "AND p.erased_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM hardware_assignments h WHERE h.person_id = p.id "
            "AND h.returned_at IS NULL) AND NOT EXISTS (SELECT 1 FROM software_assignments s "
            "WHERE s.person_id = p.id AND s.revoked_at IS NULL) ORDER BY p.id",
            int(factories.tenant_key(self.tenant)),
        )
        return rows[offset][0]


@pytest.fixture
def demo_store(tmp_path, settings, transactional_db) -> DemoStore:
    settings.DATAMAP_DIR = str(tmp_path / "datamaps")
    path = tmp_path / "demo.sqlite3"
    summary = generate_demo_datastore(path, people=150, workspaces=2, progress=False)
    write_demo_datamap(path)
    tenants = [
        factories.tenant_create(slug=ws.slug, name=ws.name, datastore_key=str(ws.id),
                                datamap_name="demo")
        for ws in summary.workspaces
    ]
    return DemoStore(path, tenants[0], tenants[1])
