"""The chain's verdicts, word for word, on rows built here by hand (no database).

The oracle of every hash is the documented form computed in this file: SHA-256 of the previous
hash followed by the JSON array of the eleven canonical fields (sorted keys, no spaces, UTF-8
as is). Every verdict is compared whole: ok, count, the broken event and the sentence.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from privacyops.audit.chain import (
    ARCHIVED,
    GENESIS_HASH,
    RawJSON,
    Segment,
    Unreadable,
    VerifyResult,
    canonical_json,
    is_canonical_text,
    object_without_duplicates,
    stitch,
    verify_rows,
    verify_segment,
)

WHEN = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)


def spelled(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain(count: int, *, prev: str = GENESIS_HASH, first: int = 1) -> list[tuple]:
    """`count` linked rows: (*11 canonical fields, prev_hash, hash)."""
    rows = []
    for seq in range(first, first + count):
        fields = [seq, WHEN.isoformat(timespec="microseconds"), 7, "user", str(seq),
                  "zoë@example.com", "job.approved", "job", str(100 + seq), "success",
                  {"b": [1, "é"], "a": None}]
        digest = hashlib.sha256((prev + spelled(fields)).encode()).hexdigest()
        rows.append((*fields, prev, digest))
        prev = digest
    return rows


def edited(row: tuple, index: int, value) -> tuple:
    return (*row[:index], value, *row[index + 1:])


class TestHead:
    def test_an_intact_chain_and_its_head(self):
        rows = chain(3)
        assert verify_rows(rows, head=(3, rows[-1][-1])) == VerifyResult(True, 3)

    def test_events_removed_from_the_end(self):
        rows = chain(3)
        assert verify_rows(rows[:2], head=(3, rows[-1][-1])) == VerifyResult(
            False, 2, 3, "the chain head records 3 events but 2 are stored (events removed "
                         "from the end).")

    def test_events_added_after_the_head(self):
        rows = chain(4)
        assert verify_rows(rows, head=(2, rows[1][-1])) == VerifyResult(
            False, 4, 3, "the chain head records 2 events but 4 are stored (events added "
                         "after the head, outside the audit log).")

    def test_the_last_event_rewritten_with_its_hash(self):
        rows = chain(3)
        assert verify_rows(rows, head=(3, "f" * 64)) == VerifyResult(
            False, 3, 3, "its hash does not match the chain head (the last event was "
                         "rewritten).")

    def test_no_head_no_rows(self):
        assert verify_rows([], head=None) == VerifyResult(True, 0)
        assert verify_rows([], head=(0, GENESIS_HASH)) == VerifyResult(True, 0)


class TestSegment:
    def test_an_intact_stretch_says_where_it_starts_and_ends(self):
        rows = chain(5)
        assert verify_segment(rows[2:], start_seq=3, start_prev=None) == Segment(
            3, 3, rows[1][-1], rows[-1][-1])
        assert verify_segment(rows, start_seq=1, start_prev=GENESIS_HASH) == Segment(
            5, 1, GENESIS_HASH, rows[-1][-1])

    def test_a_stretch_whose_first_link_is_wrong(self):
        rows = chain(2)
        found = verify_segment(rows, start_seq=1, start_prev="e" * 64)
        assert found == Segment(0, 1, GENESIS_HASH, "e" * 64, VerifyResult(
            False, 0, 1, "its previous-hash does not match the event before it."), False)

    def test_a_sequence_number_that_is_not_a_whole_number(self):
        rows = chain(3)
        found = verify_segment([rows[0], edited(rows[1], 0, "2")], start_seq=1,
                               start_prev=GENESIS_HASH)
        assert found == Segment(1, 1, GENESIS_HASH, rows[0][-1], VerifyResult(
            False, 1, 2, "its sequence number is not a whole number (edited)."), False)
        first = verify_segment([edited(rows[0], 0, 1.0)], start_seq=1, start_prev=GENESIS_HASH)
        assert first == Segment(0, None, None, GENESIS_HASH, VerifyResult(
            False, 0, 1, "its sequence number is not a whole number (edited)."), True)

    def test_a_missing_event(self):
        rows = chain(4)
        found = verify_segment([rows[0], rows[2]], start_seq=1, start_prev=GENESIS_HASH)
        assert found == Segment(1, 1, GENESIS_HASH, rows[0][-1], VerifyResult(
            False, 1, 2, "event #2 is missing (found #3)."), False)
        first = verify_segment(rows[2:], start_seq=2, start_prev=None)
        assert first == Segment(0, 3, rows[1][-1], None, VerifyResult(
            False, 0, 2, "event #2 is missing (found #3)."), True)

    def test_an_event_out_of_sequence(self):
        rows = chain(3)
        found = verify_segment([rows[0], rows[1], rows[0]], start_seq=1, start_prev=GENESIS_HASH)
        assert found == Segment(2, 1, GENESIS_HASH, rows[1][-1], VerifyResult(
            False, 2, 1, "it is out of sequence: the chain expects #3 here."), False)

    def test_edited_content_is_named(self):
        rows = chain(3)
        found = verify_segment([rows[0], edited(rows[1], 5, "mallory@example.com"), rows[2]],
                               start_seq=1, start_prev=GENESIS_HASH)
        assert found == Segment(1, 1, GENESIS_HASH, rows[0][-1], VerifyResult(
            False, 1, 2, "its content does not match its hash (edited)."), False)

    def test_an_unreadable_value_gives_its_own_reason(self):
        rows = chain(2)
        found = verify_segment([rows[0], edited(rows[1], 1, Unreadable("its time is odd."))],
                               start_seq=1, start_prev=GENESIS_HASH)
        assert found.failure == VerifyResult(False, 1, 2, "its time is odd.")

    def test_a_value_of_a_type_never_written(self):
        rows = chain(1)
        found = verify_segment([edited(rows[0], 10, {"when": WHEN})], start_seq=1,
                               start_prev=GENESIS_HASH)
        assert found.failure == VerifyResult(
            False, 0, 1, "a stored value has a type the audit log never writes (edited).")

    def test_stored_metadata_text_hashed_byte_for_byte(self):
        rows = chain(2)
        text = spelled(rows[1][10])
        assert verify_segment([rows[0], edited(rows[1], 10, RawJSON(text))], start_seq=1,
                              start_prev=GENESIS_HASH) == Segment(2, 1, GENESIS_HASH,
                                                                  rows[1][-1])
        duplicated = RawJSON('{"a":null,"a":null,"b":[1,"é"]}')
        found = verify_segment([edited(rows[0], 10, duplicated)], start_seq=1,
                               start_prev=GENESIS_HASH)
        assert found.failure == VerifyResult(
            False, 0, 1, "its stored metadata is not spelled canonically (duplicate keys, key "
                         "order or spacing), so the database may read other values than the "
                         "ones hashed (edited).")

    def test_an_archived_event_keeps_its_link(self):
        rows = chain(3)
        middle = edited(rows[1], 10, ARCHIVED)
        assert verify_segment([rows[0], middle, rows[2]], start_seq=1,
                              start_prev=GENESIS_HASH) == Segment(3, 1, GENESIS_HASH,
                                                                  rows[2][-1])

    def test_a_time_read_as_a_datetime_is_hashed_as_its_text(self):
        """The database may hand created_at back as a datetime: it is hashed as the
        isoformat text with microseconds, as written."""
        rows = chain(2)
        as_read = [edited(row, 1, WHEN) for row in rows]
        assert verify_rows(as_read, head=(2, rows[-1][-1])) == VerifyResult(True, 2)

    def test_the_event_after_an_archived_one_must_link_to_it(self):
        """#3 is re-chained from another hash: its own hash is right, its link is not."""
        rows = [*chain(2), *chain(1, prev="e" * 64, first=3)]
        archived = [rows[0], edited(rows[1], 10, ARCHIVED), rows[2]]
        assert verify_rows(archived, head=(3, rows[2][-1])) == VerifyResult(
            False, 2, 3, "its previous-hash does not match the event before it.")


class TestStitch:
    def test_stretches_verified_apart_give_the_whole_walk_s_verdict(self):
        rows = chain(6)
        parts = [(1, verify_segment(rows[:3], start_seq=1, start_prev=GENESIS_HASH)),
                 (4, verify_segment(rows[3:], start_seq=4, start_prev=None))]
        assert stitch(parts, head=(6, rows[-1][-1])) == VerifyResult(True, 6)

    def test_a_broken_second_stretch_counts_the_first(self):
        rows = chain(6)
        bad = [rows[3], edited(rows[4], 8, "999"), rows[5]]
        parts = [(1, verify_segment(rows[:3], start_seq=1, start_prev=GENESIS_HASH)),
                 (4, verify_segment(bad, start_seq=4, start_prev=None))]
        assert stitch(parts, head=(6, rows[-1][-1])) == verify_rows(
            [*rows[:4], edited(rows[4], 8, "999"), rows[5]], head=(6, rows[-1][-1])) == \
            VerifyResult(False, 4, 5, "its content does not match its hash (edited).")

    def test_a_second_stretch_starting_with_a_bad_sequence_number(self):
        rows = chain(4)
        parts = [(1, verify_segment(rows[:2], start_seq=1, start_prev=GENESIS_HASH)),
                 (3, verify_segment([edited(rows[2], 0, "3"), rows[3]], start_seq=3,
                                    start_prev=None))]
        assert stitch(parts, head=(4, rows[-1][-1])) == VerifyResult(
            False, 2, 3, "its sequence number is not a whole number (edited).")


    def test_a_second_stretch_linked_to_another_chain(self):
        """#4 to #6 are a chain of their own, re-linked from a hash that is not #3's."""
        rows = chain(3) + chain(3, prev="e" * 64, first=4)
        parts = [(1, verify_segment(rows[:3], start_seq=1, start_prev=GENESIS_HASH)),
                 (4, verify_segment(rows[3:], start_seq=4, start_prev=None))]
        assert stitch(parts, head=(6, rows[-1][-1])) == verify_rows(
            rows, head=(6, rows[-1][-1])) == VerifyResult(
            False, 3, 4, "its previous-hash does not match the event before it.")

    def test_a_second_stretch_starting_with_an_event_already_seen(self):
        """The sequence is checked before the link, as in one walk: #3 again is out of
        sequence (its link to #2 is not the question)."""
        rows = chain(4)
        parts = [(1, verify_segment(rows[:3], start_seq=1, start_prev=GENESIS_HASH)),
                 (4, verify_segment(rows[2:], start_seq=4, start_prev=None))]
        assert stitch(parts, head=(4, rows[-1][-1])) == verify_rows(
            [*rows[:3], *rows[2:]], head=(4, rows[-1][-1])) == VerifyResult(
            False, 3, 3, "it is out of sequence: the chain expects #4 here.")

    def test_a_stretch_with_no_rows_in_the_middle_is_a_gap_not_the_end(self):
        """Stretches verified in parallel: #4 and #5 are gone, so the middle one is empty."""
        rows = chain(7)
        parts = [(1, verify_segment(rows[:3], start_seq=1, start_prev=GENESIS_HASH)),
                 (4, verify_segment([], start_seq=4, start_prev=None)),
                 (6, verify_segment(rows[5:], start_seq=6, start_prev=None))]
        assert stitch(parts, head=(7, rows[-1][-1])) == VerifyResult(
            False, 3, 4, "event #4 is missing (found #6).")

    def test_no_stretches_at_all(self):
        assert stitch([], head=None) == VerifyResult(True, 0)
        assert stitch([], head=(2, "a" * 64)) == VerifyResult(
            False, 0, 1, "the chain head records 2 events but 0 are stored (events removed "
                         "from the end).")


class TestCanonicalText:
    def test_the_canonical_spelling(self):
        assert canonical_json({"b": [1, "é"], "a": None}) == '{"a":null,"b":[1,"é"]}'

    @pytest.mark.parametrize("text", ['{"a":1,"a":1}', '{"a": 1}', '{"b":1,"a":2}', "{", "[1,]"])
    def test_anything_else_is_not_canonical(self, text):
        assert is_canonical_text(text) is False

    def test_canonical_text_is(self):
        assert is_canonical_text('{"a":[1,{"b":"é"}]}') is True

    def test_duplicate_keys_are_refused_by_name(self):
        with pytest.raises(ValueError, match=r"^duplicate key$"):
            object_without_duplicates([("a", 1), ("a", 2)])
        assert object_without_duplicates([("a", 1), ("b", 2)]) == {"a": 1, "b": 2}

    def test_unreadable_keeps_its_reason(self):
        assert Unreadable("the time has no zone.").reason == "the time has no zone."
