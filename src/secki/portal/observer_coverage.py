"""The public coverage of polling stations by observers: a map of constituencies coloured by
the share of stations with observers (the portal's map component), counts by constituency and
the stations with and without observers. Counts only: no observer is named."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _

from secki.elections.models import Election
from secki.observers import coverage
from secki.portal import maps

#: share of stations with observers, in per cent: the upper bounds of all but the last class
COVER_BINS = [20, 40, 60, 80]
COVER_COLOURS = maps.TURNOUT_COLOURS[1:6]
STATIONS_PAGE = 100


def _fill(covered: int, stations: int) -> str:
    if not stations:
        return maps.NO_DATA
    return COVER_COLOURS[maps.bin_index(100 * covered / stations, COVER_BINS)]


def page(request: HttpRequest, slug: str) -> HttpResponse:
    election = get_object_or_404(Election, slug=slug)
    found = coverage.coverage(election)
    units = [u.unit for u in found.units if u.unit is not None]
    cells = []
    for u in found.units:
        if u.unit is None:
            continue
        name = f"{u.unit.number}. {u.unit.name}" if u.unit.number is not None else u.unit.name
        figure = _("%(covered)s of %(stations)s stations with observers") % {
            "covered": u.covered,
            "stations": u.stations,
        }
        cells.append(
            maps.Cell(
                u.unit.code,
                str(u.unit.number) if u.unit.number is not None else u.unit.code,
                reverse("portal:observer_coverage", args=[slug]) + f"?unit={u.unit.code}",
                _fill(u.covered, u.stations),
                f"{name}: {figure}",
            )
        )
    label = _("Map of constituencies coloured by the share of stations with observers")
    shapes = maps.load_boundaries(election, units)
    if shapes:
        svg = maps.geo_svg(shapes, cells, label=label)
    else:
        svg = maps.hex_svg(maps.layout_for(election, units), cells, label=label)
    bounds = [0, *COVER_BINS]
    legend = [
        (
            COVER_COLOURS[i],
            f"{lo}–{bounds[i + 1]}\u00a0%" if i + 1 < len(bounds) else f"≥ {lo}\u00a0%",
        )
        for i, lo in enumerate(bounds)
    ]
    chosen = next((u for u in units if u.code == request.GET.get("unit")), None)
    show = request.GET.get("show", "")
    rows = found.stations
    if chosen is not None:
        rows = [r for r in rows if r.station.unit_path.startswith(chosen.path)]
    if show == "without":
        rows = [r for r in rows if not r.covered]
    elif show == "with":
        rows = [r for r in rows if r.covered]
    stations = Paginator(rows, STATIONS_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/observer_coverage.html",
        {
            "election": election,
            "section": "observers",
            "coverage": found,
            "svg": svg,
            "legend": legend,
            "cells": cells,
            "chosen": chosen,
            "show": show,
            "stations": stations,
            "units": units,
        },
    )
