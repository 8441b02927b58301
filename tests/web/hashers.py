"""A password hasher that counts its work: the oracle for "how many passwords were checked"."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingHasher(MD5PasswordHasher):
    """MD5 (fast, tests only) that counts every verify and every hash of a typed password."""

    checks: ClassVar[int] = 0
    _lock: ClassVar[threading.Lock] = threading.Lock()
    _inside: ClassVar[threading.local] = threading.local()

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.checks = 0

    @classmethod
    def _count(cls) -> None:
        with cls._lock:
            cls.checks += 1

    def verify(self, password: str, encoded: str) -> bool:
        self._count()
        self._inside.verifying = True
        try:
            return super().verify(password, encoded)
        finally:
            self._inside.verifying = False

    def encode(self, password: str, salt: str, *args: Any, **kwargs: Any) -> str:
        # Django hashes the typed password once for an unknown account (timing parity);
        # verify() encodes too, and that is the same check.
        if not getattr(self._inside, "verifying", False):
            self._count()
        return super().encode(password, salt, *args, **kwargs)
