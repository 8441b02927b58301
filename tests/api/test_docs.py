from __future__ import annotations

import pytest
from django.test import Client

from tests import factories
from tests.api.conftest import assert_error, token_for

pytestmark = pytest.mark.django_db


def test_interactive_docs_load_without_any_external_resource(client, staff):
    client.force_login(staff)
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "cdn." not in page
    assert "https://" not in page.replace("https://swagger.io", "")


class TestWhoMayReadTheDocs:
    def test_an_anonymous_visitor_is_sent_to_sign_in(self, client):
        response = client.get("/api/v1/docs")
        assert response.status_code == 302
        assert response["Location"] == "/login/?next=/api/v1/docs"

    def test_the_openapi_document_asks_an_anonymous_client_for_credentials(self, client):
        body = assert_error(client.get("/api/v1/openapi.json"), 401, "unauthenticated")
        assert "API token" in body["message"]

    def test_a_token_holder_reads_the_openapi_document(self, staff):
        response = Client().get("/api/v1/openapi.json",
                                headers={"Authorization": f"Bearer {token_for(staff)}"})
        assert response.status_code == 200
        assert response.json()["info"]["title"] == "PrivacyOps API"

    def test_a_signed_in_member_reads_the_docs(self, client, tenant):
        client.force_login(factories.user_create(tenant=tenant, role="member"))
        assert client.get("/api/v1/docs").status_code == 200

    def test_a_setting_opens_them_to_everyone(self, client, settings):
        settings.API_DOCS_PUBLIC = True
        assert client.get("/api/v1/docs").status_code == 200
        assert client.get("/api/v1/openapi.json").status_code == 200
