"""One spelling per account: the sign-in identity as authentication sees it.

Sign-in, the sign-in throttle, account creation and the CLI all pass what was typed through
`login_identity`, so `" Staff@Example.com\t"` and `staff@example.com` typed with a fullwidth `s`
(U+FF53) name the same account and share one failure counter: no spelling gets tries of its own.
"""

from __future__ import annotations

import unicodedata


def login_identity(raw: str) -> str:
    """NFKC (fullwidth and compatibility forms become plain ones), trimmed, case-folded."""
    return unicodedata.normalize("NFKC", raw or "").strip().casefold()
