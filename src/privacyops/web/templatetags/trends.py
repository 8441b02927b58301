"""Arithmetic for the server-drawn SVG charts (bar heights within a 110-unit plot)."""

from __future__ import annotations

from django import template

register = template.Library()
PLOT = 110


@register.filter
def bar_h(value: int, peak: int) -> int:
    return round(PLOT * value / max(peak, 1))


@register.filter
def bar_y(value: int, peak: int) -> int:
    return PLOT - bar_h(value, peak)


@register.filter
def mul(value: int, factor: int) -> int:
    return int(value) * int(factor)


@register.filter
def chart_width(weeks: int) -> int:
    return int(weeks) * 44 + 8
