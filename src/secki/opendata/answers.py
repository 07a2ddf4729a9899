"""The public results answers a published state makes without the database (issue 15).

A unit's answer (``GET /api/v1/elections/<slug>/results/units/<code>``: its totals, its child
units and a page of the stations it holds directly) from a published state is a function of
that state alone: the API answers with it (:func:`secki.portal.api.unit`) and the publisher
writes its first page with each state that changes the unit, for nginx
(:mod:`secki.opendata.stationpages`), so the two are the same bytes. The rows of a unit's
stations (:class:`Row`) are also the portal's table of them (:mod:`secki.portal.pages`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.paginator import Paginator

from secki.elections.models import Station, Unit
from secki.elections.names import local
from secki.opendata.collect import PublicStation, StationPart
from secki.protocols.models import ProtocolStatus
from secki.results.serialize import unit_json
from secki.results.tabulate import Tabulation, Totals, UnitResult

#: station rows per page of a unit's results (its page and its API answer)
STATIONS_PAGE = 100


@dataclass
class Row:
    """One row of a children table: a unit or a station with its result."""

    kind: str  # "unit" | "station"
    code: str
    number: int | None
    name: str
    registered: int
    result: UnitResult | None  # None: a station without a counted protocol
    status: str = "counted"  # stations: counted | annulled | pending | none
    soft_failures: list[str] = field(default_factory=list)
    webcam: bool = False
    abroad: bool = False
    temporary: bool = False

    @property
    def label(self) -> str:
        return f"{self.number}. {self.name}" if self.number is not None else self.name

    def share(self, number: int) -> Decimal | None:
        if self.result is None:
            return None
        for c in self.result.candidates:
            if c.candidate.number == number:
                return c.share
        return None

    @property
    def leader_share(self) -> Decimal | None:
        leader = self.result.leader if self.result else None
        return leader.share if leader else None


def station_row(
    tab: Tabulation,
    s: Station | PublicStation,
    lines: dict[str, int] | None,
    status: str,
    soft_failures: list[str],
) -> Row:
    """A station's row of its unit's table: its result from its counted protocol's ``lines``
    (None: not counted)."""
    result = None
    if lines is not None:
        totals = Totals(
            lines=dict(lines),
            stations_total=1,
            stations_reported=1,
            registered_total=s.registered,
            registered_reported=s.registered,
        )
        result = tab.result_of(None, totals)
    return Row(
        "station",
        s.code,
        s.number,
        local(s),
        s.registered,
        result,
        status=status,
        soft_failures=soft_failures,
        webcam=s.webcam,
        abroad=s.abroad,
        temporary=s.temporary,
    )


def published_station_rows(tab: Tabulation, unit: Unit, data: StationPart) -> list[Row]:
    """:func:`secki.portal.pages.station_rows` from a published state (no database work)."""
    rows = []
    for s in sorted(data.stations_of(unit), key=lambda s: s.number):
        # the publication setting holds every result back: no station counted or annulled
        p = None if tab.withheld else data.protocols.get(s.id)
        lines = None if tab.withheld else data.values.get(s.id)
        if lines is not None:
            status = "counted"
        elif p is not None and p.status == ProtocolStatus.ANNULLED:
            status = "annulled"
        else:
            status = "none"
        failures = list(p.soft_failures) if p and status == "counted" else []
        rows.append(station_row(tab, s, lines, status, failures))
    return rows


def unit_document(tab: Tabulation, node: Unit, rows: list[Row], page_number: int) -> dict[str, Any]:
    """A unit's answer: its totals, its child units and page ``page_number`` of ``rows`` (the
    stations it holds directly, :func:`published_station_rows` or the portal's own)."""
    page = Paginator(rows, STATIONS_PAGE).get_page(page_number)
    return {
        **unit_json(tab.result(node)),
        "children": [unit_json(tab.result(u)) for u in tab.children(node)],
        "stations": [
            {
                "station": r.code,
                "number": r.number,
                "name": r.name,
                "status": r.status,
                "registered": r.registered,
                "lines": dict(r.result.totals.lines) if r.result is not None else None,
            }
            for r in page.object_list
        ],
        "stations_page": {
            "number": page.number,
            "pages": page.paginator.num_pages,
            "per_page": STATIONS_PAGE,
            "count": len(rows),
        },
    }


def unit_answer(tab: Tabulation, node: Unit, data: StationPart) -> bytes:
    """The public's answer for a unit's first page from a published state (``tab``, its
    tabulation; ``data``, the unit's stations in it): the bytes the API sends."""
    rows = published_station_rows(tab, node, data)
    return json.dumps(unit_document(tab, node, rows, 1)).encode()
