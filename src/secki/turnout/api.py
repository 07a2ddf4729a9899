"""Turnout API: report (idempotent), read a station's reports."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import Router, Schema

from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import election_or_404, station_or_404
from secki.api.schemas import ErrorOut
from secki.elections.models import Station
from secki.errors import IntakeError
from secki.turnout.actions import parse_voters, report_turnout
from secki.turnout.models import TurnoutReport

router = Router(tags=["turnout"])


class TurnoutIn(Schema):
    station: str
    time: str
    voters: Any
    reason: str = ""


class TurnoutOut(Schema):
    station: str
    time: str
    voters: int
    version: int
    is_current: bool
    late: bool
    received_at: str
    reason: str


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


@router.post(
    "/{slug}/turnout",
    response={
        201: TurnoutOut,
        400: ErrorOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
    },
)
def submit(request: HttpRequest, slug: str, payload: TurnoutIn) -> JsonResponse:
    """Report cumulative voters who received a ballot at one of the election's report times;
    a second report for the same time is a correction and needs a reason."""
    user = user_from_request(request)
    election = election_or_404(slug)

    def work() -> Answer:
        station = Station.objects.filter(election=election, code=payload.station).first()
        if station is None:
            raise IntakeError(
                "unknown_station",
                f"no station {payload.station!r} in {election.slug}",
                field="station",
            )
        voters = parse_voters(payload.voters)
        report = report_turnout(
            election, station, payload.time, voters, actor=user, source="api", reason=payload.reason
        )
        return 201, report_json(report, station.code)

    return respond(request, user, work)


@router.get("/{slug}/turnout/{station}", response={200: list[TurnoutOut], 404: ErrorOut})
def station_reports(request: HttpRequest, slug: str, station: str) -> list[dict[str, Any]]:
    """Every version of every turnout report of one station."""
    election = election_or_404(slug)
    st = station_or_404(election, station)
    return [
        report_json(r, st.code)
        for r in TurnoutReport.objects.filter(station=st).order_by("time", "version")
    ]
