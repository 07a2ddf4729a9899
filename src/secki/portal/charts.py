"""Small server-rendered SVG charts (no JavaScript, no external library).

Every chart carries a ``<title>``/``<desc>`` and per-point ``<title>`` tooltips, and the page
prints the same figures in a table next to it, so the chart is never the only way to read
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: line colours with distinct dash patterns (readable without colour vision)
SERIES_STYLES = [("#0b4f8a", ""), ("#b34700", "6 4"), ("#2b7a3d", "2 3"), ("#6b3fa0", "8 3 2 3")]


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[Decimal | None]  # percent per x label, None where nothing was reported


def _pct(value: Decimal | float) -> str:
    return f"{number_format(Decimal(value), 2, use_l10n=True)}\u00a0%"


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    width: int = 640,
    height: int = 300,
) -> SafeString:
    """A percent line chart (0–100 %) of one or more series over ``x_labels``."""
    left, right, top, bottom = 52, 16, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v: Decimal | float) -> float:
        return top + plot_h * (1 - float(v) / 100)

    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(description)}</desc>',
    ]
    for tick in range(0, 101, 20):
        ty = y(tick)
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'class="grid"/><text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" '
            f'class="tick">{tick}\u00a0%</text>'
        )
    for i, label in enumerate(x_labels):
        out.append(
            f'<text x="{x(i):.1f}" y="{height - 12}" text-anchor="middle" class="tick">'
            f"{escape(label)}</text>"
        )
    for k, s in enumerate(series):
        colour, dash = SERIES_STYLES[k % len(SERIES_STYLES)]
        points = [(x(i), y(v), v, x_labels[i]) for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="2.5"{dash_attr}/>'
            )
        for px, py, v, label in points:
            out.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}">'
                f"<title>{escape(s.label)} · {escape(label)}: {escape(_pct(v))}</title></circle>"
            )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped above
