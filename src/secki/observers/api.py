"""Observers' API: an accredited observer's protocol copy (token, ``Idempotency-Key``), an
organisation's copies as one CSV file, the public comparison of the copies with the official
protocols (every station, or one), and the observers' dashboard for an organisation's own
tools."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext_noop
from ninja import Router
from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from secki.accounts.access import AccessDenied, Permission, can, hold_memberships
from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import election_or_404, station_in, station_or_404
from secki.api.schemas import READ_ERRORS, WRITE_ERRORS, Count, ErrorOut, In, Out, StationCode
from secki.api.upload import BULK_BODY, upload_content
from secki.elections.models import Election
from secki.errors import IntakeError
from secki.inputs import clean_text
from secki.observers import actions, compare, dashboard
from secki.observers.models import Organisation, ProtocolCopy

router = Router(tags=["observers"])

LineCode = Annotated[str, Field(max_length=40)]


class ObserverCopyIn(In):
    station: StationCode
    #: the copy's numbers by line code (the protocol's count lines, candidates as C1 … Cn)
    values: dict[LineCode, Count]


class ObserverCopyOut(Out):
    station: str
    organisation: str
    accreditation: str | None
    values: dict[str, int]
    submitted_at: str
    source: str


class ObserverCopiesUploadOut(Out):
    election: str
    organisation: str
    copies: int
    photos: int


class ObserverCopyDifference(TypedDict):
    """A line that differs (a typed dict: a model's field may not be called ``copy``)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    line: str
    official: int
    copy: int
    #: official − copy
    delta: int


class ObserverCopyCompared(Out):
    organisation: str
    values: dict[str, int]
    photo_sha256: str | None
    differences: list[ObserverCopyDifference]


class ObserverStationComparison(Out):
    station: str
    unit: str
    #: corroborated (two organisations agree against the official protocol), differs,
    #: agrees, awaiting (no official protocol yet)
    mark: str
    lines: list[str]
    #: candidate line → the largest official − copy (positive: in the candidate's favour)
    favour: dict[str, int]
    official: dict[str, int] | None
    copies: list[ObserverCopyCompared]


class ObserverUnitCounts(Out):
    unit: str
    name: str
    copies: int
    corroborated: int
    differs: int
    agrees: int
    awaiting: int


class ObserverComparisonOut(Out):
    election: str
    #: "published" for the public, "counted" for those who may see accepted protocols
    official: str
    counts: dict[str, int]
    stations: list[ObserverStationComparison]
    units: list[ObserverUnitCounts]


class ObserverAccreditations(Out):
    active: int
    revoked: int
    expired: int
    by_territory: dict[str, int]


class ObserverContradiction(Out):
    station: str
    mark: str
    lines: list[str]


class ObserverOrganisationBoard(Out):
    name: str
    kind: str
    accreditations: ObserverAccreditations
    copies: int
    marks: dict[str, int]
    contradictions: list[ObserverContradiction]


class WebcamOutageOut(Out):
    station: str
    started_at: str
    ended_at: str | None
    detail: str


class ObserverCriticalQuestion(Out):
    code: str
    label: str
    #: the answers that matter
    alert_when: list[str]


class ObserverChecklistRow(Out):
    #: the constituency's code (null: the whole, or stations under no constituency)
    unit: str | None
    name: str | None
    submissions: int
    #: question code → submissions with an answer that matters
    alerts: dict[str, int]


class ObserverChecklistSummary(Out):
    code: str
    title: str
    critical: list[ObserverCriticalQuestion]
    constituencies: list[ObserverChecklistRow]
    total: ObserverChecklistRow


class ObserverIncidentRow(Out):
    unit: str | None
    name: str | None
    category: str
    #: status → incidents
    statuses: dict[str, int]


class ObserverIncidentSummary(Out):
    #: status → incidents, every constituency
    statuses: dict[str, int]
    constituencies: list[ObserverIncidentRow]


class ObserverDashboardOut(Out):
    election: str
    official: str
    organisations: list[ObserverOrganisationBoard]
    webcams: dict[str, int]
    open_outages: list[WebcamOutageOut]
    recent_outages: list[WebcamOutageOut]
    #: per checklist, submissions and answers that matter by constituency (the caller's
    #: organisations; the commission: everybody's)
    checklists: list[ObserverChecklistSummary]
    #: incidents by constituency, category and status
    incidents: ObserverIncidentSummary


def copy_json(copy: ProtocolCopy) -> dict[str, Any]:
    return {
        "station": copy.station.code,
        "organisation": copy.organisation.name,
        "accreditation": copy.accreditation.number if copy.accreditation else None,
        "values": copy.values,
        "submitted_at": copy.submitted_at.isoformat(),
        "source": copy.source,
    }


@router.post("/{slug}/observers/copies", response={201: ObserverCopyOut, **WRITE_ERRORS})
def submit_copy(request: HttpRequest, slug: str, payload: ObserverCopyIn) -> JsonResponse:
    """An accredited observer records the numbers of the protocol copy received at a station
    of their accreditation's territory; a later copy of the same station replaces it. Send
    `Idempotency-Key` to make a retry safe: the copy is stored once."""
    user = user_from_request(request)
    election = election_or_404(slug)
    hold_memberships(user, election)

    def work() -> Answer:
        station = station_in(election, clean_text("station", payload.station, 64))
        copy = actions.submit_copy(election, station, payload.values, actor=user, request=request)
        return 201, copy_json(copy)

    return respond(request, user, work)


def _organisation(user: Any, election: Election, chosen: str) -> Organisation:
    organisations = actions.representative_of(user, election)
    if chosen:
        for o in organisations:
            if o.name == chosen:
                return o
        raise AccessDenied(
            "forbidden_role",
            gettext_noop("you do not represent an accredited organisation %(name)s"),
            {"name": repr(chosen[:80])},
        )
    if len(organisations) > 1:
        raise IntakeError(
            "missing_value",
            "organisation: you represent several organisations; name one",
            field="organisation",
        )
    return organisations[0]


@router.post(
    "/{slug}/observers/copies-bulk",
    response={201: ObserverCopiesUploadOut, 413: ErrorOut, **WRITE_ERRORS},
    openapi_extra=BULK_BODY,
)
def upload_copies(request: HttpRequest, slug: str, organisation: str = "") -> JsonResponse:
    """An organisation's copies as a CSV file (`station` and the line codes) as the body
    (`Content-Type: text/csv`) or the `file` field of a form: every row checked, then all
    stored or none. `organisation` names the organisation when its representative has
    several. The caller is checked before the file is read."""
    user = user_from_request(request)
    election = election_or_404(slug)
    chosen = _organisation(user, election, clean_text("organisation", organisation, 200))
    content = upload_content(request)

    def work() -> Answer:
        content.seek(0)
        outcome = actions.upload_copies(election, chosen, content, actor=user, request=request)
        return 201, {
            "election": election.slug,
            "organisation": chosen.name,
            "copies": outcome.copies,
            "photos": outcome.photos,
        }

    return respond(request, user, work)


def _public(request: HttpRequest, election: Election) -> bool:
    return not can(user_from_request(request), election, Permission.VIEW_UNPUBLISHED)


@router.get("/{slug}/observers/comparison", response={200: ObserverComparisonOut, 404: ErrorOut})
def comparison(request: HttpRequest, slug: str) -> dict[str, Any]:
    """Every station with an observer's copy against its official protocol (published
    protocols for the public): its mark, the lines that differ, by how much and in whose
    favour; the marks counted by unit."""
    election = election_or_404(slug)
    return compare.as_json(compare.compare(election, public=_public(request, election)))


@router.get(
    "/{slug}/observers/comparison/{station}",
    response={200: ObserverStationComparison, 404: ErrorOut},
)
def station_comparison(request: HttpRequest, slug: str, station: str) -> dict[str, Any]:
    """One station's copies against its official protocol (404: no copy of it)."""
    election = election_or_404(slug)
    found = station_or_404(election, station[:64])
    row = compare.station_comparison(election, found, public=_public(request, election))
    if row is None:
        raise IntakeError(
            "no_copy",
            gettext_noop("no observer's copy of station %(code)s"),
            params={"code": found.code},
            status=404,
            field="station",
        )
    return compare.station_json(row)


@router.get("/{slug}/observers/dashboard", response={200: ObserverDashboardOut, **READ_ERRORS})
def observers_dashboard(request: HttpRequest, slug: str) -> dict[str, Any]:
    """For an organisation's own tools (its representative's token) and the commission: the
    accreditations, copies, contradictions found, the webcams' outages, checklist summaries and
    incidents by constituency (an organisation's own only)."""
    user = user_from_request(request)
    election = election_or_404(slug)
    return dashboard.as_json(dashboard.build(user, election))
