"""The OpenAPI document is valid, and the API answers what it documents (schemathesis)."""

from __future__ import annotations

from datetime import datetime

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from privacyops.jobs.models import JobStatus
from tests import factories
from tests.api.conftest import token_for

pytestmark = pytest.mark.django_db

OPENAPI_PATH = "/api/v1/openapi.json"


@pytest.fixture
def wsgi_app(db):
    """The real WSGI application, in this thread, inside the test's transaction.

    Like Django's test client, keep the request signals from closing the test's connection.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app, staff_headers):
    # Loading validates the document against the OpenAPI specification. The document is for
    # signed-in users and token holders only.
    return schemathesis.openapi.from_wsgi(OPENAPI_PATH, wsgi_app, headers=staff_headers)


@pytest.fixture
def staff_headers(db, tenant, other_tenant):
    """A staff token, and a few rows so that ids and filters sometimes hit something."""
    staff = factories.user_create(email="fuzz-staff@example.com", is_staff=True)
    for n, status in enumerate([JobStatus.PENDING, JobStatus.FAILED, JobStatus.COMPLETED], 1):
        factories.job_create(tenant=tenant if n % 2 else other_tenant, requested_by=staff,
                             status=status, target_id=str(n))
    factories.hold_create(tenant=tenant, created_by=staff, scope_id="1")
    factories.user_create(email="fuzz-member@example.com", tenant=tenant, role="member")
    tenant.systems.create(name="billing", datamap_name="billing", datastore_key="1")
    from privacyops.intake.services import request_create
    from privacyops.tenancy.actors import Actor

    for n, request_type in enumerate(["access", "erasure", "objection"], 1):
        request_create(tenant_id=tenant.pk, email=f"fuzz-person{n}@example.com",
                       request_type=request_type, actor=Actor.for_user(staff))
    return {"Authorization": f"Bearer {token_for(staff)}"}


def test_the_document_is_valid_openapi(api_schema):
    # Loading validated it; every operation must also be one schemathesis can generate for.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 13
    assert api_schema.raw_schema["openapi"].startswith("3.")


# The privacy center's operations need a tenant application token; tests/privacy_center owns them.
PRIVACY_CENTER = r"^/api/v1/privacy/"


def _range_in_order(case: schemathesis.Case) -> bool:
    """The one documented rule a schema cannot state: `since` is not after `until`."""
    query = case.query or {}
    if not (query.get("since") and query.get("until")):
        return True
    try:
        return datetime.fromisoformat(query["since"]) <= datetime.fromisoformat(query["until"])
    except OverflowError:  # beyond what UTC can hold; the API clamps, the test skips the case
        return False


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_get_operations_answer_what_they_document(api_schema, staff_headers, mode):
    """Generated requests (valid, then invalid) as platform staff: never a 5xx, and every
    answer, error or not, matches its documented status, content type and schema."""
    selected = api_schema.include(method="GET").exclude(path_regex=PRIVACY_CENTER)
    operations = [result.ok() for result in selected.get_all_operations()]
    assert {op.path for op in operations} == {
        "/api/v1/jobs", "/api/v1/jobs/counts", "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/receipt", "/api/v1/holds",
        "/api/v1/audit/events", "/api/v1/audit/export", "/api/v1/tenants",
        "/api/v1/tenants/{tenant_id}", "/api/v1/tenants/{tenant_id}/members",
        "/api/v1/tenants/{tenant_id}/systems", "/api/v1/tenants/{tenant_id}/systems/{system_id}",
        "/api/v1/tokens", "/api/v1/requests", "/api/v1/requests/{request_id}"}
    for operation in operations:
        cases = operation.as_strategy(generation_mode=mode)
        if mode == GenerationMode.POSITIVE:
            cases = cases.filter(_range_in_order)

        @given(case=cases)
        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=staff_headers)

        answers_as_documented()


def test_write_operations_never_fail_on_the_server(api_schema, staff_headers):
    """Generated valid bodies for the writes (POST, PATCH, DELETE): an answer as documented,
    never a 5xx.

    A schema-valid write may still be refused by a rule that depends on the data (a target
    type the tenant's data map does not declare, a job in another status), so acceptance of
    valid data is not asserted here; the GET operations above do assert it.
    """
    selected = api_schema.include(method=["POST", "PATCH", "DELETE"]).exclude(
        path_regex=PRIVACY_CENTER)
    operations = [result.ok() for result in selected.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} == {
        "POST /api/v1/jobs", "POST /api/v1/jobs/{job_id}/approve",
        "POST /api/v1/jobs/{job_id}/reject", "POST /api/v1/jobs/{job_id}/retry",
        "POST /api/v1/jobs/{job_id}/steps/{system}/pick",
        "POST /api/v1/holds", "POST /api/v1/holds/{hold_id}/release", "POST /api/v1/tokens",
        "POST /api/v1/tenants", "PATCH /api/v1/tenants/{tenant_id}",
        "POST /api/v1/tenants/{tenant_id}/deactivate", "POST /api/v1/tenants/{tenant_id}/activate",
        "POST /api/v1/tenants/{tenant_id}/members",
        "PATCH /api/v1/tenants/{tenant_id}/members/{user_id}",
        "DELETE /api/v1/tenants/{tenant_id}/members/{user_id}",
        "POST /api/v1/tenants/{tenant_id}/systems",
        "PATCH /api/v1/tenants/{tenant_id}/systems/{system_id}",
        "DELETE /api/v1/tenants/{tenant_id}/systems/{system_id}",
        "DELETE /api/v1/tokens/{token_id}", "POST /api/v1/requests",
        "POST /api/v1/requests/{request_id}/verify", "POST /api/v1/requests/{request_id}/assign",
        "POST /api/v1/requests/{request_id}/fulfil", "POST /api/v1/requests/{request_id}/extend",
        "POST /api/v1/requests/{request_id}/reject", "POST /api/v1/requests/{request_id}/close",
        "POST /api/v1/requests/{request_id}/withdraw"}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=staff_headers,
                                   excluded_checks=[positive_data_acceptance])

        answers_as_documented()


def test_job_creation_documents_rectify_and_restrict(client, staff):
    """RECTIFY takes `changes` (plain values only), RESTRICT takes `lift`; a job shows its
    params (field names), and approval can be required for both types."""
    client.force_login(staff)
    schemas = client.get(OPENAPI_PATH).json()["components"]["schemas"]
    create = schemas["JobCreateIn"]["properties"]
    assert create["type"]["enum"] == ["EXPORT", "ERASE", "PURGE", "RECTIFY", "RESTRICT"]
    changes = next(s for s in create["changes"]["anyOf"] if s.get("type") == "object")
    assert {s["type"] for s in changes["additionalProperties"]["anyOf"]} == {
        "string", "integer", "number", "boolean", "null"}
    assert {s["type"] for s in create["lift"]["anyOf"]} == {"boolean", "null"}
    assert "params" in schemas["JobOut"]["required"]
