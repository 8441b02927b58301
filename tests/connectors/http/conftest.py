"""Three fake services on real HTTP servers, their data maps, and people in them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.connectors.http.services import Crm, Loyalty, Newsletter, serve

CRM_TOKEN = "crm-token-s3cr3t-0f-the-tests"
NEWSLETTER_KEY = "nl-key-very-s3cr3t"
LOYALTY_USER, LOYALTY_PASSWORD = "privacyops", "loyalty-pa55word"
ALICE = "Alice.Martin@Example.com"

CRM_MAP: dict[str, Any] = {
    "connector": "http",
    "version": 1,
    "name": "crm",
    "description": "The sales CRM",
    "base_url_env": "TEST_CRM_URL",
    "auth": {"type": "bearer", "token_env": "TEST_CRM_TOKEN"},
    "behaviour": {"retries": 2, "backoff_seconds": 0.05, "timeout_seconds": 5,
                  "rate_limit_per_second": 200},
    "subject": {"endpoint": "contacts", "identity_fields": ["email"]},
    "endpoints": {
        "contacts": {
            "section": "CRM contacts",
            "read": {"path": "/api/contacts", "params": {"email": "{email}"},
                     "records": "data.items",
                     "pagination": {"type": "cursor", "cursor_field": "meta.next_cursor",
                                    "cursor_param": "cursor"}},
            "get": {"path": "/api/contacts/{subject_id}", "record": "data"},
            "fields": {
                "email": {"category": "contact",
                          "erase": {"pseudonym": "erased-{id}@erased.local"}},
                "name": {"category": "identity", "erase": {"set": "Erased contact"}},
                "profile.city": {"category": "location", "erase": None},
                "health_note": {"category": "health", "erase": None},
                "created_at": {"category": "technical"},
            },
            "erase": {"method": "PATCH", "path": "/api/contacts/{id}", "body_key": "contact"},
        },
        "notes": {
            "section": "CRM notes",
            "read": {"path": "/api/contacts/{subject_id}/notes", "records": "data.items",
                     "pagination": {"type": "cursor", "cursor_field": "meta.next_cursor",
                                    "cursor_param": "cursor"}},
            "match": {"contact_id": "{subject_id}"},
            "fields": {
                "body": {"category": "free_text", "erase": {"set": ""}},
                "author": {"category": "employment"},
            },
            "erase": {"method": "PATCH", "path": "/api/notes/{id}"},
        },
    },
}

NEWSLETTER_MAP: dict[str, Any] = {
    "connector": "http",
    "name": "newsletter",
    "base_url_env": "TEST_NEWSLETTER_URL",
    "auth": {"type": "api_key", "header": "X-Api-Key", "value_env": "TEST_NEWSLETTER_KEY"},
    "behaviour": {"retries": 3, "backoff_seconds": 0.05, "timeout_seconds": 5},
    "subject": {"endpoint": "subscribers", "identity_fields": ["email"]},
    "endpoints": {
        "subscribers": {
            "read": {"path": "/v1/subscribers", "params": {"email": "{email}"},
                     "records": "subscribers",
                     "pagination": {"type": "page", "page_param": "page", "start": 1,
                                    "size_param": "per_page", "size": 2}},
            "get": {"path": "/v1/subscribers/{subject_id}"},
            "fields": {"email": {"category": "contact"},
                       "first_name": {"category": "identity"}},
            "erase": {"method": "DELETE", "path": "/v1/subscribers/{id}"},
        },
        "subscriptions": {
            "read": {"path": "/v1/subscriptions", "params": {"subscriber": "{subject_id}"},
                     "pagination": {"type": "link"}},
            "fields": {"list": {"category": "behavioral"},
                       "since": {"category": "behavioral"}},
            "erase": {"method": "DELETE", "path": "/v1/subscriptions/{id}"},
        },
    },
}

LOYALTY_MAP: dict[str, Any] = {
    "connector": "http",
    "name": "loyalty",
    "base_url_env": "TEST_LOYALTY_URL",
    "auth": {"type": "basic", "username_env": "TEST_LOYALTY_USER",
             "password_env": "TEST_LOYALTY_PASSWORD"},
    "behaviour": {"retries": 1, "backoff_seconds": 0.01, "timeout_seconds": 5},
    "subject": {"endpoint": "members", "identity_fields": ["email"]},
    "endpoints": {
        "members": {
            "read": {"path": "/members", "params": {"email": "{email}"}, "records": "results"},
            "get": {"path": "/members/{subject_id}"},
            "fields": {
                "email": {"category": "contact",
                          "erase": {"pseudonym": "erased-{id}@erased.local"}},
                "iban": {"category": "financial", "erase": None},
                "points": {"category": "behavioral", "erase": {"set": 0}},
            },
            "erase": {"method": "PUT", "path": "/members/{id}"},
        },
        "cards": {
            "read": {"path": "/members/{subject_id}/cards", "records": "results"},
            "fields": {"number": {"category": "financial"}},
            "erase": {"method": "DELETE", "path": "/cards/{id}"},
        },
    },
}


def write_map(tmp_path: Path, data: dict[str, Any], name: str | None = None) -> Path:
    path = tmp_path / f"{name or data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Crm]:
    """Alice (id c1) with 7 notes (4 pages of 2), a second Alice record (c3, the same email in
    other case), Bob (c2) with 2 notes."""
    app = Crm(CRM_TOKEN)
    app.contacts = {
        "c1": {"id": "c1", "email": ALICE, "name": "Alice Martin", "phone": "+33 1 23",
               "profile": {"city": "Lyon", "language": "fr"}, "health_note": "asthma",
               "created_at": "2024-01-02"},
        "c2": {"id": "c2", "email": "bob@example.com", "name": "Bob Stone", "phone": "+33 9",
               "profile": {"city": "Paris", "language": "fr"}, "health_note": None,
               "created_at": "2024-02-03"},
        "c3": {"id": "c3", "email": ALICE.upper(), "name": "A. Martin", "phone": None,
               "profile": {"city": "Nice", "language": "en"}, "health_note": None,
               "created_at": "2024-03-04"},
    }
    app.notes = {f"n{i}": {"id": f"n{i}", "contact_id": "c1", "body": f"call #{i} about renewal",
                           "author": "sales-7"} for i in range(1, 8)}
    app.notes |= {f"b{i}": {"id": f"b{i}", "contact_id": "c2", "body": f"bob {i}",
                            "author": "sales-2"} for i in range(1, 3)}
    with serve(app) as url:
        monkeypatch.setenv("TEST_CRM_URL", url)
        monkeypatch.setenv("TEST_CRM_TOKEN", CRM_TOKEN)
        yield app


def newsletter_data() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    subscribers = {
        "s1": {"id": "s1", "email": ALICE.lower(), "first_name": "Alice"},
        "s2": {"id": "s2", "email": "carol@example.com", "first_name": "Carol"},
    }
    subscriptions = {f"sub{i}": {"id": f"sub{i}", "subscriber": "s1", "list": f"list-{i}",
                                 "since": "2024-05-01"} for i in range(1, 6)}
    subscriptions["subc"] = {"id": "subc", "subscriber": "s2", "list": "list-1",
                             "since": "2024-06-01"}
    return subscribers, subscriptions


@pytest.fixture
def newsletter(monkeypatch: pytest.MonkeyPatch) -> Iterator[Newsletter]:
    """Alice (s1) with 5 subscriptions (3 Link pages), Carol (s2) with one."""
    app = Newsletter(NEWSLETTER_KEY)
    app.subscribers, app.subscriptions = newsletter_data()
    with serve(app) as url:
        app.base_url = url
        monkeypatch.setenv("TEST_NEWSLETTER_URL", url)
        monkeypatch.setenv("TEST_NEWSLETTER_KEY", NEWSLETTER_KEY)
        yield app


def loyalty_data() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    members = {
        "m1": {"id": "m1", "email": ALICE, "iban": "FR7630006000011234567890189",
               "points": 1200, "tier": "gold"},
        "m2": {"id": "m2", "email": "dan@example.com", "iban": "DE89370400440532013000",
               "points": 10, "tier": "basic"},
    }
    cards = {f"k{i}": {"id": f"k{i}", "member_id": "m1", "number": f"4000-000{i}"}
             for i in range(1, 4)}
    cards["kd"] = {"id": "kd", "member_id": "m2", "number": "4000-9999"}
    return members, cards


@pytest.fixture
def loyalty(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loyalty]:
    app = Loyalty(LOYALTY_USER, LOYALTY_PASSWORD)
    app.members, app.cards = loyalty_data()
    with serve(app) as url:
        monkeypatch.setenv("TEST_LOYALTY_URL", url)
        monkeypatch.setenv("TEST_LOYALTY_USER", LOYALTY_USER)
        monkeypatch.setenv("TEST_LOYALTY_PASSWORD", LOYALTY_PASSWORD)
        yield app


def clone(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)
