"""Results API: totals of the election, of any unit, of any station."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from ninja import Query, Router

from secki.accounts.access import Permission, can
from secki.api.auth import user_from_request
from secki.api.lookups import election_or_404, station_or_404, unit_or_404
from secki.api.schemas import Out, errors
from secki.elections.models import Election, Station, Unit
from secki.elections.names import translations
from secki.opendata import answers, collect, published, stationpages
from secki.portal import http, pages
from secki.protocols.models import Protocol, ProtocolStatus, counted_statuses
from secki.protocols.scans import protocol_scan_json, scan_path, visible_scans
from secki.protocols.scans_api import ScanJsonOut
from secki.results import serialize
from secki.results.tabulate import Tabulation, tabulation

router = Router(tags=["results"])


class CandidateResultOut(Out):
    """A candidate's votes; ``name`` and ``party`` in English, their translations beside
    them (null when not given)."""

    number: int
    #: the official number printed on the ballot (the ballot order when none was given)
    ballot_number: int
    name: str
    name_az: str | None
    name_ru: str | None
    party: str
    party_az: str | None
    party_ru: str | None
    votes: int
    percent: str | None


class UnitResultOut(Out):
    """The figures of one unit (:func:`secki.results.serialize.unit_json`); percentages are
    decimal strings (exact), null while nothing is counted."""

    unit: str | None
    name: str | None
    #: the unit's name in Azerbaijani and Russian, null when not given
    name_az: str | None
    name_ru: str | None
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


class StationRowOut(Out):
    """A station held directly by the unit, with its counted protocol's lines (null when it
    has none counted: ``status`` says why)."""

    station: str
    number: int | None
    name: str
    #: counted | annulled | none
    status: str
    registered: int
    lines: dict[str, int] | None


class StationsPageOut(Out):
    """Which page of the unit's stations ``stations`` holds (``?page=N``, from 1; a number
    past the last page gives the last page)."""

    number: int
    pages: int
    per_page: int
    #: stations held directly by the unit, on every page together
    count: int


class WithChildrenOut(UnitResultOut):
    children: list[UnitResultOut]


class UnitTotalsOut(WithChildrenOut):
    #: one page of the stations held directly by the unit (its totals cover all of them)
    stations: list[StationRowOut]
    stations_page: StationsPageOut


class SeatOut(Out):
    number: int
    ballot_number: int
    name: str
    votes: int
    #: at or above the threshold
    qualified: bool
    seats: int


class DistrictSeatsOut(Out):
    unit: str
    name: str
    seats: int
    lists: list[SeatOut]


class TieOut(Out):
    #: the district (null: a national allocation)
    unit: str | None
    #: the seat's number in its allocation
    seat: int
    #: the lists with an equal claim (ballot order numbers)
    tied: list[int]
    winner: int


class ReferendumOut(Out):
    yes: int
    no: int


class OutcomeOut(Out):
    #: pending, winner, runoff, tie, invalid, no_votes, seats (proportional), approved or
    #: rejected (referendum), withheld
    status: str
    winner: int | None
    runoff: list[int]
    provisional: bool
    explanation: str
    #: why the election is invalid: annulled (too many stations) or turnout (below minimum)
    reason: str | None
    #: proportional: every list's seats (summed over the districts)
    seats: list[SeatOut]
    #: proportional per district: each district's allocation
    districts: list[DistrictSeatsOut]
    #: seats the published tie rule decided (more votes, then the lower ballot number)
    ties: list[TieOut]
    referendum: ReferendumOut | None


class NationalOut(WithChildrenOut):
    election: str
    simulated: bool
    published_only: bool
    outcome: OutcomeOut


class StationResultOut(Out):
    station: str
    name: str
    #: the station's name in Azerbaijani and Russian, null when not given
    name_az: str | None
    name_ru: str | None
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


@router.get("/{slug}/results", response={200: NationalOut, 304: None, **errors(404)})
def national(request: HttpRequest, slug: str) -> HttpResponseBase:
    """National totals, the win-rule outcome and the first-level units.

    The public gets the election's latest published state (``X-Secki-State`` names its
    version, ``Last-Modified`` the time of its newest fact), officials who may see unpublished
    figures the live tabulation. Answered conditionally like the public pages: a client
    holding the ETag gets 304, and a process that already serialised this state sends the
    stored bytes.
    """
    user = user_from_request(request)
    election: Election | None = None
    public = True
    row = None
    if user.is_authenticated:
        row = http._state_row(slug, fresh=True)  # officials: the state of this instant
        if row is None:
            raise Http404(f"no election {slug!r}")
        election = Election.objects.get(pk=row.election.id)
        public = not can(user, election, Permission.VIEW_UNPUBLISHED)
    state = published.current(slug) if public else None
    if public and state is None:
        raise Http404(f"no election {slug!r}")
    if state is not None:
        etag = http.etag_of(state.fingerprint, state.tag, "json", True, request.get_full_path())
    else:
        assert row is not None
        fingerprint = http.fingerprint_of(row)
        etag = http.etag_of(fingerprint, row.head, "json", public, request.get_full_path())
    response: HttpResponseBase
    if http.matches(request, etag):
        response = HttpResponseNotModified()
    else:
        hit = http.pages.get(etag)
        if hit is None:
            if state is not None:  # what the publisher wrote for nginx too
                content = published.national_answer(state)
            else:
                assert row is not None
                election = election or Election.objects.get(pk=row.election.id)
                content = json.dumps(national_json(election, public=public)).encode()
            http.pages.put(etag, content, "application/json")
            hit = (content, "application/json")
        response = HttpResponse(hit[0], content_type=hit[1])
    http.cache_headers(response, etag, public, state)
    return response


def national_json(election: Election, *, public: bool) -> dict[str, Any]:
    tab = tabulation(election, public=public)
    children = [tab.result(u) for u in tab.children(tab.root)]
    return serialize.national_json(
        election,
        tab.result(),
        children,
        published_only=tab.public,
        withheld=tab.withheld,
        districts=[tab.result(u) for u in tab.units.values() if u.seats is not None],
    )


def _state_answer(
    request: HttpRequest, state: published.State, document: Callable[[], dict[str, Any]]
) -> HttpResponseBase:
    """A public answer made from ``state`` like the national one: ETag of the state and the
    URL (with the host: the answer names absolute addresses), 304, the process's stored
    bytes, ``Last-Modified`` and ``X-Secki-State`` (so the WSGI front keeps it per state)."""
    etag = http.etag_of(state.fingerprint, state.tag, "json", True, request.build_absolute_uri())
    response: HttpResponseBase
    if http.matches(request, etag):
        response = HttpResponseNotModified()
    else:
        hit = http.pages.get(etag)
        if hit is None:
            content = json.dumps(document()).encode()
            http.pages.put(etag, content, "application/json")
            hit = (content, "application/json")
        response = HttpResponse(hit[0], content_type=hit[1])
    http.cache_headers(response, etag, True, state)
    return response


def _keep_answer(
    request: HttpRequest,
    state: published.State,
    kind: str,
    code: str,
    response: HttpResponseBase,
) -> None:
    """Write a station's or unit's answer made for the anonymous public from the publisher's
    state to its file, which nginx then serves (:mod:`secki.opendata.stationpages`): only
    the whole answer to a GET without a query string (a unit's first page), asked on the
    public host and scheme (the scans' addresses are absolute). Race rule as for the station
    pages (:func:`secki.portal.http.keep_station_page`): removed again when a state since
    the one it shows changed the station, or a station below the unit."""
    host, https = stationpages.public_origin()
    if (
        state.parts is None  # a state built in memory: no publisher removes its files
        or request.method != "GET"
        or request.META.get("QUERY_STRING")
        or "HTTP_AUTHORIZATION" in request.META
        or user_from_request(request).is_authenticated
        or not isinstance(response, HttpResponse)
        or response.status_code != 200
        or request.get_host() != host
        or request.is_secure() != https
    ):
        return
    path = stationpages.write_answer(state.election.slug, kind, code, response.content)
    if path is not None and not published.still_current(
        state, code, unit=kind == stationpages.UNITS
    ):
        path.unlink(missing_ok=True)


def _unit_document(
    tab: Tabulation, node: Unit, page_number: int, data: collect.StationPart | None = None
) -> dict[str, Any]:
    rows = pages.station_rows(tab, node, data)
    return answers.unit_document(tab, node, rows, page_number)


@router.get("/{slug}/results/units/{code}", response={200: UnitTotalsOut, 304: None, **errors(404)})
def unit(
    request: HttpRequest, slug: str, code: str, page: Annotated[int, Query(ge=1)] = 1
) -> HttpResponseBase | dict[str, Any]:
    """Totals of one unit (region, constituency, …) with its child units and one page of the
    stations it holds directly (``?page=N``, 100 a page; the totals always cover them all);
    the public gets the latest published state, answered conditionally like the national
    totals."""
    election = election_or_404(slug)
    node = unit_or_404(election, code)
    staff = can(user_from_request(request), election, Permission.VIEW_UNPUBLISHED)
    state = None if staff else published.current(slug)
    if state is not None and state.key[0] == election.pk:
        shown = state
        response = _state_answer(
            request,
            shown,
            lambda: _unit_document(shown.tabulation(), node, page, shown.stations(node.id)),
        )
        _keep_answer(request, shown, stationpages.UNITS, node.code, response)
        return response
    return _unit_document(tabulation(election, public=not staff), node, page)


@router.get(
    "/{slug}/results/stations/{code}",
    response={200: StationResultOut, 304: None, **errors(404)},
)
def station(request: HttpRequest, slug: str, code: str) -> HttpResponseBase | dict[str, Any]:
    """One station: its register, its counted protocol's lines (or null), and the scans of
    the paper protocol with their SHA-256 (as published in the ledger); the public gets the
    latest published state, answered conditionally like the national totals."""
    election = election_or_404(slug)
    st = station_or_404(election, code)
    public = not can(user_from_request(request), election, Permission.VIEW_UNPUBLISHED, st)
    state = published.current(slug) if public else None
    if state is not None and state.key[0] == election.pk:
        shown = state
        response = _state_answer(request, shown, lambda: _published_station(request, shown, st))
        _keep_answer(request, shown, stationpages.STATIONS, st.code, response)
        return response
    withheld = public and tabulation(election, public=True).withheld
    protocols = Protocol.objects.none() if withheld else Protocol.objects.filter(station=st)
    protocol = protocols.filter(is_current=True, status__in=counted_statuses(public)).first()
    annulled = protocols.filter(is_current=True, status=ProtocolStatus.ANNULLED).first()
    return {
        "station": st.code,
        "name": st.name,
        **translations(st),
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


def _published_station(request: HttpRequest, state: published.State, st: Station) -> dict[str, Any]:
    """A station as the published state holds it (its scans: those of the versions it shows),
    the answer the publisher writes for nginx (:func:`secki.opendata.answers.station_answer`)."""
    part = state.stations(st.unit_id)
    # the state's own register entry (the database's only for a station newer than the state)
    entry = next((s for s in part.stations if s.id == st.id), st)
    origin = f"{request.scheme}://{request.get_host()}"
    return answers.station_document(
        state.election.slug, st.unit.code, entry, part, origin, withheld=state.withheld
    )
