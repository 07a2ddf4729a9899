"""Turnout figures in the API: the summary of every unit at every report time (beside the final
turnout of the counted protocols), stations that have not reported, and anomaly flags (JSON or
CSV). The reports themselves come in through :mod:`secki.turnout.api`; these read them beside
the tabulation, so they live above it. Tagged ``turnout`` and with the operation ids the API
published while they lived in ``secki.turnout.api``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from secki.accounts.access import Permission, can
from secki.api.auth import user_from_request
from secki.api.lookups import (
    election_or_404,
)
from secki.api.lookups import unit_or_404 as lookup_unit
from secki.api.schemas import READ_ERRORS, ErrorOut, Out
from secki.elections.models import Election, Unit
from secki.elections.names import translations
from secki.errors import IntakeError
from secki.results import anomalies as flags
from secki.results.turnout import turnout_summary
from secki.turnout import tracking
from secki.turnout.territory import territory

router = Router(tags=["turnout"])


#: the kinds of anomaly flag (:data:`secki.results.anomalies.KINDS`)
Kind = Literal["above_100", "decrease", "late_jump", "identical", "curve_outlier"]


class UnitRef(Out):
    code: str
    name: str
    #: the unit's name in Azerbaijani and Russian, null when not given
    name_az: str | None
    name_ru: str | None
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
    #: the station's name in Azerbaijani and Russian, null when not given
    name_az: str | None
    name_ru: str | None
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
    """The unit a query names, or None for none (a NUL in the query never gets here:
    secki.textguard answers it)."""
    if not code:
        return None
    return lookup_unit(election, code)


@router.get(
    "/{slug}/turnout-summary",
    response={200: SummaryOut, 404: ErrorOut},
    operation_id="secki_turnout_api_summary",
)
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
    operation_id="secki_turnout_api_missing",
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
                **translations(r.station),
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
    operation_id="secki_turnout_api_anomaly_flags",
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
