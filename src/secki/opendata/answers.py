"""The public results answers a published state makes without the database (issue 15).

A unit's answer (``GET /api/v1/elections/<slug>/results/units/<code>``: its totals, its child
units and a page of the stations it holds directly) and a station's (``…/stations/<code>``: its
register entry, its counted protocol's lines and its scans) from a published state are
functions of that state alone: the API answers with them (:func:`secki.portal.api.unit`,
:func:`secki.portal.api.station`) and the publisher writes them with each state that changes
the unit or the station, for nginx (:mod:`secki.opendata.stationpages`), so the two are the
same bytes. The rows of a unit's stations (:class:`Row`) are also the portal's table of them
(:mod:`secki.portal.pages`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.paginator import Paginator

from secki.elections.models import Station, Unit, webcam_link
from secki.elections.names import local, translations
from secki.opendata.collect import PublicStation, StationPart
from secki.protocols.models import ProtocolStatus
from secki.protocols.scans import scan_path
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


def station_document(
    slug: str,
    unit_code: str,
    s: Station | PublicStation,
    part: StationPart,
    origin: str,
    *,
    withheld: bool,
) -> dict[str, Any]:
    """A station's answer from a published state: ``part``, its unit's stations in it (held
    back, ``withheld``: no protocol, lines or scans); the scans' addresses begin with
    ``origin`` (scheme and host, as the reader asked)."""
    shown = None if withheld else part.protocols.get(s.id)
    values = None if withheld else part.values.get(s.id)
    counted = shown is not None and values is not None
    # the scans of the versions it shows, oldest first
    upto = shown.version if shown is not None else 0
    scans = part.scans.get(s.id, []) if shown is not None else []
    return {
        "station": s.code,
        "name": s.name,
        **translations(s),
        "unit": unit_code,
        "registered": s.registered,
        "status": shown.status if shown else None,
        "version": shown.version if counted and shown else None,
        "values": dict(values) if values is not None else None,
        "soft_failures": list(shown.soft_failures) if counted and shown else [],
        "annulment": shown.decision_ref if shown and not counted else None,
        "webcam": s.webcam,
        "webcam_url": webcam_link(s.webcam_url) or None,
        "scans": [
            scan.json(origin + scan_path(slug, s.code, scan.number))
            for scan in scans
            if scan.version <= upto
        ],
    }


def station_answer(
    slug: str, unit_code: str, s: PublicStation, part: StationPart, origin: str, *, withheld: bool
) -> bytes:
    """The public's answer for a station from a published state: the bytes the API sends
    (:func:`station_document`)."""
    document = station_document(slug, unit_code, s, part, origin, withheld=withheld)
    return json.dumps(document).encode()
