"""Turnout API: report (idempotent), bulk file, a station's reports, the summary of every unit
at every report time, stations that have not reported, and anomaly flags (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import Query, Router
from pydantic import Field

from secki.accounts.access import Permission, can, hold_memberships
from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import (
    election_or_404,
    election_station,
    station_lock,
    station_or_404,
)
from secki.api.lookups import unit_or_404 as lookup_unit
from secki.api.schemas import READ_ERRORS, WRITE_ERRORS, Count, ErrorOut, In, Out, StationCode
from secki.api.upload import BULK_BODY, upload_content
from secki.elections.models import Election, Unit
from secki.errors import IntakeError
from secki.inputs import REASON_MAX, clean_text, storable
from secki.turnout import anomalies as flags
from secki.turnout import tracking
from secki.turnout.actions import report_turnout
from secki.turnout.aggregate import turnout_summary
from secki.turnout.bulk import accept_csv, authorize_upload
from secki.turnout.models import TurnoutReport
from secki.turnout.territory import territory

router = Router(tags=["turnout"])


#: the kinds of anomaly flag (:data:`secki.turnout.anomalies.KINDS`)
Kind = Literal["above_100", "decrease", "late_jump", "identical", "curve_outlier"]


class TurnoutIn(In):
    station: StationCode
    #: one of the election's report times, ``HH:MM``
    time: str
    #: voters who received a ballot so far (cumulative)
    voters: Count
    #: why a report time already reported gets another number (a correction)
    reason: Annotated[str, Field(max_length=REASON_MAX)] = ""


class TurnoutOut(Out):
    station: str
    time: str
    voters: int
    version: int
    is_current: bool
    late: bool
    received_at: str
    reason: str


class BulkOut(Out):
    election: str
    accepted: int
    reported: int
    corrected: int


class UnitRef(Out):
    code: str
    name: str
    kind: str
    number: int | None


class TimeFigures(Out):
    time: str
    voters: int
    registered_reporting: int
    stations_reporting: int
    stations_total: int
    turnout: float | None
    late: int


class FinalFigures(Out):
    participants: int
    registered_reporting: int
    stations_reporting: int
    stations_total: int
    turnout: float | None


class ChildSummary(Out):
    unit: UnitRef
    stations_total: int
    registered_total: int
    reports: list[TimeFigures]
    final: FinalFigures


class SummaryOut(Out):
    election: str
    simulated: bool
    unit: UnitRef
    times: list[str]
    stations_total: int
    registered_total: int
    reports: list[TimeFigures]
    final: FinalFigures
    children: list[ChildSummary]


class FlagOut(Out):
    station: str
    kind: Kind
    #: a report time, "final" (the protocol), or "" (the whole series)
    time: str
    value: float
    threshold: float
    message: str


class AnomalySettingsOut(Out):
    #: late jump threshold, percentage points
    jump: float
    #: curve outlier threshold, standard deviations
    k: float


class AnomalyCountsOut(Out):
    """Flags shown, by kind."""

    above_100: int
    decrease: int
    late_jump: int
    identical: int
    curve_outlier: int


class AnomaliesOut(Out):
    election: str
    settings: AnomalySettingsOut
    counts: AnomalyCountsOut
    flags: list[FlagOut]


class MissingOut(Out):
    station: str
    name: str
    address: str
    unit: str
    registered: int
    last_time: str | None
    last_voters: int | None
    operators: list[str]


class MissingListOut(Out):
    election: str
    time: str
    missing: int
    stations: list[MissingOut]


def _unit(election: Election, code: str | None) -> Unit | None:
    """The unit a query names (a code no database can hold names none), or None for none."""
    if not code:
        return None
    if not storable(code):
        raise Http404("no such unit")
    return lookup_unit(election, code)


def report_json(report: TurnoutReport, station_code: str) -> dict[str, Any]:
    return {
        "station": station_code,
        "time": report.time,
        "voters": report.voters,
        "version": report.version,
        "is_current": report.is_current,
        "late": report.late,
        "received_at": report.received_at.isoformat(),
        "reason": report.reason,
    }


@router.post("/{slug}/turnout", response={201: TurnoutOut, **WRITE_ERRORS})
def submit(request: HttpRequest, slug: str, payload: TurnoutIn) -> JsonResponse:
    """Report cumulative voters who received a ballot at one of the election's report times;
    a second report for the same time is a correction and needs a reason. Send
    `Idempotency-Key` to make a retry safe."""
    user = user_from_request(request)
    election, named = election_station(slug, clean_text("station", payload.station, 64))
    hold_memberships(user, election)

    def work() -> Answer:
        station = named.get()
        report = report_turnout(
            election,
            station,
            payload.time,
            payload.voters,
            actor=user,
            source="api",
            reason=payload.reason,
        )
        return 201, report_json(report, station.code)

    return respond(request, user, work, grouped=True, locks=station_lock(named))


@router.post(
    "/{slug}/turnout-bulk",
    response={201: BulkOut, 413: ErrorOut, **WRITE_ERRORS},
    openapi_extra=BULK_BODY,
)
def bulk(request: HttpRequest, slug: str) -> JsonResponse:
    """Upload a turnout.csv (`station,time,voters`, optional `reason` for corrections) as the
    body (`Content-Type: text/csv`) or as the `file` field of a form: every row is validated
    like a single report, then all are stored in one transaction, or none (`invalid_file`,
    with every bad line in `details`). The caller's role is checked before the file is read;
    the file is read within bounds (columns, rows, line and field length)."""
    user = user_from_request(request)
    election = election_or_404(slug)
    authorize_upload(user, election)  # before a byte of the body is read
    content = upload_content(request)

    def work() -> Answer:
        content.seek(0)  # a fingerprint (Idempotency-Key) may have read it
        outcome = accept_csv(election, content, actor=user, source="bulk")
        return 201, {
            "election": election.slug,
            "accepted": outcome.total,
            "reported": outcome.reported,
            "corrected": outcome.corrected,
        }

    return respond(request, user, work)


@router.get("/{slug}/turnout/{station}", response={200: list[TurnoutOut], 404: ErrorOut})
def station_reports(request: HttpRequest, slug: str, station: str) -> list[dict[str, Any]]:
    """Every version of every turnout report of one station."""
    election = election_or_404(slug)
    if not storable(station):
        raise Http404("no such station")
    st = station_or_404(election, station)
    return [
        report_json(r, st.code)
        for r in TurnoutReport.objects.filter(station=st).order_by("time", "version")
    ]


@router.get("/{slug}/turnout-summary", response={200: SummaryOut, 404: ErrorOut})
def summary(request: HttpRequest, slug: str, unit: str | None = None) -> dict[str, Any]:
    """Turnout of a unit (default: the whole election) and of its direct sub-units at every
    report time: voters, registered voters of the reporting stations, turnout % over the
    reporting stations only, stations reporting / total; `final` is the turnout of the
    counted protocols (published ones for the public)."""
    user = user_from_request(request)
    election = election_or_404(slug)
    target = _unit(election, unit)
    public = not can(user, election, Permission.VIEW_UNPUBLISHED)
    return turnout_summary(election, target, public=public)


@router.get(
    "/{slug}/turnout-missing",
    response={200: MissingListOut, **READ_ERRORS, 422: ErrorOut},
)
def missing(
    request: HttpRequest, slug: str, time: str | None = None, unit: str | None = None
) -> dict[str, Any]:
    """Stations of your territory without a report at `time` (default: the latest report
    time that has come; a time the election does not have is 422), with their station
    operators' e-mail. For reporting staff."""
    user = user_from_request(request)
    election = election_or_404(slug)
    area = territory(user, election, Permission.REPORT_TURNOUT)
    when = _time_param(election, time)
    target = _unit(election, unit)
    rows = tracking.missing(election, when, area, target)
    return {
        "election": election.slug,
        "time": when,
        "missing": len(rows),
        "stations": [
            {
                "station": r.station.code,
                "name": r.station.name,
                "address": r.station.address,
                "unit": r.station.unit.code,
                "registered": r.station.registered,
                "last_time": r.last_time,
                "last_voters": r.last_voters,
                "operators": r.operators,
            }
            for r in rows
        ],
    }


def _time_param(election: Election, time: str | None) -> str:
    """The report time a query names (default: the latest that has come); one the election
    does not have is refused for what it means (422: the times are the election's)."""
    if not time:
        return tracking.latest_time(election)
    if time not in election.turnout_times:
        raise IntakeError(
            "unknown_time",
            f"{time!r} is not one of the report times {', '.join(election.turnout_times)}",
            field="time",
        )
    return time


#: ``format=csv``: the same flags as a CSV file
CSV_ANSWER = {"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


@router.get(
    "/{slug}/turnout-anomalies",
    response={200: AnomaliesOut, **READ_ERRORS},
    openapi_extra=CSV_ANSWER,
)
def anomaly_flags(
    request: HttpRequest,
    slug: str,
    kind: Kind | None = None,
    unit: str | None = None,
    jump: Annotated[float | None, Query(gt=0, le=100, allow_inf_nan=False)] = None,
    k: Annotated[float | None, Query(gt=0, le=100, allow_inf_nan=False)] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Anomaly flags of the stations in your territory (staff and observers): `above_100`,
    `decrease`, `late_jump` (final protocol − last report > `jump` points, default 15),
    `identical`, `curve_outlier` (more than `k` SD from the constituency, default 3);
    `jump` and `k` above 0, at most 100. `format=csv` answers a CSV file."""
    user = user_from_request(request)
    election = election_or_404(slug)
    area = territory(user, election, Permission.VIEW_UNPUBLISHED)
    settings = flags.settings_from(jump, k)
    target = _unit(election, unit)
    report = flags.anomalies(election, settings)
    shown = flags.visible(report, area, kind, target.path if target else None)
    if format == "csv":
        response = HttpResponse(flags.to_csv(report, shown), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="{election.slug}-turnout-anomalies.csv"'
        )
        return response
    counts = dict.fromkeys(flags.KINDS, 0)
    for f in shown:
        counts[f.kind] += 1
    return {
        "election": election.slug,
        "settings": {"jump": settings.jump_points, "k": settings.k},
        "counts": counts,
        "flags": [
            {
                "station": f.station,
                "kind": f.kind,
                "time": f.time,
                "value": f.value,
                "threshold": f.threshold,
                "message": f.message,
            }
            for f in shown
        ],
    }
