"""The map file of a manual system: who does the work by hand, and what they are asked to do.

A manual system (a paper archive, a vendor who deletes on request) has no database to read, so
its map says only whom to ask and how::

    connector: manual
    version: 1               # optional; 1 is the only version
    name: paper-archive
    owner: archive@example.com
    instructions:
      export: Copy the person's folder from cabinet B and scan it.
      erase: Shred the person's folder in cabinet B.
    deadline_days: 10        # optional; PRIVACYOPS_MANUAL_STEP_DAYS otherwise

Validated strictly like a data map: unknown keys are errors and every error names its path.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from privacyops.datamap.loader import DataMapError, Issue, _pydantic_issues, read_map_yaml

# What Django's EmailValidator accepts, in short: one @, a dot in the domain, no spaces.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_DEADLINE_DAYS = 365
TENANT = "tenant"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Instructions(_Strict):
    """What the owner is asked to do, per job type; at least one of the two."""

    export: str | None = None
    erase: str | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> Instructions:
        if not (self.export or "").strip() and not (self.erase or "").strip():
            raise ValueError("give the owner something to do: add `export:` and/or `erase:` text")
        return self

    def for_kind(self, kind: str) -> str:
        return ((self.export if kind == "export" else self.erase) or "").strip()


class ManualMap(_Strict):
    connector: Literal["manual"]
    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=100)
    owner: str
    instructions: Instructions
    deadline_days: int | None = Field(default=None, ge=1, le=MAX_DEADLINE_DAYS)

    @field_validator("instructions", mode="before")
    @classmethod
    def _text_for_both(cls, raw: Any) -> Any:
        # `instructions: "Shred the folder"` is the same text for export and erase.
        if isinstance(raw, str):
            return {"export": raw, "erase": raw}
        return raw

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"name {value!r} must be letters, digits, '-', '_' or '.'")
        return value

    @field_validator("owner")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        braces = set(re.findall(r"\{([^{}]*)\}", value))
        if braces - {TENANT}:
            raise ValueError(f"owner {value!r} uses {sorted(braces - {TENANT})}; only {{tenant}} "
                             "(the tenant's slug) can be filled in")
        if not EMAIL.match(value.replace("{tenant}", "tenant")):
            raise ValueError(f"owner {value!r} is not an email address; write the address of the "
                             "person (or shared mailbox) who does this work, e.g. archive@example.com")
        return value.lower()

    def owner_for(self, tenant_slug: str) -> str:
        """The owner's address for one tenant (a shared map may name ``records@{tenant}.…``)."""
        return self.owner.replace("{tenant}", tenant_slug)

    def does(self, kind: str) -> bool:
        """Whether the map asks anything of the owner for this job kind (export or erase)."""
        return bool(self.instructions.for_kind(kind))


def _issues(exc: ValidationError) -> list[Issue]:
    """The data-map loader's sentences, naming what a manual map allows."""
    return [(path, "must be `manual` in a manual system's map"
             if path == "connector" and not message.startswith("required") else message)
            for path, message in _pydantic_issues(exc, ManualMap)]


def parse_manual_map(data: Any, *, source: str = "manual map") -> ManualMap:
    if not isinstance(data, dict):
        raise DataMapError([("", "expected a mapping with connector, version, name, owner, "
                                 "instructions")], source=source)
    try:
        return ManualMap.model_validate(data)
    except ValidationError as exc:
        raise DataMapError(_issues(exc), source=source) from exc


def load_manual_map(path: str | os.PathLike[str]) -> ManualMap:
    """Read and validate a manual system's map file; raises DataMapError naming each path."""
    return parse_manual_map(read_map_yaml(path), source=str(path))

