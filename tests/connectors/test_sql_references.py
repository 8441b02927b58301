"""A purge clears every pointer to the rows it deletes, and only its own tenant's.

The club schema (written here) has what the shop lacks: an entity with several references, the
first of them to another entity, and pointer values that another tenant's rows hold too (the
clubs share one table, and a careless import left club 2's rows pointing at the same numbers).
Oracles: the rows as the test wrote them, and each table's row checksums.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.connectors.sql_write import detach_references
from privacyops.datamap import load_datamap
from tests.connectors.conftest import HASH_KEY, fetch_rows, table_checksums

DATAMAP = """
version: 1
name: clubs
connection:
  url_env: CLUBS_DATABASE_URL
tenant_column: club_id
subject:
  entity: members
  identity_fields: [email]
  display_fields: {name: name, email: email}
entities:
  venues:
    table: venues
    primary_key: id
    references:
      - {to: members, via: caretaker_id}
    fields:
      name: {category: other}
  members:
    table: members
    primary_key: id
    references:
      - {to: members, via: mentor_id}
    fields:
      id: {category: identity}
      email: {category: contact, erase: {pseudonym: "erased-{id}@clubs.invalid"}}
      name: {category: identity, erase: {set: Erased member}}
  meetings:
    table: meetings
    primary_key: id
    references:
      - {to: venues, via: venue_id}
      - {to: members, via: organiser_id}
      - {to: members, via: minute_taker_id}
    fields:
      title: {category: other}
"""

# Members 11, 12 (club 1) and 21, 22 (club 2). Club 2's meeting 203 and venue 202 point at 11
# and 12: the same numbers as club 1's members.
ROWS = {
    "members": [
        {"id": 11, "club_id": 1, "email": "a@club1.example", "name": "Ada", "mentor_id": None},
        {"id": 12, "club_id": 1, "email": "b@club1.example", "name": "Bo", "mentor_id": 11},
        {"id": 21, "club_id": 2, "email": "c@club2.example", "name": "Cy", "mentor_id": 11},
        {"id": 22, "club_id": 2, "email": "d@club2.example", "name": "Di", "mentor_id": 21},
    ],
    "venues": [
        {"id": 101, "club_id": 1, "name": "Hall", "caretaker_id": 11},
        {"id": 202, "club_id": 2, "name": "Barn", "caretaker_id": 11},
    ],
    "meetings": [
        {"id": 1001, "club_id": 1, "title": "AGM", "venue_id": 101, "organiser_id": 11,
         "minute_taker_id": 12},
        {"id": 1002, "club_id": 1, "title": "Picnic", "venue_id": 101, "organiser_id": 12,
         "minute_taker_id": 11},
        {"id": 2003, "club_id": 2, "title": "Fair", "venue_id": 202, "organiser_id": 11,
         "minute_taker_id": 11},
    ],
}


def _metadata() -> MetaData:
    metadata = MetaData()
    Table("members", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("club_id", Integer, nullable=False), Column("email", Text, nullable=False),
          Column("name", Text, nullable=False), Column("mentor_id", Integer))
    Table("venues", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("club_id", Integer, nullable=False), Column("name", Text, nullable=False),
          Column("caretaker_id", Integer))
    Table("meetings", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
          Column("club_id", Integer, nullable=False), Column("title", Text, nullable=False),
          Column("venue_id", Integer), Column("organiser_id", Integer),
          Column("minute_taker_id", Integer))
    return metadata


@pytest.fixture
def clubs(database_url: str, tmp_path: Path) -> Iterator[tuple[str, SqlDatastore]]:
    engine = create_engine(database_url)
    metadata = _metadata()
    metadata.create_all(engine)
    with engine.begin() as conn:
        for name, rows in ROWS.items():
            conn.execute(insert(metadata.tables[name]), rows)
    engine.dispose()
    path = tmp_path / "clubs.yaml"
    path.write_text(DATAMAP)
    store = SqlDatastore(load_datamap(path), database_url, hash_key=HASH_KEY)
    yield database_url, store
    store.close()


def pointers(url: str) -> dict[str, dict[int, tuple]]:
    return {
        "members": {k: (r["mentor_id"],) for k, r in fetch_rows(url, "members").items()},
        "venues": {k: (r["caretaker_id"],) for k, r in fetch_rows(url, "venues").items()},
        "meetings": {k: (r["venue_id"], r["organiser_id"], r["minute_taker_id"])
                     for k, r in fetch_rows(url, "meetings").items()},
    }


class TestPurgeClearsReferences:
    def test_every_pointer_of_the_tenant_to_the_purged_member_is_cleared(self, clubs) -> None:
        url, store = clubs
        before = table_checksums(url)

        store.purge(Target("subject", "11", "1"))

        assert pointers(url) == {
            "members": {12: (None,), 21: (11,), 22: (21,)},
            "venues": {101: (None,), 202: (11,)},
            "meetings": {1001: (101, None, 12), 1002: (101, 12, None), 2003: (202, 11, 11)},
        }
        after = table_checksums(url)
        club_two = {"members": (21, 22), "venues": (202,), "meetings": (2003,)}
        for table, keys in club_two.items():  # club 2's rows: not one byte changed
            for pk in keys:
                assert after[table][pk] == before[table][pk], (table, pk)

    def test_the_count_is_the_pointers_cleared(self, clubs) -> None:
        """Four pointers of club 1 name member 11 (a mentor, a caretaker, an organiser and a
        minute taker); club 2's three are not counted and stay."""
        url, store = clubs
        traversal = store.traversal(Target("subject", "11", "1"))
        with store._connect(write=True) as conn, conn.begin():
            cleared = detach_references(conn, traversal, "members")
        assert cleared == 4
        after = pointers(url)
        assert after["meetings"][2003] == (202, 11, 11)
        assert after["venues"][202] == (11,)
        assert after["members"][21] == (11,)

    def test_nothing_to_clear_counts_zero(self, clubs) -> None:
        url, store = clubs
        before = table_checksums(url)
        traversal = store.traversal(Target("subject", "22", "2"))
        with store._connect(write=True) as conn, conn.begin():
            assert detach_references(conn, traversal, "members") == 0
        assert table_checksums(url) == before
