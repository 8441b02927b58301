"""The HTTP map: errors name the path, secrets are refused, `datamap check` knows the format."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from privacyops.connectors.base import ConnectorError
from privacyops.connectors.http import load_http_connector
from privacyops.datamap import DataMapError
from privacyops.datamap.http_loader import load_http_map, parse_http_map
from tests.connectors.http.conftest import CRM_MAP, CRM_TOKEN, LOYALTY_MAP, NEWSLETTER_MAP, write_map
from tests.connectors.http.services import Crm

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "http" / "crm.yaml"


def issues_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(DataMapError) as caught:
        parse_http_map(data, source="crm.yaml")
    return caught.value.issues


def changed(**edits: Any) -> dict[str, Any]:
    """CRM_MAP with dotted-path edits (``None`` removes the key)."""
    data = copy.deepcopy(CRM_MAP)
    for dotted, value in edits.items():
        *parents, last = dotted.split("__")
        node = data
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(last)
        else:
            node[last] = value
    return data


@pytest.mark.parametrize("data", [CRM_MAP, NEWSLETTER_MAP, LOYALTY_MAP])
def test_the_test_maps_are_valid(data: dict[str, Any]) -> None:
    assert parse_http_map(copy.deepcopy(data)).name == data["name"]


def test_the_documented_example_is_valid() -> None:
    http_map = load_http_map(EXAMPLE)
    assert http_map.subject.endpoint in http_map.endpoints


def test_the_complete_map_of_the_documentation_is_valid() -> None:
    text = (EXAMPLE.parents[2] / "http-connector.md").read_text()
    block = text.split("## A complete map", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    http_map = parse_http_map(yaml.safe_load(block), source="docs/http-connector.md")
    assert list(http_map.endpoints) == ["contacts", "notes", "newsletter_signups"]


def test_a_misspelt_key_is_named_with_its_path_and_the_allowed_keys() -> None:
    data = changed()
    data["endpoints"]["notes"]["read"]["pagnation"] = {"type": "link"}
    [(path, message)] = issues_of(data)
    assert path == "endpoints.notes.read.pagnation"
    assert message.startswith("unknown key 'pagnation'; check the spelling (allowed here: "
                              "method, path, params, records, pagination)")


@pytest.mark.parametrize(("data", "path", "fragment"), [
    (changed(auth={"type": "bearer", "token": CRM_TOKEN}), "auth",
     "`token:` would put a credential into the map file"),
    (changed(auth={"type": "api_key", "header": "X-Key", "value": "abc"}), "auth",
     "write `value_env: CRM_VALUE`"),
    (changed(headers={"Authorization": "Bearer abc"}), "headers",
     "header 'Authorization' carries a credential"),
    (changed(endpoints__contacts__read__params={"email": "{email}", "api_key": "k-123"}),
     "endpoints.contacts.read.params", "parameter 'api_key' looks like a credential"),
    (changed(base_url_env=None, base_url="https://user:pw@crm.example.com/api"), "base_url",
     "without user:password@"),
    (changed(base_url_env="https://crm.example.com"), "base_url_env",
     "it looks like the value itself"),
])
def test_a_literal_secret_is_refused(data: dict[str, Any], path: str, fragment: str) -> None:
    issues = issues_of(data)
    assert [p for p, _ in issues] == [path]
    assert fragment in issues[0][1]
    assert CRM_TOKEN not in str(issues)


@pytest.mark.parametrize(("data", "path", "fragment"), [
    (changed(endpoints__notes__read__path="/api/people/{phone}/notes"),
     "endpoints.notes.read.path", "uses {phone}, which it cannot fill"),
    (changed(endpoints__contacts__read__params={"email": "{subject_id}"}),
     "endpoints.contacts.read.params.email", "uses {subject_id}"),
    (changed(endpoints__notes__erase__path="/api/notes/{note_id}"),
     "endpoints.notes.erase.path", "available here: {id}, {subject_id}, {tenant}"),
    (changed(endpoints__contacts__fields__health_note={"category": "health"}),
     "endpoints.contacts.fields.health_note.erase", "'health' is a special category"),
    (changed(endpoints__notes__fields__body={"category": "freetext"}),
     "endpoints.notes.fields.body.category", "unknown category 'freetext'"),
    (changed(endpoints__notes__fields__body={"category": "free_text", "erase": "hash"}),
     "endpoints.notes.fields.body.erase", "`hash` is not available on an HTTP service"),
    (changed(endpoints__contacts__get=None), "endpoints.contacts.get",
     "the subject endpoint needs `get:`"),
    (changed(subject={"endpoint": "people", "identity_fields": ["email"]}), "subject.endpoint",
     "unknown endpoint 'people'; expected one of: contacts, notes"),
    (changed(subject={"endpoint": "contacts", "identity_fields": ["phone"]}),
     "subject.identity_fields[0]", "the record field 'phone' is not declared"),
    (changed(endpoints__notes__read__pagination={"type": "cursor", "cursor_param": "c"}),
     "endpoints.notes.read.pagination", "`type: cursor` needs cursor_field"),
    (changed(endpoints__notes__erase=None), "endpoints.notes.fields.body.erase",
     "an erase action needs the endpoint's `erase:` request"),
    (changed(endpoints__contacts__erase={"method": "PATCH", "path": "/c?id={id}"}),
     "endpoints.contacts.erase.path", "put query parameters under `params:`"),
    (changed(endpoints__notes__section="CRM contacts"), "endpoints.notes.section",
     "section 'CRM contacts' is also fed by endpoint 'contacts'"),
])
def test_errors_name_the_path(data: dict[str, Any], path: str, fragment: str) -> None:
    issues = issues_of(data)
    assert path in [p for p, _ in issues], issues
    assert fragment in dict(issues)[path]


def test_an_unset_variable_is_named_without_any_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CRM_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("TEST_CRM_TOKEN", raising=False)

    with pytest.raises(DataMapError) as caught:
        load_http_connector(write_map(tmp_path, CRM_MAP), tenant_key=None)

    assert caught.value.issues == [("auth", "environment variable TEST_CRM_TOKEN is not set; set "
                                    "it in the environment of every web and worker process")]


def _privacyops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privacyops.cli", *args], capture_output=True, text=True,
        timeout=120, check=False, env={**os.environ, **env},
    )


def test_datamap_check_validates_an_http_map_and_asks_the_service(
        crm: Crm, tmp_path: Path) -> None:
    path = write_map(tmp_path, changed(live_check_path="/api/contacts"))
    url, token = os.environ["TEST_CRM_URL"], os.environ["TEST_CRM_TOKEN"]
    broken = write_map(tmp_path, changed(endpoints__notes__read__path="/n/{phone}"), "broken")

    offline = _privacyops("datamap", "check", str(path), env={"TEST_CRM_URL": ""})
    live = _privacyops("datamap", "check", str(path), "--live",
                       env={"TEST_CRM_URL": url, "TEST_CRM_TOKEN": token})
    refused = _privacyops("datamap", "check", str(path), "--live",
                          env={"TEST_CRM_URL": url, "TEST_CRM_TOKEN": "wrong-token-value"})
    unset = _privacyops("datamap", "check", str(path), "--live", env={"TEST_CRM_URL": ""})
    invalid = _privacyops("datamap", "check", str(broken), env={})

    assert offline.returncode == 0, offline.stderr
    assert "OK (not checked against the service: environment variable TEST_CRM_URL is not " \
        "set" in offline.stdout
    assert live.returncode == 0, live.stderr
    assert "OK (crm: the service answers (GET /api/contacts: 200 OK))" in live.stdout
    assert [s.headers.get("Authorization") for s in crm.seen] == [f"Bearer {token}",
                                                                  "Bearer wrong-token-value"]
    assert refused.returncode == 1
    assert "was refused (401 Unauthorized); check the credentials in TEST_CRM_TOKEN" \
        in refused.stderr
    assert "wrong-token-value" not in refused.stderr + refused.stdout
    assert unset.returncode == 1
    assert "TEST_CRM_URL is not set" in unset.stderr
    assert invalid.returncode == 1
    assert "endpoints.notes.read.path: the path uses {phone}" in invalid.stderr


def test_a_parameter_named_like_a_word_with_auth_in_it_is_not_a_secret() -> None:
    data = changed(endpoints__notes__read__params={"author": "sales-7", "limit": 50})
    assert parse_http_map(data).endpoints["notes"].read.params == {"author": "sales-7",
                                                                   "limit": "50"}


def test_special_categories_are_reported_per_endpoint() -> None:
    http_map = parse_http_map(copy.deepcopy(CRM_MAP))
    assert http_map.special_categories_exported() == ["health"]
    assert http_map.special_categories_in_tables({"contacts": ("email", "health_note"),
                                                  "notes": None}) == {"contacts": ["health"]}


def test_each_tenant_can_have_its_own_credentials(
        crm: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = changed(auth={"type": "bearer", "token_env": "TEST_CRM_TOKEN_{tenant}"})
    monkeypatch.setenv("TEST_CRM_TOKEN_acme", CRM_TOKEN)
    monkeypatch.setenv("TEST_CRM_TOKEN_globex", "globex-token")
    path = write_map(tmp_path, data)

    acme = load_http_connector(path, tenant_key="acme")
    globex = load_http_connector(path, tenant_key="globex")

    assert acme.resolve_identity({"email": "bob@example.com"}, "acme") == ["c2"]
    with pytest.raises(ConnectorError, match="check the credentials in TEST_CRM_TOKEN_globex "):
        globex.resolve_identity({"email": "bob@example.com"}, "globex")
    assert [s.headers["Authorization"] for s in crm.seen] == [f"Bearer {CRM_TOKEN}",
                                                              "Bearer globex-token"]
    with pytest.raises(DataMapError, match="depends on the tenant"):
        load_http_connector(path, tenant_key=None)
