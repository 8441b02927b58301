"""The demo helpdesk: a second SQL system of each demo tenant (tickets of the same people).

Generated from the demo datastore's people (by email), so one person's data lives in two
systems and a job by identity (an email) has a step in each.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

PACKAGED_HELPDESK_MAP = Path(__file__).with_name("helpdesk.yaml")

SCHEMA = """
CREATE TABLE IF NOT EXISTS requesters (
    id INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL, email TEXT NOT NULL,
    name TEXT NOT NULL, phone TEXT, created_at TEXT NOT NULL, erased_at TEXT);
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL,
    requester_id INTEGER NOT NULL REFERENCES requesters(id), title TEXT NOT NULL,
    body TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ticket_messages (
    id INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id), author_email TEXT NOT NULL,
    body TEXT NOT NULL, sent_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_requesters_email ON requesters (workspace_id, email);
CREATE INDEX IF NOT EXISTS ix_tickets_requester ON tickets (requester_id);
CREATE INDEX IF NOT EXISTS ix_messages_ticket ON ticket_messages (ticket_id);
"""

TOPICS = ["Laptop will not boot", "VPN access", "New monitor", "Password reset",
          "Printer offline", "Software licence request", "Phone replacement"]


def generate_helpdesk(path: Path, people: list[dict[str, Any]], *, seed: int = 7,
                      tickets_per_person: int = 2) -> int:
    """Create the helpdesk at ``path`` for ``people`` (dicts with workspace_id, email, name).

    Idempotent: a file that already has requesters is left as it is. Returns the requesters
    written (0 when the file already held them)."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        if conn.execute("SELECT 1 FROM requesters LIMIT 1").fetchone():
            return 0
        ticket_id = message_id = 0
        for requester_id, person in enumerate(people, start=1):
            created = now - timedelta(days=rng.randint(30, 900))
            conn.execute(
                "INSERT INTO requesters VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (requester_id, person["workspace_id"], person["email"], person["name"],
                 f"+44 20 7946 {rng.randint(0, 9999):04d}", created.isoformat()))
            for _ in range(tickets_per_person):
                ticket_id += 1
                topic = rng.choice(TOPICS)
                opened = created + timedelta(days=rng.randint(1, 25))
                conn.execute(
                    "INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (ticket_id, person["workspace_id"], requester_id, topic,
                     f"{topic}. Reported by {person['name']} ({person['email']}).",
                     rng.choice(["open", "solved", "closed"]), opened.isoformat()))
                for n in range(2):
                    message_id += 1
                    conn.execute(
                        "INSERT INTO ticket_messages VALUES (?, ?, ?, ?, ?, ?)",
                        (message_id, person["workspace_id"], ticket_id,
                         person["email"] if n == 0 else "support@example.com",
                         f"Message {n + 1} about: {topic}",
                         (opened + timedelta(hours=n)).isoformat()))
        return len(people)


def people_of_demo(datastore: Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The demo datastore's people who get helpdesk tickets (every one of them by default)."""
    with sqlite3.connect(datastore) as conn:
        query = ("SELECT workspace_id, email, name FROM people WHERE erased_at IS NULL "
                 "ORDER BY id")
        rows = conn.execute(query + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
    return [{"workspace_id": w, "email": e, "name": n} for w, e, n in rows]


def write_helpdesk_datamap(datastore_path: Path, datamap_dir: Path,
                           name: str = "helpdesk") -> Path:
    """The packaged helpdesk map, pointed at ``datastore_path``, as ``<dir>/<name>.yaml``."""
    document: dict[str, Any] = yaml.safe_load(PACKAGED_HELPDESK_MAP.read_text())
    document["name"] = name
    document["connection"] = {"url": f"sqlite:///{datastore_path}"}
    target = Path(datamap_dir) / f"{name}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("# Written from the packaged helpdesk data map.\n"
                      + yaml.safe_dump(document, sort_keys=False))
    return target
