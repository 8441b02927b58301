"""The public pages' language switcher: `{% language_switcher %}` (a form, no JavaScript)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.utils import translation

register = template.Library()


@register.inclusion_tag("web/_language_switcher.html", takes_context=True)
def language_switcher(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    # Back to this page after switching, without a `?lang=` that would override the choice.
    query = {k: v for k, v in request.GET.items() if k != "lang"}
    next_url = request.path + (f"?{urlencode(query)}" if query else "")
    return {"request": request, "csrf_token": context.get("csrf_token"), "next_url": next_url,
            "languages": settings.LANGUAGES, "current": translation.get_language()}
