"""Turnout API: report (idempotent), bulk file, a station's reports, the summary of every unit
at every report time, stations that have not reported, and anomaly flags (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import Http404, HttpRequest, JsonResponse
from ninja import Router
from pydantic import Field

from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import (
    caller_election_station,
    election_or_404,
    station_lock,
    station_or_404,
)
from secki.api.schemas import WRITE_ERRORS, Count, ErrorOut, In, Out, StationCode
from secki.api.upload import BULK_BODY, upload_content
from secki.inputs import REASON_MAX, clean_text, storable
from secki.turnout.actions import batchable, report_turnout
from secki.turnout.bulk import accept_csv, authorize_upload
from secki.turnout.models import TurnoutReport

router = Router(tags=["turnout"])


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
    user, election, named = caller_election_station(
        request, slug, clean_text("station", payload.station, 64)
    )

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

    return respond(request, user, work, grouped=batchable(election), locks=station_lock(named))


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
