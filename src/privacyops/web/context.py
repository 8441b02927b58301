"""Template context shared by every page: the navigation the viewer may use."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from privacyops.tenancy.models import User
from privacyops.tenancy.policy import has_any_admin_role


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return {"nav_admin": False}
    return {"nav_admin": has_any_admin_role(user), "nav_staff": user.is_staff}
