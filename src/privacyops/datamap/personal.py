"""Does a column hold personal data? A guess from its name and from a sample of its values.

Used by the drift report (columns the map does not mention) and by the draft. A guess is only a
prompt for a person to look: it names its evidence (``name looks like an email column``,
``412 of 1000 sampled values look like IBANs``) so the reviewer can judge it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

SAMPLE_SIZE = 1000
# A pattern must match this share of the sampled values to count (free text: its own share).
MATCH_SHARE = 0.5
FREE_TEXT_SHARE = 0.2
FREE_TEXT_LENGTH = 40

# (pattern on the column name, what it suggests); first match wins.
PERSONAL_NAMES: tuple[tuple[str, str], ...] = (
    (r"e_?mail", "an email address"),
    (r"phone|mobile|(^|_)fax", "a phone number"),
    (r"(^|_)(first_|last_|full_|display_|given_|family_|sur|nick)?name$", "a name"),
    (r"birth|(^|_)dob($|_)", "a date of birth"),
    (r"address|street|line[12]|post_?code|(^|_)zip|(^|_)city", "a postal address"),
    (r"(^|_)ip($|_)|ip_address|user_agent|device", "a device or network address"),
    (r"iban|(^|_)bic($|_)|account_number|card|salary|income", "financial data"),
    (r"insurance_number|passport|national_id|(^|_)ssn($|_)|tax_id|licen[cs]e_number",
     "an official identifier"),
    (r"note|(^|_)body$|message|comment|reason|description|diagnos|symptom|prescri|allerg",
     "free text about someone"),
    (r"password|passwd|secret|token|api_key", "a credential"),
    (r"gender|religio|ethnic|politic|union|health|medical|clinical|disab|orientation",
     "a special category (GDPR Art. 9)"),
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
IPV6 = re.compile(r"^[0-9A-Fa-f:]{2,39}$")
IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
CARD = re.compile(r"^\d{13,19}$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
POSTAL_CODE = re.compile(
    r"^(\d{5}(-\d{4})?|\d{4} ?[A-Z]{2}|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|[A-Z]\d[A-Z] ?\d[A-Z]\d)$"
)


def name_suggests(column: str) -> str | None:
    """What a column's name suggests it holds, or None when the name says nothing personal."""
    for pattern, meaning in PERSONAL_NAMES:
        if re.search(pattern, column, re.IGNORECASE):
            return meaning
    return None


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not IBAN.match(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _birth_date(value: Any) -> bool:
    if isinstance(value, datetime):
        return False
    if isinstance(value, date):
        year = value.year
    elif isinstance(value, str) and (match := ISO_DATE.match(value.strip())):
        year = int(match.group(1))
    else:
        return False
    return 1900 <= year <= datetime.now(tz=UTC).year - 13


def _ip(text: str) -> bool:
    match = IPV4.match(text)
    if match:
        return all(int(part) <= 255 for part in match.groups())
    return ":" in text and text.count(":") >= 2 and bool(IPV6.match(text))


VALUE_PATTERNS: tuple[tuple[str, Any], ...] = (
    ("email addresses", lambda t: bool(EMAIL.match(t))),
    ("IBANs", _iban),
    ("card numbers", lambda t: bool(CARD.match(t.replace(" ", ""))) and _luhn(t.replace(" ", ""))),
    ("IP addresses", _ip),
    ("postal codes", lambda t: bool(POSTAL_CODE.match(t.upper()))),
    ("phone numbers", lambda t: bool(PHONE.match(t)) and sum(c.isdigit() for c in t) >= 7
     and not ISO_DATE.match(t)),
)


def values_suggest(values: Iterable[Any]) -> str | None:
    """What sampled values look like (``"830 of 1000 sampled values look like email addresses"``).

    Only non-null values count. Numbers are not judged (an integer id looks like anything).
    """
    sample = [v for v in values if v is not None]
    if not sample:
        return None
    total = len(sample)
    births = sum(_birth_date(v) for v in sample)
    if births and births >= MATCH_SHARE * total:
        return f"{births} of {total} sampled values look like dates of birth"
    texts = [v.strip() for v in sample if isinstance(v, str) and v.strip()]
    if not texts:
        return None
    for what, matches in VALUE_PATTERNS:
        hits = sum(1 for t in texts if matches(t))
        if hits and hits >= MATCH_SHARE * total:
            return f"{hits} of {total} sampled values look like {what}"
    long_texts = sum(1 for t in texts if len(t) > FREE_TEXT_LENGTH and " " in t)
    if long_texts and long_texts >= FREE_TEXT_SHARE * total:
        return (f"{long_texts} of {total} sampled values are free text longer than "
                f"{FREE_TEXT_LENGTH} characters")
    return None
