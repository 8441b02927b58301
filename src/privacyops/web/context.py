"""Template context shared by every page: the navigation the viewer may use."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from privacyops.tenancy.models import User
from privacyops.tenancy.policy import has_any_admin_role, tenants_visible_to


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return {"nav_admin": False}
    gdpr_tenants = list(tenants_visible_to(user, "gdpr.view").order_by("name")[:6])
    return {"nav_admin": has_any_admin_role(user), "nav_staff": user.is_staff,
            "nav_gdpr_tenants": gdpr_tenants}
