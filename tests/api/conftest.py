"""Calling the API as a user: with a personal token (the default) or a signed-in session."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client

from privacyops.tenancy.actors import Actor
from privacyops.tenancy.models import User
from privacyops.tenancy.services import api_token_create

BASE = "/api/v1"


def token_for(user: User, name: str = "tests") -> str:
    _, raw = api_token_create(user=user, name=name, actor=Actor.for_user(user))
    return raw


@dataclass
class Api:
    """A client of /api/v1; `headers` carries the credentials (none: anonymous)."""

    client: Client = field(default_factory=Client)
    headers: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, **params: Any) -> HttpResponse:
        query = {k: v for k, v in params.items() if v is not None}
        return self.client.get(BASE + path, query, headers=self.headers)

    def post(self, path: str, body: dict[str, Any] | None = None) -> HttpResponse:
        return self.client.post(BASE + path, json.dumps(body or {}),
                                content_type="application/json", headers=self.headers)

    def delete(self, path: str) -> HttpResponse:
        return self.client.delete(BASE + path, headers=self.headers)


    def patch(self, path: str, body: dict[str, Any] | None = None) -> HttpResponse:
        return self.client.patch(BASE + path, json.dumps(body or {}),
                                 content_type="application/json", headers=self.headers)



def api_as(user: User | None) -> Api:
    if user is None:
        return Api()
    return Api(headers={"Authorization": f"Bearer {token_for(user)}"})


def assert_error(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    """An error answer: the status, JSON `{"code", "message"}`, and a sentence to act on."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str)
    assert len(body["message"]) > 5
    return body


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Argon2 is deliberately slow; these tests create many accounts and never sign in by password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_api(staff) -> Api:
    return api_as(staff)


@pytest.fixture
def other_staff_api(other_staff) -> Api:
    return api_as(other_staff)
