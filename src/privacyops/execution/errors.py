"""Why a job may not run."""

from __future__ import annotations

from privacyops.errors import DomainError


class JobBlocked(DomainError):
    """A legal hold or a data-map precondition stands in the way (codes `legal_hold`,
    `precondition`), or the target does not exist (`target_not_found`)."""

    status = 409

    def __init__(self, message: str, *, code: str, hold_id: int | None = None) -> None:
        super().__init__(message, code=code)
        self.hold_id = hold_id


class LeaseLost(Exception):
    """Another worker took the job over; stop without writing more."""
