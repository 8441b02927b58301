"""ERASE writes exactly what each column declares, and reports exactly what it changed.

The library schema (written here) has what the shop lacks: a pseudonym naming the tenant, a
hashed column on the subject, markers on text and integer columns (``now`` and a fixed
value), a reader erased once already whose name came back with an import, visits whose
address is missing, already hashed or shared, and exactly as many distinct addresses as one
hashing statement takes on SQLite. Oracles: the rows as the test wrote them, HMAC-SHA256 computed
here from its definition, and the clock read around the call.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, text

from privacyops.connectors import Target
from privacyops.connectors.sql import SqlDatastore
from privacyops.datamap import load_datamap
from tests.connectors.conftest import HASH_KEY, StatementCounter, fetch_rows, table_checksums

DATAMAP = """
version: 1
name: library
connection:
  url_env: LIBRARY_DATABASE_URL
tenant_column: branch_id
subject:
  entity: readers
  identity_fields: [email]
  display_fields: {name: name, email: email}
  erased_marker: {column: erased_at, value: now}
  soft_delete: {column: deleted, value: 1}
entities:
  readers:
    table: readers
    primary_key: id
    fields:
      id: {category: identity}
      email: {category: contact, erase: {pseudonym: "reader-{id}@branch-{tenant}.invalid"}}
      name: {category: identity, erase: {set: Erased reader}}
      phone: {category: contact, erase: null}
      card_number: {category: identity, erase: hash}
      erased_at: {category: technical, export: false}
      deleted: {category: technical, export: false}
  visits:
    table: visits
    primary_key: id
    relations:
      - {to: subject, via: reader_id}
    fields:
      ip: {category: technical, erase: hash}
      note: {category: free_text, erase: {set: ""}}
"""


def digest(value: str) -> str:
    """The documented hash: HMAC-SHA256 of the value's UTF-8 text with the tenant's key."""
    return hmac.new(HASH_KEY, value.encode("utf-8"), hashlib.sha256).hexdigest()


AT = datetime(2026, 3, 4, 5, 6, 7, 891, tzinfo=UTC)
EARLIER = "2026-01-01T00:00:00Z"
MANY = 399  # reader 1's addresses in 10.0/16; with 192.0.2.7, 400: one SQLite statement's worth
# Reader 1 (branch 1) has never been erased. Reader 2 (branch 1) was erased on 1 January and
# a later import put a name back. Reader 3 (branch 2) has reader 1's card number and one of
# its addresses. Reader 4 (branch 1) has two visits.
READERS = [
    {"id": 1, "branch_id": 1, "email": "ann@example.com", "name": "Ann", "phone": "+1-555-0001",
     "card_number": "C-0001", "erased_at": None, "deleted": 0},
    {"id": 2, "branch_id": 1, "email": "reader-2@branch-1.invalid", "name": "Bea",
     "phone": None, "card_number": digest("C-0002"), "erased_at": EARLIER, "deleted": 1},
    {"id": 3, "branch_id": 2, "email": "cy@example.com", "name": "Cy", "phone": "+1-555-0003",
     "card_number": "C-0001", "erased_at": None, "deleted": 0},
    {"id": 4, "branch_id": 1, "email": "di@example.com", "name": "Di", "phone": None,
     "card_number": None, "erased_at": None, "deleted": 0},
]
VISITS = (
    [{"id": k, "branch_id": 1, "reader_id": 1, "ip": f"10.0.{k // 256}.{k % 256}",
      "note": f"visit {k}"} for k in range(1, MANY + 1)]
    + [
        # Reader 1: two visits from one address, one without an address, one with nothing
        # left to erase (no address, empty note), one hashed by an earlier, interrupted erase.
        {"id": 901, "branch_id": 1, "reader_id": 1, "ip": "192.0.2.7", "note": "a"},
        {"id": 902, "branch_id": 1, "reader_id": 1, "ip": "192.0.2.7", "note": "b"},
        {"id": 903, "branch_id": 1, "reader_id": 1, "ip": None, "note": "no address"},
        {"id": 904, "branch_id": 1, "reader_id": 1, "ip": None, "note": ""},
        {"id": 905, "branch_id": 1, "reader_id": 1, "ip": digest("192.0.2.9"), "note": "c"},
        # Reader 2: already erased. Reader 3: the other branch, reader 1's address.
        {"id": 921, "branch_id": 1, "reader_id": 2, "ip": digest("192.0.2.8"), "note": ""},
        {"id": 931, "branch_id": 2, "reader_id": 3, "ip": "192.0.2.7", "note": "d"},
        {"id": 932, "branch_id": 2, "reader_id": 3, "ip": "198.51.100.3", "note": "e"},
        {"id": 941, "branch_id": 1, "reader_id": 4, "ip": "203.0.113.1", "note": "f"},
        {"id": 942, "branch_id": 1, "reader_id": 4, "ip": "203.0.113.2", "note": "g"},
    ]
)


@pytest.fixture
def library(database_url: str, tmp_path: Path) -> Iterator[tuple[str, SqlDatastore]]:
    engine = create_engine(database_url)
    metadata = MetaData()
    readers = Table(
        "readers", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
        Column("branch_id", Integer, nullable=False), Column("email", Text, nullable=False),
        Column("name", Text, nullable=False), Column("phone", Text),
        Column("card_number", Text), Column("erased_at", Text),
        Column("deleted", Integer, nullable=False))
    visits = Table(
        "visits", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
        Column("branch_id", Integer, nullable=False), Column("reader_id", Integer),
        Column("ip", Text), Column("note", Text, nullable=False))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(readers), READERS)
        # Highest ids first, so the table's own order is not the order of its keys.
        conn.execute(insert(visits), list(reversed(VISITS)))
    engine.dispose()
    path = tmp_path / "library.yaml"
    path.write_text(DATAMAP)
    store = SqlDatastore(load_datamap(path), database_url, hash_key=HASH_KEY)
    yield database_url, store
    store.close()


def test_each_column_gets_its_declared_value(library) -> None:
    url, store = library

    store.erase(Target("subject", "1", "1"), at=AT)

    assert fetch_rows(url, "readers")[1] == {
        "id": 1, "branch_id": 1, "email": "reader-1@branch-1.invalid", "name": "Erased reader",
        "phone": None, "card_number": digest("C-0001"), "erased_at": "2026-03-04T05:06:07Z",
        "deleted": 1}
    visits = fetch_rows(url, "visits")
    for row in VISITS:
        if row["reader_id"] != 1:
            continue
        ip = row["ip"]
        expected = ip if ip is None or len(ip) == 64 else digest(ip)
        assert (visits[row["id"]]["ip"], visits[row["id"]]["note"]) == (expected, ""), row
    assert visits[901]["ip"] == visits[902]["ip"] == digest("192.0.2.7")
    # Reader 3 in branch 2 shares the card number and an address: untouched.
    assert fetch_rows(url, "readers")[3] == READERS[2]
    assert visits[931]["ip"] == "192.0.2.7"


def test_the_report_counts_rows_and_columns_that_changed(library) -> None:
    """Visit 904 (no address, empty note) needs nothing and is not counted; visit 903's
    missing address is not a change to the address column."""
    _, store = library

    result = store.erase(Target("subject", "1", "1"), at=AT)

    assert result.by_table() == {"visits": MANY + 4, "readers": 1}
    assert {change.table: change.columns for change in result.tables} == {
        "visits": ("ip", "note"),
        "readers": ("email", "name", "phone", "card_number", "erased_at", "deleted"),
    }


def test_a_partly_erased_reader_gets_only_what_is_missing(library) -> None:
    """Reader 2 was erased on 1 January; an import then put her name back. A new ERASE
    writes the name, keeps the first erasure's date, and reports the one column."""
    url, store = library
    before = table_checksums(url)

    result = store.erase(Target("subject", "2", "1"), at=AT)

    assert fetch_rows(url, "readers")[2] == READERS[1] | {"name": "Erased reader"}
    assert result.by_table() == {"readers": 1}
    assert [change.columns for change in result.tables] == [("name",)]
    assert table_checksums(url)["visits"] == before["visits"]


def test_the_erased_marker_is_the_moment_of_the_erase(library) -> None:
    url, store = library
    started = datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")

    store.erase(Target("subject", "1", "1"))

    finished = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert started <= fetch_rows(url, "readers")[1]["erased_at"] <= finished


def test_a_second_erase_changes_nothing(library) -> None:
    url, store = library
    store.erase(Target("subject", "1", "1"), at=AT)
    once = table_checksums(url)

    again = store.erase(Target("subject", "1", "1"), at=datetime(2027, 1, 1, tzinfo=UTC))

    assert again.tables == ()
    assert table_checksums(url) == once


def test_hashing_statements_on_each_engine(library) -> None:
    """The module's promise: one UPDATE per hashed column on PostgreSQL, of the same text
    whatever the number of values (the values travel as arrays); elsewhere one per 400
    distinct values of the subject's own rows (reader 1 has exactly 400 to hash)."""
    url, store = library
    assert not store.reflected.issues  # reflect before counting
    counter = StatementCounter(store.engine)

    def hashing(reader: str) -> list[str]:
        counter.reset()
        store.erase(Target("subject", reader, "1"), at=AT)
        return [s for s in counter.statements
                if " ".join(s.split()).upper().startswith("UPDATE VISITS SET IP")]

    many, few = hashing("1"), hashing("4")

    assert (len(many), len(few)) == (1, 1)
    if url.startswith("postgresql"):
        assert many == few


def log_writes(url: str) -> None:
    """The organisation's own change log: a trigger per table records every row an UPDATE
    writes, even with the values it already had."""
    engine = create_engine(url)
    metadata = MetaData()
    Table("writes", metadata, Column("n", Integer, primary_key=True),
          Column("tbl", Text, nullable=False), Column("row_id", Integer, nullable=False))
    metadata.create_all(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(
                "CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "INSERT INTO writes (tbl, row_id) VALUES (TG_TABLE_NAME, NEW.id); RETURN NEW; "
                "END $$"))
        for table in ("readers", "visits"):
            if engine.dialect.name == "postgresql":
                body = "EXECUTE FUNCTION log_write()"
            else:
                body = f"INSERT INTO writes (tbl, row_id) VALUES ('{table}', NEW.id)"  # noqa: S608 - our names
                if engine.dialect.name == "sqlite":
                    body = f"BEGIN {body}; END"
            conn.execute(text(f"CREATE TRIGGER {table}_written AFTER UPDATE ON {table} "
                              f"FOR EACH ROW {body}"))
    engine.dispose()


def writes(url: str) -> set[tuple[str, int]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {(row.tbl, row.row_id) for row in conn.execute(text("SELECT tbl, row_id FROM writes"))}
    engine.dispose()
    return found


def test_rows_that_need_nothing_are_not_written(library) -> None:
    """Rewriting a row with its own values is invisible in the row but not to the datastore's
    triggers (a change log, an updated_at): visit 904 and reader 2's visit need nothing."""
    url, store = library
    log_writes(url)

    store.erase(Target("subject", "1", "1"), at=AT)
    store.erase(Target("subject", "2", "1"), at=AT)

    reader_one = {row["id"] for row in VISITS if row["reader_id"] == 1} - {904}
    assert writes(url) == {("readers", 1), ("readers", 2)} | {("visits", k) for k in reader_one}


def test_an_interrupted_purge_has_removed_the_lowest_keys(library) -> None:
    """Chunks go lowest keys first whatever order the rows were stored in (the visits were
    inserted highest first), so a purge stopped after its first chunk leaves the highest."""
    url, store = library
    calls = 0

    def stop_at_the_second_chunk() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("legal hold")

    with pytest.raises(RuntimeError, match="legal hold"):
        store.purge(Target("subject", "1", "1"), chunk_size=100,
                    before_chunk_commit=stop_at_the_second_chunk)

    reader_one = sorted(row["id"] for row in VISITS if row["reader_id"] == 1)
    left = sorted(k for k, row in fetch_rows(url, "visits").items() if row["reader_id"] == 1)
    assert left == reader_one[100:]


CARD_OF_64 = "Library card of Di, issued at the Central Branch on 2021-03-04 9"


def test_a_plain_value_as_long_as_a_digest_is_hashed_too(library) -> None:
    """Only a 64-character lowercase hex text counts as already hashed: a card number that
    merely has 64 characters is personal data like any other and is hashed."""
    url, store = library
    assert len(CARD_OF_64) == 64
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE readers SET card_number = :c WHERE id = 4"), {"c": CARD_OF_64})
    engine.dispose()

    result = store.erase(Target("subject", "4", "1"), at=AT)

    assert fetch_rows(url, "readers")[4]["card_number"] == digest(CARD_OF_64)
    assert "card_number" in dict((c.table, c.columns) for c in result.tables)["readers"]
