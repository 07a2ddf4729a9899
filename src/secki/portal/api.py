"""Results API: totals of the election, of any unit, of any station."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from ninja import Router

from secki.accounts.access import Permission, can
from secki.api.auth import user_from_request
from secki.api.lookups import election_or_404, station_or_404, unit_or_404
from secki.api.schemas import Out, errors
from secki.elections.models import Election
from secki.portal import http
from secki.protocols.models import Protocol, ProtocolStatus, counted_statuses
from secki.protocols.scans import protocol_scan_json, scan_path, visible_scans
from secki.protocols.scans_api import ScanJsonOut
from secki.results import serialize
from secki.results.serialize import unit_json
from secki.results.tabulate import Tabulation, tabulation

router = Router(tags=["results"])


class CandidateResultOut(Out):
    number: int
    name: str
    party: str
    votes: int
    percent: str | None


class UnitResultOut(Out):
    """The figures of one unit (:func:`secki.results.serialize.unit_json`); percentages are
    decimal strings (exact), null while nothing is counted."""

    unit: str | None
    name: str | None
    kind: str | None
    stations_total: int
    stations_reported: int
    registered_total: int
    registered_reported: int
    participants: int
    turnout_percent: str | None
    reporting_percent: str | None
    base: int
    candidates: list[CandidateResultOut]
    #: protocol line code → its total
    lines: dict[str, int]


class UnitTotalsOut(UnitResultOut):
    children: list[UnitResultOut]


class OutcomeOut(Out):
    status: str
    winner: int | None
    runoff: list[int]
    provisional: bool
    explanation: str


class NationalOut(UnitTotalsOut):
    election: str
    simulated: bool
    published_only: bool
    outcome: OutcomeOut


class StationResultOut(Out):
    station: str
    name: str
    unit: str
    registered: int
    status: str | None
    version: int | None
    #: the counted protocol's lines (code → value), null without one
    values: dict[str, int] | None
    soft_failures: list[str]
    annulment: str | None
    webcam: bool
    webcam_url: str | None
    scans: list[ScanJsonOut]


def _tab(request: HttpRequest, election: Election) -> Tabulation:
    staff = can(user_from_request(request), election, Permission.VIEW_UNPUBLISHED)
    return tabulation(election, public=not staff)


@router.get("/{slug}/results", response={200: NationalOut, 304: None, **errors(404)})
def national(request: HttpRequest, slug: str) -> HttpResponseBase:
    """National totals, the win-rule outcome and the first-level units.

    Answered conditionally like the public pages: the ETag names the ledger head, the election
    row and whether the caller sees unpublished figures; a client holding it gets 304, and a
    process that already serialised this state sends the stored bytes.
    """
    row = http._state_row(slug, fresh=True)  # the API answers with the state of this instant
    if row is None:
        raise Http404(f"no election {slug!r}")
    user = user_from_request(request)
    election: Election | None = None
    public = True
    if user.is_authenticated:
        election = Election.objects.get(pk=row.election.id)
        public = not can(user, election, Permission.VIEW_UNPUBLISHED)
    fingerprint = http.fingerprint_of(row)
    etag = http.etag_of(fingerprint, row.head, "json", public, request.get_full_path())
    response: HttpResponseBase
    if http.matches(request, etag):
        response = HttpResponseNotModified()
    else:
        hit = http.pages.get(etag)
        if hit is None:
            election = election or Election.objects.get(pk=row.election.id)
            content = json.dumps(national_json(election, public=public)).encode()
            http.pages.put(etag, content, "application/json")
            hit = (content, "application/json")
        response = HttpResponse(hit[0], content_type=hit[1])
    http.cache_headers(response, etag, public)
    return response


def national_json(election: Election, *, public: bool) -> dict[str, Any]:
    tab = tabulation(election, public=public)
    children = [tab.result(u) for u in tab.children(tab.root)]
    return serialize.national_json(
        election, tab.result(), children, published_only=tab.public, withheld=tab.withheld
    )


@router.get("/{slug}/results/units/{code}", response={200: UnitTotalsOut, **errors(404)})
def unit(request: HttpRequest, slug: str, code: str) -> dict[str, Any]:
    """Totals of one unit (region, constituency, …) with its child units."""
    election = election_or_404(slug)
    tab = _tab(request, election)
    node = unit_or_404(election, code)
    return {
        **unit_json(tab.result(node)),
        "children": [unit_json(tab.result(u)) for u in tab.children(node)],
    }


@router.get("/{slug}/results/stations/{code}", response={200: StationResultOut, **errors(404)})
def station(request: HttpRequest, slug: str, code: str) -> dict[str, Any]:
    """One station: its register, its counted protocol's lines (or null), and the scans of
    the paper protocol with their SHA-256 (as published in the ledger)."""
    election = election_or_404(slug)
    st = station_or_404(election, code)
    public = not can(user_from_request(request), election, Permission.VIEW_UNPUBLISHED, st)
    withheld = public and tabulation(election, public=True).withheld
    protocols = Protocol.objects.none() if withheld else Protocol.objects.filter(station=st)
    protocol = protocols.filter(is_current=True, status__in=counted_statuses(public)).first()
    annulled = protocols.filter(is_current=True, status=ProtocolStatus.ANNULLED).first()
    return {
        "station": st.code,
        "name": st.name,
        "unit": st.unit.code,
        "registered": st.registered,
        "status": protocol.status if protocol else (annulled.status if annulled else None),
        "version": protocol.version if protocol else None,
        "values": dict(protocol.values.values_list("code", "value")) if protocol else None,
        "soft_failures": protocol.soft_failures if protocol else [],
        "annulment": annulled.decision_ref if annulled else None,
        "webcam": st.webcam,
        "webcam_url": st.webcam_link or None,
        "scans": [
            protocol_scan_json(
                scan, request.build_absolute_uri(scan_path(election.slug, st.code, scan.number))
            )
            for scan in ([] if withheld else visible_scans(st, public=public))
        ],
    }
