"""One way to show a moment on every page: `2026-12-01 14:03` in the viewer's time zone, the full
date, time and zone on hover, and the machine-readable instant in `datetime`."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def when(value: datetime | None) -> SafeString | str:
    if not isinstance(value, datetime):
        return "—" if value in (None, "") else str(value)
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    zone = local.tzname() or "UTC"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(), local.strftime(f"%A %-d %B %Y, %H:%M:%S {zone}"),
        local.strftime("%Y-%m-%d %H:%M"),
    )


@register.filter
def day(value: date | datetime | None) -> str:
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return "—" if value in (None, "") else str(value)


@register.simple_tag
def now_when() -> SafeString | str:
    return when(timezone.now())
