"""The JSON API under /api/v1 (django-ninja), assembled from each app's router."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="PrivacyOps API", version="1", urls_namespace="api")
