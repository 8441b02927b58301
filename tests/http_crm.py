"""A fake CRM on a real HTTP server (127.0.0.1) and its HTTP map, for tests that register it
as a tenant's system and run jobs through it. The service and map are those of
tests/connectors/http (one source of truth)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.connectors.http.conftest import CRM_MAP, CRM_TOKEN
from tests.connectors.http.services import Crm, Seen, serve

__all__ = ["CRM_MAP", "CRM_TOKEN", "crm_down", "crm_fake", "write_crm_map"]


def write_crm_map(folder: Path, name: str = "crm") -> Path:
    """The CRM's HTTP map in `folder` (the data-map folder, or anywhere for `--datamap FILE`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**CRM_MAP, "name": name}, sort_keys=False))
    return path


@pytest.fixture
def crm_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Crm]:
    """An empty CRM (add `contacts` and `notes`), its URL and token in the map's variables."""
    app = Crm(CRM_TOKEN)
    with serve(app) as url:
        monkeypatch.setenv("TEST_CRM_URL", url)
        monkeypatch.setenv("TEST_CRM_TOKEN", CRM_TOKEN)
        yield app


def crm_down(app: Crm) -> None:
    """Every request answers 503 until `app.before = None`."""
    def unavailable(_seen: Seen) -> tuple[int, dict[str, str], Any]:
        return 503, {}, {"error": "maintenance"}
    app.before = unavailable
