"""The check after an ERASE: every column that still holds one of the person's identity values is
named, whatever its type.

A gym's schema (written here): members with an email and a numeric badge (both identity
fields), check-ins that keep the badge as an integer and a free-text remark. Counts and
timestamps are searched for a number or a date, not for an email. The oracle is the rows the
test wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    insert,
)

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import load_datamap
from tests.connectors.conftest import HASH_KEY

DATAMAP = """
version: 1
name: gym
connection:
  url_env: GYM_DATABASE_URL
subject:
  entity: members
  identity_fields: [email, badge]
  display_fields: {name: name, email: email}
entities:
  members:
    table: members
    primary_key: id
    fields:
      id: {category: identity}
      email: {category: contact, erase: {pseudonym: "member-{id}@gym.invalid"}}
      name: {category: identity, erase: {set: Erased member}}
      badge: {category: identity, erase: keep}
  checkins:
    table: checkins
    primary_key: id
    relations:
      - {to: subject, via: member_id}
    fields:
      badge_seen: {category: identity, erase: keep}
      remark: {category: free_text, erase: keep}
      visits: {category: technical, erase: keep}
"""


@pytest.fixture
def gym(database_url: str, tmp_path: Path) -> Iterator[SqlDatastore]:
    """The gym on SQLite, PostgreSQL and MariaDB (tests/connectors/conftest.py)."""
    engine = create_engine(database_url)
    metadata = MetaData()
    members = Table("members", metadata,
                    Column("id", Integer, primary_key=True, autoincrement=False),
                    Column("email", Text), Column("name", Text), Column("badge", Integer))
    checkins = Table("checkins", metadata,
                     Column("id", Integer, primary_key=True, autoincrement=False),
                     Column("member_id", Integer, ForeignKey("members.id")),
                     Column("badge_seen", Integer), Column("remark", Text),
                     Column("visits", Integer))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(members), [
            {"id": 1, "email": "Renée@Example.org", "name": "Renée", "badge": 4711},
            {"id": 2, "email": "other@example.org", "name": "Other", "badge": 4712}])
        conn.execute(insert(checkins), [
            {"id": 10, "member_id": 1, "badge_seen": 4711, "remark": " Renée@Example.ORG ",
             "visits": 3},
            {"id": 11, "member_id": 1, "badge_seen": 4711, "remark": "", "visits": 4711},
            {"id": 12, "member_id": 2, "badge_seen": 4712, "remark": "", "visits": 1}])
    engine.dispose()
    (tmp_path / "gym.yaml").write_text(DATAMAP)
    store = SqlDatastore(load_datamap(tmp_path / "gym.yaml"), database_url, hash_key=HASH_KEY)
    yield store
    store.close()


def test_an_email_the_map_keeps_in_a_text_column_is_named(gym):
    target = Target("subject", "1", None)
    gym.erase(target)
    problems = gym.verify_erased(target, {"email": "renée@example.org"})
    assert problems == ["checkins.remark: 1 row(s) still hold one of the subject's identity "
                        "values"]


def test_the_same_store_checks_an_email_then_a_number(gym):
    # What verification searches is built once per table and kind of value: an email first
    # must not stop a later number from being looked for in the integer columns.
    target = Target("subject", "1", None)
    gym.erase(target)
    assert len(gym.verify_erased(target, {"email": "renée@example.org"})) == 1
    assert len(gym.verify_erased(target, {"badge": "4711"})) == 3


def test_a_numeric_identity_kept_in_integer_columns_is_named(gym):
    target = Target("subject", "1", None)
    gym.erase(target)
    problems = gym.verify_erased(target, {"badge": "4711"})
    # Kept by the map, the badge is still in the member's row and both check-ins; a count
    # that happens to equal it (visits = 4711 on check-in 11) is still that value.
    assert sorted(problems) == [
        "checkins.badge_seen: 2 row(s) still hold one of the subject's identity values",
        "checkins.visits: 1 row(s) still hold one of the subject's identity values",
        "members.badge: 1 row(s) still hold one of the subject's identity values",
    ]
