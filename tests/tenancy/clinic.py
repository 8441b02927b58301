"""The clinic application of docs/onboarding.md as test data: its SQLite schema and data map,
taken from docs/examples/clinic so that the documented steps are the tested ones."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "clinic"
DATAMAP = EXAMPLE / "datamap.yaml"
ZOE_EMAIL = "zoë.lefèvre@example.com"


def build_clinic(folder: Path, settings: Any, monkeypatch: Any, *, install: bool = True) -> Path:
    """The clinic database in `folder`, its URL in CLINIC_DATABASE_URL and (with `install`)
    its data map in the data-map folder as `clinic`."""
    path = folder / "clinic.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript((EXAMPLE / "schema.sql").read_text(encoding="utf-8"))
    conn.close()
    monkeypatch.setenv("CLINIC_DATABASE_URL", f"sqlite:///{path}")
    settings.DATAMAP_DIR = str(folder / "datamaps")
    if install:
        Path(settings.DATAMAP_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATAMAP, Path(settings.DATAMAP_DIR) / "clinic.yaml")
    return path


def patient(path: Path, patient_id: int) -> tuple[Any, ...]:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT email, full_name, phone, forgotten_at FROM patients "
                           "WHERE id = ?", (patient_id,)).fetchone()
    conn.close()
    return tuple(row)
