"""Maps of constituencies as SVG: a choropleth when the election has boundary GeoJSON, a
generated hexagon tile map otherwise.

Boundaries: ``$SECKI_VAR_DIR/boundaries/<election slug>.geojson``, a FeatureCollection of
Polygon/MultiPolygon features whose ``properties`` name the unit by ``code`` (or ``unit``)
or by ``ocd_id``. Without it, each constituency gets one hexagon; when its stations have
coordinates the hexagons keep the country's rough shape (each constituency takes the free
hexagon nearest to the mean position of its stations), otherwise they are laid out in
number order. Every shape is a link to the constituency's page with a text alternative.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Avg
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from secki.elections.models import Election, Station, Unit

NO_DATA = "#e3e3e3"
#: ColorBrewer YlGnBu, 7 classes (sequential, print- and colour-blind-safe)
TURNOUT_COLOURS = ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#0c2c84"]
TURNOUT_BINS = [40, 50, 60, 70, 80, 90]  # upper bounds of all but the last class
#: Okabe–Ito palette for candidates in ballot order (colour-blind-safe)
CANDIDATE_COLOURS = [
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#777777",
]
SHARE_BINS = [50, 60, 75, 90]  # leader's share classes: <50, 50–60, 60–75, 75–90, ≥90
SHARE_STRENGTH = [0.3, 0.45, 0.62, 0.8, 1.0]


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def mix_with_white(colour: str, strength: float) -> str:
    r, g, b = _rgb(colour)
    return "#{:02x}{:02x}{:02x}".format(*(round(255 - (255 - c) * strength) for c in (r, g, b)))


def text_colour(fill: str) -> str:
    """Black or white, whichever contrasts more with ``fill`` (WCAG relative luminance)."""

    def lin(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = _rgb(fill)
    lum = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def bin_index(value: Decimal | float, bounds: Sequence[float]) -> int:
    for i, bound in enumerate(bounds):
        if float(value) < bound:
            return i
    return len(bounds)


def turnout_colour(value: Decimal | None) -> str:
    return NO_DATA if value is None else TURNOUT_COLOURS[bin_index(value, TURNOUT_BINS)]


def candidate_colour(number: int) -> str:
    return CANDIDATE_COLOURS[(number - 1) % len(CANDIDATE_COLOURS)]


def leader_colour(number: int | None, share: Decimal | None) -> str:
    if number is None or share is None:
        return NO_DATA
    return mix_with_white(candidate_colour(number), SHARE_STRENGTH[bin_index(share, SHARE_BINS)])


@dataclass(frozen=True)
class Cell:
    code: str
    short: str  # text drawn on the shape (the constituency number)
    href: str
    fill: str
    title: str  # the text alternative: name and figure


# -- hexagon layout ------------------------------------------------------------------------

SQRT3 = math.sqrt(3)
_layouts: dict[tuple[Any, ...], dict[str, tuple[int, int]]] = {}
_layout_lock = threading.Lock()


def _positions(election: Election, units: Sequence[Unit]) -> dict[int, tuple[float, float]]:
    """Mean (lat, lon) of each unit's home stations (stations abroad left out)."""
    out: dict[int, tuple[float, float]] = {}
    paths = {u.id: u.path for u in units}
    sums: dict[int, list[float]] = {}
    rows = (
        Station.objects.filter(election=election, abroad=False, latitude__isnull=False)
        .values("unit_id", "unit_path")
        .annotate(lat=Avg("latitude"), lon=Avg("longitude"))
    )
    for row in rows:
        for uid, path in paths.items():
            if row["unit_id"] == uid or (path and str(row["unit_path"]).startswith(path)):
                acc = sums.setdefault(uid, [0.0, 0.0, 0.0])
                acc[0] += float(row["lat"])
                acc[1] += float(row["lon"])
                acc[2] += 1
    for uid, (lat, lon, n) in sums.items():
        out[uid] = (lat / n, lon / n)
    return out


def hex_layout(
    codes: Sequence[str], points: Sequence[tuple[float, float] | None]
) -> dict[str, tuple[int, int]]:
    """Assign each code a hexagon (column, row) in an odd-row-offset grid.

    With positions for at least half of the codes, each takes the free hexagon nearest to its
    projected position (central ones first, so the outline spreads outward); the rest, and
    layouts without positions, fill rows in the given order.
    """
    n = len(codes)
    if n == 0:
        return {}
    known = [p for p in points if p is not None]
    if len(known) * 2 < n:
        cols = max(1, math.ceil(math.sqrt(n * 1.4)))
        return {code: (i % cols, i // cols) for i, code in enumerate(codes)}
    lat0 = sum(p[0] for p in known) / len(known)
    xs = [p[1] * math.cos(math.radians(lat0)) for p in known]
    ys = [-p[0] for p in known]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span_x, span_y = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    aspect = span_x / (span_y / 0.866)
    cols = max(2, math.ceil(math.sqrt(2.2 * n * aspect)))
    rows = max(2, math.ceil(2.2 * n / cols))
    slots = [(c, r) for r in range(rows) for c in range(cols)]

    def centre(slot: tuple[int, int]) -> tuple[float, float]:
        c, r = slot
        return c + 0.5 * (r % 2), r * 0.866

    targets: list[tuple[int, float, float]] = []
    for i, p in enumerate(points):
        if p is None:
            continue
        tx = (p[1] * math.cos(math.radians(lat0)) - x0) / span_x * (cols - 1)
        ty = (-p[0] - y0) / span_y * (rows - 1) * 0.866
        targets.append((i, tx, ty))
    mx = sum(t[1] for t in targets) / len(targets)
    my = sum(t[2] for t in targets) / len(targets)
    targets.sort(key=lambda t: (t[1] - mx) ** 2 + (t[2] - my) ** 2)
    free = set(slots)
    taken: dict[int, tuple[int, int]] = {}
    for i, tx, ty in targets:
        best = min(
            free,
            key=lambda s: ((centre(s)[0] - tx) ** 2 + (centre(s)[1] - ty) ** 2, s[1], s[0]),
        )
        free.remove(best)
        taken[i] = best
    # codes without a position go after the last used row, in order
    last_row = max(r for _, r in taken.values()) + 1
    extra = [i for i, p in enumerate(points) if p is None]
    for k, i in enumerate(extra):
        taken[i] = (k % cols, last_row + k // cols)
    # trim empty border rows (by an even number, keeping the row offset) and columns
    min_r = min(r for _, r in taken.values())
    min_r -= min_r % 2
    min_c = min(c for c, _ in taken.values())
    return {codes[i]: (c - min_c, r - min_r) for i, (c, r) in taken.items()}


def layout_for(election: Election, units: Sequence[Unit]) -> dict[str, tuple[int, int]]:
    key = (election.pk, str(election.created_at), tuple(u.code for u in units))
    with _layout_lock:
        hit = _layouts.get(key)
    if hit is not None:
        return hit
    positions = _positions(election, units)
    layout = hex_layout([u.code for u in units], [positions.get(u.id) for u in units])
    with _layout_lock:
        _layouts[key] = layout
    return layout


def hex_svg(layout: dict[str, tuple[int, int]], cells: Sequence[Cell], *, label: str) -> SafeString:
    size = 22.0  # circumradius
    w, h = SQRT3 * size, 1.5 * size
    placed = [(cell, layout[cell.code]) for cell in cells if cell.code in layout]
    if not placed:
        return mark_safe("")
    cols = max(c for _, (c, _) in placed) + 1
    rows = max(r for _, (_, r) in placed) + 1
    width = w * (cols + 0.5) + 4
    height = h * (rows - 1) + 2 * size + 4
    out = [
        f'<svg class="map" viewBox="0 0 {width:.0f} {height:.0f}" role="group" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for cell, (c, r) in placed:
        cx = 2 + w * (c + 0.5 + 0.5 * (r % 2))
        cy = 2 + size + h * r
        corners = " ".join(
            f"{cx + size * math.cos(math.radians(60 * k + 30)):.1f},"
            f"{cy + size * math.sin(math.radians(60 * k + 30)):.1f}"
            for k in range(6)
        )
        out.append(
            f'<a href="{escape(cell.href)}" aria-label="{escape(cell.title)}" '
            f'data-code="{escape(cell.code)}"><title>{escape(cell.title)}</title>'
            f'<polygon points="{corners}" fill="{cell.fill}"/>'
            f'<text x="{cx:.1f}" y="{cy + 4:.1f}" text-anchor="middle" '
            f'fill="{text_colour(cell.fill)}">{escape(cell.short)}</text></a>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped above


# -- GeoJSON choropleth ------------------------------------------------------------------


def boundaries_path(election: Election) -> Path:
    return Path(settings.VAR_DIR) / "boundaries" / f"{election.slug}.geojson"


def load_boundaries(election: Election, units: Sequence[Unit]) -> dict[str, list[Any]] | None:
    """Unit code → list of polygons (each a list of rings of [lon, lat]), or None."""
    path = boundaries_path(election)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    by_ocd = {u.ocd_id: u.code for u in units if u.ocd_id}
    codes = {u.code for u in units}
    shapes: dict[str, list[Any]] = {}
    for feature in data.get("features") or []:
        props = feature.get("properties") or {}
        code = str(props.get("code") or props.get("unit") or "")
        if code not in codes:
            code = by_ocd.get(str(props.get("ocd_id") or ""), "")
        geometry = feature.get("geometry") or {}
        if not code or geometry.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        polygons = (
            [geometry["coordinates"]]
            if geometry["type"] == "Polygon"
            else list(geometry["coordinates"])
        )
        shapes.setdefault(code, []).extend(polygons)
    return shapes or None


def geo_svg(shapes: dict[str, list[Any]], cells: Sequence[Cell], *, label: str) -> SafeString:
    points = [
        (float(pt[0]), float(pt[1]))
        for polygons in shapes.values()
        for polygon in polygons
        for ring in polygon
        for pt in ring
    ]
    if not points:
        return mark_safe("")
    lat0 = sum(p[1] for p in points) / len(points)
    k = math.cos(math.radians(lat0))
    xs = [p[0] * k for p in points]
    ys = [-p[1] for p in points]
    x0, y0 = min(xs), min(ys)
    span = max(max(xs) - x0, max(ys) - y0, 1e-9)
    width = 800.0
    scale = width / span
    height = (max(ys) - y0) * scale

    def project(pt: Sequence[float]) -> str:
        return f"{(float(pt[0]) * k - x0) * scale:.1f},{(-float(pt[1]) - y0) * scale:.1f}"

    out = [
        f'<svg class="map" viewBox="-2 -2 {width + 4:.0f} {height + 4:.0f}" role="group" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for cell in cells:
        polygons = shapes.get(cell.code)
        if not polygons:
            continue
        d = " ".join(
            "M" + " L".join(project(pt) for pt in ring) + " Z"
            for polygon in polygons
            for ring in polygon
        )
        out.append(
            f'<a href="{escape(cell.href)}" aria-label="{escape(cell.title)}" '
            f'data-code="{escape(cell.code)}"><title>{escape(cell.title)}</title>'
            f'<path d="{d}" fill="{cell.fill}" fill-rule="evenodd"/></a>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped above
