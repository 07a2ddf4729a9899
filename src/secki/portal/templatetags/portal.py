"""Template filters of the public portal: numbers and percentages in the visitor's locale.

Django formats numbers per active language (``en`` 1,234.5; ``az`` and ``ru`` 1 234,5 with a
non-breaking space); these filters always group thousands and print a dash for "no figure".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext

register = template.Library()

DASH = "—"


@register.filter
def num(value: Any) -> str:
    """An integer with the locale's thousands separator (``6,537`` / ``6 537``)."""
    if value is None or value == "":
        return DASH
    return number_format(value, use_l10n=True, force_grouping=True)


@register.filter
def dec(value: Any, places: int = 2) -> str:
    """A decimal with ``places`` decimals in the locale's notation (``92.12`` / ``92,12``)."""
    if value is None or value == "":
        return DASH
    return number_format(Decimal(value), int(places), use_l10n=True, force_grouping=True)


@register.filter
def pct(value: Any, places: int = 2) -> str:
    """A percentage (``92.12 %`` / ``92,12 %``), or a dash when there is no base yet."""
    if value is None or value == "":
        return DASH
    return f"{dec(value, places)}\u00a0%"


@register.filter
def hexgroups(value: str) -> str:
    """A SHA-256 as 16 groups of four hex digits, for comparing by eye."""
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


@register.filter
def line_label(label: str) -> str:
    """A protocol line label, translated when the catalogue knows it (secki.portal.labels)."""
    return gettext(label) if label else label


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """``mapping[key]`` or None (for dicts keyed by line code in templates)."""
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None


@register.filter
def turnout_of(voters: Any, registered: Any) -> str:
    """``voters`` as a percentage of ``registered`` (a station's turnout at a report time)."""
    from secki.results.tabulate import percent

    try:
        return pct(percent(int(voters), int(registered)))
    except (TypeError, ValueError):
        return DASH


#: where the officials' pages live (they keep the layout but not the public search box)
OFFICIAL_PREFIXES = ("/staff/", "/integrity/", "/admin/")


@register.filter
def public_path(path: str) -> bool:
    """Whether ``path`` is a public page's (the layout's "Find my station" box goes there)."""
    return not str(path).startswith(OFFICIAL_PREFIXES)
