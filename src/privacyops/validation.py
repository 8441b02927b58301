"""Text that operators and visitors type into ids, reasons and searches: refused with a
sentence when it carries characters that hide or rewrite what a reader sees.

Control characters (CR LF split log lines and CSV rows, NUL breaks PostgreSQL) and the Unicode
bidi controls (U+202E makes `gnp.exe` read as `exe.png`) have no business in an id; a reason
may span lines but carries no other control and no bidi control. Jobs, holds, the GDPR screen
and the searches call these, so one rule holds everywhere.
"""

from __future__ import annotations

import re

from privacyops.errors import ValidationFailed

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_ID_REFUSED = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")
_TEXT_REFUSED = re.compile(f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")
# Larger than any 64-bit key: refused before a database is asked (and overflows).
MAX_ID = 2**63 - 1


def _refused_character(value: str, pattern: re.Pattern[str]) -> str | None:
    found = pattern.search(value)
    return None if found is None else f"U+{ord(found.group(0)):04X}"


def clean_identifier(value: object, *, field: str, what: str, limit: int = 200,
                     required: bool = True) -> str:
    """An id as typed (stripped): not empty (unless not `required`), at most `limit`
    characters, no control or bidi character. `what` names it in the sentence ("target id")."""
    text = str(value if value is not None else "").strip()
    if not text and required:
        raise ValidationFailed(f"Type the {what}.", field=field)
    if len(text) > limit:
        raise ValidationFailed(f"The {what} is longer than {limit} characters.", field=field)
    bad = _refused_character(text, _ID_REFUSED)
    if bad is not None:
        raise ValidationFailed(
            f"The {what} contains an invisible control character ({bad}); type it again "
            "without line breaks, tabs or text-direction marks.", field=field)
    return text


def clean_text(value: object, *, field: str, what: str, limit: int,
               required: bool = False) -> str:
    """Free text such as a reason (stripped): line breaks and tabs allowed, no other control
    character and no bidi control."""
    text = str(value if value is not None else "").strip()
    if required and not text:
        raise ValidationFailed(f"Give a {what}.", field=field)
    if len(text) > limit:
        raise ValidationFailed(f"The {what} is longer than {limit} characters.", field=field)
    bad = _refused_character(text, _TEXT_REFUSED)
    if bad is not None:
        raise ValidationFailed(
            f"The {what} contains an invisible control character ({bad}); type it again "
            "without text-direction marks or other hidden characters.", field=field)
    return text


def clean_search(value: object, *, field: str = "q", limit: int = 200) -> str:
    """A search box: like an id, but empty is allowed."""
    return clean_identifier(value, field=field, what="search", limit=limit, required=False)


def parse_id(value: object, *, field: str, what: str) -> int:
    """A positive whole-number id in range of the database's keys, else a sentence."""
    text = str(value if value is not None else "").strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise ValidationFailed(f"The {what} must be a whole number from 1 to {MAX_ID}.",
                               field=field)
    return int(text)
