"""The demo datastore generator, against real SQLite files."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from privacyops.demo import generate
from privacyops.demo.generate import (
    DemoSummary,
    datastore_is_populated,
    demo_people_sample,
    generate_demo_datastore,
)
from privacyops.demo.schema import metadata

NOW = datetime(2026, 6, 7, 14, 0, tzinfo=UTC)
PEOPLE = 1_500
ERASABLE_SQL = """
    SELECT COUNT(*) FROM people p
    WHERE NOT EXISTS (SELECT 1 FROM hardware_assignments h
                      WHERE h.person_id = p.id AND h.returned_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM software_assignments s
                      WHERE s.person_id = p.id AND s.revoked_at IS NULL)
"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    summary = generate_demo_datastore(path, people=PEOPLE, workspaces=3, seed=7,
                                      progress=False, now=NOW)
    return path, summary


@pytest.fixture
def db(generated: tuple[Path, DemoSummary]) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(generated[0])) as conn:
        yield conn


def table_dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(path)) as conn:
        return {
            table.name: conn.execute(
                str(select(table).order_by(*table.primary_key.columns))
            ).fetchall()
            for table in metadata.sorted_tables
        }


def file_state(path: Path) -> tuple[str, int, list[str]]:
    siblings = sorted(p.name for p in path.parent.iterdir())
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns, siblings


class TestGeneratedContent:
    def test_counts_per_table_match_summary(self, generated: tuple[Path, DemoSummary]) -> None:
        path, summary = generated
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            actual = {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in metadata.sorted_tables
            }
        engine.dispose()
        assert actual == dict(summary.counts)
        assert actual["people"] == PEOPLE
        assert actual["workspaces"] == 3
        assert all(count > 0 for count in actual.values())

    def test_summary_lists_the_workspaces(self, generated: tuple[Path, DemoSummary]) -> None:
        _, summary = generated
        assert [w.slug for w in summary.workspaces] == ["acme", "globex", "initech"]
        assert [w.id for w in summary.workspaces] == [1, 2, 3]

    def test_every_foreign_key_is_declared_and_resolves(self, db: sqlite3.Connection) -> None:
        declared = {
            (table.name, row[3], row[2])
            for table in metadata.sorted_tables
            for row in db.execute("SELECT * FROM pragma_foreign_key_list(?)", (table.name,))
        }
        assert ("people", "manager_id", "people") in declared
        assert ("activity_log", "actor_id", "people") in declared
        assert ("activity_log", "subject_id", "people") in declared
        assert ("hardware_assignments", "asset_id", "assets") in declared
        tenant_tables = {t.name for t in metadata.sorted_tables} - {"workspaces"}
        assert {(name, "workspace_id", "workspaces") for name in tenant_tables} <= declared
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        # foreign_key_check ignores NULLs; the nullable references must still point somewhere.
        assert db.execute(
            "SELECT COUNT(*) FROM people WHERE manager_id IS NOT NULL"
        ).fetchone()[0] > 0

    def test_foreign_key_columns_and_people_lookups_are_indexed(
        self, db: sqlite3.Connection
    ) -> None:
        leading: set[tuple[str, str]] = set()
        composite: set[tuple[str, tuple[str, ...]]] = set()
        for table in metadata.sorted_tables:
            for index in db.execute("SELECT name FROM pragma_index_list(?)", (table.name,)):
                columns = tuple(
                    row[0] for row in db.execute(
                        "SELECT name FROM pragma_index_info(?) ORDER BY seqno", (index[0],)
                    )
                )
                leading.add((table.name, columns[0]))
                composite.add((table.name, columns))
        for table in metadata.sorted_tables:
            for fk in db.execute("SELECT * FROM pragma_foreign_key_list(?)", (table.name,)):
                assert (table.name, fk[3]) in leading, f"{table.name}.{fk[3]} has no index"
        for columns in (("workspace_id", "email"), ("workspace_id", "employee_id"),
                        ("workspace_id", "name")):
            assert ("people", columns) in composite

    def test_people_list_pages_through_the_name_index(self, db: sqlite3.Connection) -> None:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT id, name, email FROM people WHERE workspace_id = 1 "
            "ORDER BY name, id LIMIT 50 OFFSET 500"
        ).fetchall()
        details = " ".join(row[3] for row in plan)
        assert "ix_people_workspace_id_name" in details
        assert "TEMP B-TREE" not in details

    def test_emails_are_unique_per_workspace_on_example_subdomains(
        self, db: sqlite3.Connection
    ) -> None:
        slugs = dict(db.execute("SELECT id, slug FROM workspaces"))
        seen: set[tuple[int, str]] = set()
        for workspace_id, email in db.execute("SELECT workspace_id, email FROM people"):
            assert re.fullmatch(
                rf"[a-z0-9]+\.[a-z0-9]+@{slugs[workspace_id]}\.example\.com", email
            ), email
            assert (workspace_id, email) not in seen
            seen.add((workspace_id, email))

    def test_at_least_thirty_percent_of_people_are_erasable(
        self, db: sqlite3.Connection
    ) -> None:
        erasable = db.execute(ERASABLE_SQL).fetchone()[0]
        assert erasable / PEOPLE >= 0.30
        # ... and enough still hold assets for Erase to be refused in the demo.
        assert erasable / PEOPLE <= 0.6
        returned = db.execute(
            "SELECT COUNT(*) FROM hardware_assignments WHERE returned_at IS NOT NULL "
            "AND return_condition IS NOT NULL"
        ).fetchone()[0]
        assert returned > 0

    def test_each_workspace_has_one_or_two_super_admins(self, db: sqlite3.Connection) -> None:
        rows = dict(db.execute(
            "SELECT w.id, (SELECT COUNT(*) FROM people p WHERE p.workspace_id = w.id "
            "AND p.role = 'super-admin') FROM workspaces w"
        ))
        assert set(rows) == {1, 2, 3}
        assert all(count in (1, 2) for count in rows.values()), rows
        roles = dict(db.execute("SELECT role, COUNT(*) FROM people GROUP BY role"))
        assert roles["admin"] >= 3
        assert roles["it-admin"] >= 3
        assert roles["member"] > 0.9 * PEOPLE

    def test_statuses_logins_and_credentials_look_real(self, db: sqlite3.Connection) -> None:
        statuses = dict(db.execute(
            "SELECT employment_status, COUNT(*) FROM people GROUP BY employment_status"
        ))
        assert set(statuses) == {"active", "onboarding", "inactive", "offboarded"}
        assert statuses["active"] > 0.7 * PEOPLE
        logged_in = db.execute(
            "SELECT AVG(last_login_at IS NOT NULL) FROM people"
        ).fetchone()[0]
        assert 0.6 <= logged_in <= 0.8
        for password_hash, sso_issuer_id, sso_subject in db.execute(
            "SELECT password_hash, sso_issuer_id, sso_subject FROM people"
        ):
            assert (sso_issuer_id is None) == (sso_subject is None)
            if password_hash is not None:
                assert re.fullmatch(
                    r"\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}",
                    password_hash,
                )
        issuers = dict(db.execute("SELECT workspace_id, COUNT(*) FROM sso_issuers GROUP BY 1"))
        assert all(count in (1, 2) for count in issuers.values())
        assert len(issuers) == 3

    def test_activity_log_points_at_people_as_actor_and_subject(
        self, db: sqlite3.Connection
    ) -> None:
        total, with_actor, with_subject, foreign_actor = db.execute(
            "SELECT COUNT(*), COUNT(actor_id), COUNT(subject_id), "
            "SUM(actor_id IS NOT NULL AND actor_id <> subject_id) FROM activity_log"
        ).fetchone()
        assert 6 <= total / PEOPLE <= 10
        assert with_subject == total
        assert 0 < foreign_actor < with_actor < total
        for (details,) in db.execute("SELECT details FROM activity_log LIMIT 200"):
            assert isinstance(json.loads(details), dict)

    def test_timestamps_are_iso_utc_and_in_order(self, db: sqlite3.Connection) -> None:
        for created_at, last_login_at in db.execute("SELECT created_at, last_login_at FROM people"):
            created = datetime.fromisoformat(created_at)
            assert created.tzinfo is not None
            assert created.utcoffset() == UTC.utcoffset(None)
            assert created <= NOW
            if last_login_at is not None:
                assert created <= datetime.fromisoformat(last_login_at) <= NOW
        bad = db.execute(
            "SELECT COUNT(*) FROM hardware_assignments WHERE returned_at < assigned_at"
        ).fetchone()[0] + db.execute(
            "SELECT COUNT(*) FROM software_assignments WHERE revoked_at < assigned_at"
        ).fetchone()[0]
        assert bad == 0

    def test_file_is_in_wal_mode(self, db: sqlite3.Connection) -> None:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


class TestDeterminism:
    def test_same_seed_gives_the_same_rows(self, tmp_path: Path) -> None:
        first, second, other = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
        for path, seed in ((first, 3), (second, 3), (other, 4)):
            generate_demo_datastore(path, people=300, seed=seed, progress=False, now=NOW)
        assert table_dump(first) == table_dump(second)
        assert table_dump(first)["people"] != table_dump(other)["people"]


class TestRefusingPopulatedFiles:
    def test_second_run_refuses_and_leaves_the_file_unchanged(self, tmp_path: Path) -> None:
        path = tmp_path / "demo.db"
        generate_demo_datastore(path, people=100, progress=False, now=NOW)
        before = file_state(path)
        assert datastore_is_populated(path)
        with pytest.raises(FileExistsError, match="already holds data"):
            generate_demo_datastore(path, people=100, progress=False, now=NOW)
        assert file_state(path) == before

    def test_a_file_that_is_not_sqlite_is_never_overwritten(self, tmp_path: Path) -> None:
        path = tmp_path / "notes.db"
        path.write_text("not a database\n")
        assert datastore_is_populated(path)
        with pytest.raises(FileExistsError):
            generate_demo_datastore(path, people=10, progress=False)
        assert path.read_text() == "not a database\n"

    @pytest.mark.parametrize("content", ["missing", "zero-bytes", "empty-schema"])
    def test_missing_or_empty_files_are_filled(self, tmp_path: Path, content: str) -> None:
        path = tmp_path / "demo.db"
        if content == "zero-bytes":
            path.touch()
        elif content == "empty-schema":
            with closing(sqlite3.connect(path)) as conn:
                conn.execute("CREATE TABLE leftovers (id INTEGER)")
        assert not datastore_is_populated(path)
        summary = generate_demo_datastore(path, people=50, progress=False, now=NOW)
        assert datastore_is_populated(path)
        assert summary.counts["people"] == 50

    def test_an_interrupted_run_leaves_nothing_behind(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "demo.db"
        monkeypatch.setattr(generate, "PEOPLE_PER_TRANSACTION", 50)
        calls = 0
        original = generate._Generator._write_batch

        def fail_on_third(self: generate._Generator, *args: object) -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise KeyboardInterrupt
            original(self, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(generate._Generator, "_write_batch", fail_on_third)
        with pytest.raises(KeyboardInterrupt):
            generate_demo_datastore(path, people=400, progress=False, now=NOW)
        assert list(tmp_path.iterdir()) == []
        monkeypatch.undo()
        generate_demo_datastore(path, people=400, progress=False, now=NOW)
        assert datastore_is_populated(path)


class TestDemoPeopleSample:
    def test_hints_start_with_a_super_admin_and_mix_erasable_and_blocked(
        self, generated: tuple[Path, DemoSummary], db: sqlite3.Connection
    ) -> None:
        path, _ = generated
        hints = demo_people_sample(path, 2, 6)
        assert len(hints) == 6
        assert hints[0].role == "super-admin"
        assert hints[1].role in ("admin", "it-admin")
        members = [hint for hint in hints if hint.role == "member"]
        assert {hint.has_active_assignments for hint in members} == {True, False}
        for hint in hints:
            workspace_id, email, role = db.execute(
                "SELECT workspace_id, email, role FROM people WHERE id = ?", (hint.id,)
            ).fetchone()
            assert (workspace_id, email, role) == (2, hint.email, hint.role)
        erasable_ids = {
            hint.id for hint in hints if not hint.has_active_assignments
        }
        for person_id in erasable_ids:
            assert db.execute(
                "SELECT COUNT(*) FROM hardware_assignments WHERE person_id = ? "
                "AND returned_at IS NULL", (person_id,)
            ).fetchone()[0] == 0

    def test_limit_is_respected(self, generated: tuple[Path, DemoSummary]) -> None:
        assert len(demo_people_sample(generated[0], 1, 1)) == 1
