"""Which language a page speaks: the public pages follow the visitor, staff pages stay English.

On a public page (`/privacy…`, and Django's `set_language` under `/i18n/`) the language is, in
this order: `?lang=` on the URL (for that page only; emails link with it), the visitor's choice
from the language switcher (a cookie set by `set_language`), the browser's `Accept-Language`,
and — when none of those names a language we ship — the tenant's `default_language`. Every
other page (operator, platform, API) is English, whatever the browser says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation.trans_real import parse_accept_lang_header

PUBLIC_PREFIXES = ("/privacy", "/i18n/")


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)


def supported(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code.strip()[:16])
    except LookupError:
        return None


def visitor_language(request: HttpRequest) -> str | None:
    """The language the visitor asked for, or None when they named none that we ship."""
    chosen = supported(request.GET.get("lang")) or supported(
        request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
    if chosen:
        return chosen
    for code, _quality in parse_accept_lang_header(request.headers.get("Accept-Language", "")):
        if code != "*" and (found := supported(code)):
            return found
    return None


def use_tenant_default(request: HttpRequest, tenant: Any) -> None:
    """On a public page of `tenant`: speak its default language if the visitor named none."""
    if getattr(request, "visitor_language", None) is None:
        language = supported(getattr(tenant, "default_language", "")) or settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language


class PublicLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        public = is_public(request.path_info)
        chosen = visitor_language(request) if public else None
        request.visitor_language = chosen  # type: ignore[attr-defined]
        language = chosen or settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        try:
            response = self.get_response(request)
            if public:
                patch_vary_headers(response, ("Accept-Language", "Cookie"))
                response.headers.setdefault("Content-Language", translation.get_language())
            return response
        finally:
            translation.activate(settings.LANGUAGE_CODE)

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any,
                     view_kwargs: dict[str, Any]) -> None:
        """A public page named by its tenant's slug: apply the tenant's default language."""
        slug = view_kwargs.get("slug")
        if not is_public(request.path_info) or not slug or request.visitor_language is not None:  # type: ignore[attr-defined]
            return
        from privacyops.tenancy.models import Tenant

        default = (Tenant.objects.filter(slug=slug).values_list("default_language", flat=True)
                   .first())
        if default:
            use_tenant_default(request, _Default(default))


class _Default:
    def __init__(self, default_language: str) -> None:
        self.default_language = default_language
