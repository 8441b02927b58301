from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_interactive_docs_load_without_any_external_resource(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui-bundle.js" in page
    assert "cdn." not in page
    assert "https://" not in page.replace("https://swagger.io", "")
