"""Number formatting for the integrity pages (proportions as percent, p-values, z)."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@register.filter
def pct(value: Any, digits: int = 1) -> str:
    """0.9212 → "92.1 %"; None/NaN → "–"."""
    f = _finite(value)
    return "–" if f is None else f"{100 * f:.{int(digits)}f} %"


@register.filter
def num(value: Any, digits: int = 3) -> str:
    f = _finite(value)
    return "–" if f is None else f"{f:,.{int(digits)}f}"


@register.filter
def signed(value: Any, digits: int = 2) -> str:
    f = _finite(value)
    return "–" if f is None else f"{f:+.{int(digits)}f}"


@register.filter
def pvalue(value: Any) -> str:
    """p-values: 3 significant digits, small ones as "< 0.001"."""
    f = _finite(value)
    if f is None:
        return "–"
    if f < 0.001:
        return "< 0.001"
    return f"{f:.3f}"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None
