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
from sqlalchemy import create_engine, text

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
def gym(tmp_path: Path) -> Iterator[SqlDatastore]:
    path = tmp_path / "gym.sqlite3"
    (tmp_path / "gym.yaml").write_text(DATAMAP)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE members (id INTEGER PRIMARY KEY, email TEXT, "
                          "name TEXT, badge INTEGER)"))
        conn.execute(text("CREATE TABLE checkins (id INTEGER PRIMARY KEY, member_id INTEGER "
                          "REFERENCES members(id), badge_seen INTEGER, remark TEXT, "
                          "visits INTEGER)"))
        conn.execute(text("INSERT INTO members VALUES (1, 'Renée@Example.org', 'Renée', 4711), "
                          "(2, 'other@example.org', 'Other', 4712)"))
        conn.execute(text("INSERT INTO checkins VALUES (10, 1, 4711, ' Renée@Example.ORG ', 3), "
                          "(11, 1, 4711, '', 4711), (12, 2, 4712, '', 1)"))
    engine.dispose()
    store = SqlDatastore(load_datamap(tmp_path / "gym.yaml"), f"sqlite:///{path}",
                         hash_key=HASH_KEY)
    yield store
    store.close()


def test_an_email_the_map_keeps_in_a_text_column_is_named(gym):
    target = Target("subject", "1", None)
    gym.erase(target)
    problems = gym.verify_erased(target, {"email": "renée@example.org"})
    assert problems == ["checkins.remark: 1 row(s) still hold one of the subject's identity "
                        "values"]


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
