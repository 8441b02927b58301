"""A real demo datastore per test: generated once per session, copied for each test."""

from __future__ import annotations

import re
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from privacyops.demo.generate import generate_demo_datastore
from privacyops.execution.demo import write_demo_datamap
from privacyops.tenancy.models import Tenant
from tests import factories


def must_match(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    """re.search that fails the test with the pattern when nothing matches."""
    found = re.search(pattern, text, flags)
    assert found is not None, f"no match for {pattern!r}"
    return found


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str
    employee_id: str
    job_title: str
    department: str
    status: str
    role: str
    last_login: str | None
    active_hardware: int
    active_software: int

    @property
    def holds_assets(self) -> bool:
        return bool(self.active_hardware or self.active_software)


class People:
    """Reads the test's datastore file directly (sqlite3), to choose and check people."""

    def __init__(self, path: Path, workspace_id: int) -> None:
        self.path, self.workspace_id = path, workspace_id

    def all(self) -> list[Person]:
        with closing(sqlite3.connect(self.path)) as conn:
            rows = conn.execute(
                "SELECT p.id, p.name, p.email, p.employee_id, p.job_title, p.department, "
                "p.employment_status, p.role, p.last_login_at, "
                "(SELECT count(*) FROM hardware_assignments h WHERE h.person_id = p.id "
                " AND h.returned_at IS NULL), "
                "(SELECT count(*) FROM software_assignments s WHERE s.person_id = p.id "
                " AND s.revoked_at IS NULL) "
                "FROM people p WHERE p.workspace_id = ? ORDER BY p.id", (self.workspace_id,),
            ).fetchall()
        return [Person(*row) for row in rows]

    def get(self, person_id: int) -> Person:
        return next(p for p in self.all() if p.id == person_id)

    def first(self, *, role: str = "member", holds_assets: bool | None = None,
              skip: tuple[int, ...] = ()) -> Person:
        for person in self.all():
            if person.role != role or person.id in skip:
                continue
            if holds_assets is not None and person.holds_assets != holds_assets:
                continue
            return person
        raise LookupError(role)

    def erasable(self, count: int) -> list[Person]:
        found = [p for p in self.all() if p.role == "member" and not p.holds_assets]
        return found[:count]

    def raw(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with closing(sqlite3.connect(self.path)) as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, *params: object) -> None:
        with closing(sqlite3.connect(self.path)) as conn:
            conn.execute(sql, params)
            conn.commit()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo-template") / "demo.sqlite3"
    generate_demo_datastore(path, people=200, progress=False)
    return path


@pytest.fixture
def demo_store(demo_template: Path, tmp_path: Path, settings) -> Path:
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_template, path)
    settings.DATAMAP_DIR = str(tmp_path / "datamaps")
    write_demo_datamap(path)
    return path


@pytest.fixture
def acme(db, demo_store: Path) -> Tenant:
    return factories.tenant_create(slug="acme", name="Acme Corporation", datamap_name="demo",
                                   datastore_key="1")


@pytest.fixture
def globex(db, demo_store: Path) -> Tenant:
    return factories.tenant_create(slug="globex", name="Globex Corporation",
                                   datamap_name="demo", datastore_key="2")


@pytest.fixture
def people(demo_store: Path) -> People:
    return People(demo_store, 1)
