"""The fingerprint heat map as inline SVG (no plotting library on the request path)."""

from __future__ import annotations

import itertools

import numpy as np
from django.utils.html import escape
from django.utils.translation import gettext

from secki.stats import FingerprintResult

# viridis at five stops: dark blue (few stations) to yellow (many)
_STOPS = (
    (0.0, (68, 1, 84)),
    (0.25, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
)


def colour(x: float) -> str:
    x = min(max(x, 0.0), 1.0)
    for (a, ca), (b, cb) in itertools.pairwise(_STOPS):
        if x <= b:
            t = (x - a) / (b - a)
            r, g, bl = (round(ca[k] + t * (cb[k] - ca[k])) for k in range(3))
            return f"#{r:02x}{g:02x}{bl:02x}"
    return "#fde725"


def fingerprint_svg(fp: FingerprintResult, *, bins: int = 50, cell: int = 6) -> str:
    """A ``bins`` × ``bins`` heat map (log colour scale) with axes and the 95 %/95 % corner.

    Only numbers and fixed text go into the markup, so it is safe to mark as HTML.
    """
    counts = fp.counts
    k = counts.shape[0] // bins
    if k < 1 or counts.shape[0] % bins:
        bins, k = counts.shape[0], 1
    grid = counts.reshape(bins, k, bins, k).sum(axis=(1, 3))
    left, top, size = 48, 12, bins * cell
    width, height = left + size + 16, top + size + 44
    peak = float(np.log1p(grid.max())) if grid.max() > 0 else 1.0
    parts = [
        f'<svg class="fingerprint" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="fp-title fp-desc">',
        '<title id="fp-title">'
        + escape(gettext("Election fingerprint: turnout against leader share"))
        + "</title>",
        '<desc id="fp-desc">'
        + escape(
            gettext(
                "%(stations)s stations; %(high)s with turnout and leader share both at 95 %% or "
                "more (the outlined top-right corner)."
            )
            % {"stations": fp.stations, "high": fp.high_high}
        )
        + "</desc>",
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#f7f7f7" stroke="#888"/>',
    ]
    ii, jj = np.nonzero(grid)
    for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
        x = left + i * cell
        y = top + size - (j + 1) * cell
        fill = colour(float(np.log1p(grid[i, j])) / peak)
        parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}"/>')
    c95 = size * 0.95
    parts.append(
        f'<rect x="{left + c95:.1f}" y="{top}" width="{size - c95:.1f}" '
        f'height="{size - c95:.1f}" fill="none" stroke="#c00" stroke-width="1.5" '
        'stroke-dasharray="3 2"/>'
    )
    for pct in range(0, 101, 20):
        tx = left + size * pct / 100
        ty = top + size - size * pct / 100
        parts.append(
            f'<text class="tick" x="{tx:.1f}" y="{top + size + 14}" text-anchor="middle">'
            f"{pct}</text>"
        )
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{pct}</text>'
        )
    parts.append(
        f'<text x="{left + size / 2:.1f}" y="{height - 6}" text-anchor="middle">'
        f"{escape(gettext('turnout'))}, %</text>"
    )
    parts.append(
        f'<text x="12" y="{top + size / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + size / 2:.1f})">'
        f"{escape(gettext('leader share'))}, %</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
