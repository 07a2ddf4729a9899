"""Protocols API: submit (single or double entry), resolve, amend, annul, publish, read,
and bulk upload of the bundle's protocols.csv."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext
from ninja import Router
from pydantic import Field, PlainValidator
from pydantic_core import PydanticCustomError, PydanticKnownError

from secki.accounts.access import Permission, can
from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import (
    caller_election_station,
    election_or_404,
    station_in,
    station_lock,
)
from secki.api.lookups import station_or_404 as lookup_station
from secki.api.schemas import WRITE_ERRORS, Count, ErrorOut, In, Out, StationCode
from secki.api.upload import BULK_BODY, upload_content
from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.inputs import REASON_MAX, clean_text
from secki.protocol_schema.schema import MAX_COUNT
from secki.protocols import actions
from secki.protocols.data import REFERENCE_MAX, ProtocolData, parse_protocol
from secki.protocols.models import Protocol, ProtocolSource, ProtocolStatus

router = Router(tags=["protocols"])
PUBLIC_STATUSES = (ProtocolStatus.PUBLISHED, ProtocolStatus.ANNULLED)

#: the instant a ``datetime`` line (L17, the count's completion) takes: an ISO 8601 date and
#: time of day, seconds and their fraction optional, with an offset or in the election's zone
INSTANT = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_INSTANT = re.compile(INSTANT)
Instant = Annotated[str, Field(pattern=f"^{INSTANT}$")]


def _line_value(value: object) -> int | str:
    """One line's value as the description says: a count (a JSON integer, or a number without
    a fraction) 0 ≤ n < MAX_COUNT, or an instant. Which line takes which, the lines being the
    election's, is the protocol's parser's to say (422 naming the line)."""
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is int:
        if value < 0:
            raise PydanticKnownError("greater_than_equal", {"ge": 0})
        if value >= MAX_COUNT:
            raise PydanticKnownError("less_than", {"lt": MAX_COUNT})
        return value
    if type(value) is str and _INSTANT.fullmatch(value):
        return value
    raise PydanticCustomError(
        "line_value",
        gettext(
            "Input should be a count (a whole number) or a date and time "
            "(ISO 8601: YYYY-MM-DDTHH:MM, optionally seconds and an offset)"
        ),
    )


#: line code → value; a count line takes a count, a ``datetime`` line an instant (one check,
#: in one function, per value: a union of the two would name its branches in the error)
LineValues = dict[
    str, Annotated[int | str, PlainValidator(_line_value, json_schema_input_type=Count | Instant)]
]
Reference = Annotated[str, Field(max_length=REFERENCE_MAX)]
Reason = Annotated[str, Field(max_length=REASON_MAX)]


class ProtocolIn(In):
    station: StationCode
    values: LineValues
    #: the commission's act that lets a failed ``workflow = "act"`` check pass
    act: Reference | None = None


class AmendIn(In):
    values: LineValues
    reason: Reason
    act: Reference | None = None


class ResolveIn(In):
    values: LineValues
    reason: Reason
    act: Reference | None = None


class AnnulIn(In):
    decision_ref: Reference
    reason: Reason = ""


class CheckStateOut(Out):
    """A control relation's outcome as stored with a protocol."""

    code: str
    severity: Literal["hard", "soft"]
    #: null: not applicable (a line it needs was left empty)
    passed: bool | None


class ProtocolOut(Out):
    election: str
    station: str
    version: int
    status: Literal[
        "received",
        "first_entry",
        "second_entry",
        "quarantined",
        "accepted",
        "published",
        "annulled",
    ]
    is_current: bool
    source: str
    received_at: str
    completed_at: str | None
    #: line code → count (the candidates' C1 … Cn included)
    values: dict[str, int]
    checks: list[CheckStateOut]
    soft_failures: list[str]
    reason: str
    decision_ref: str
    quarantine_reason: str


def protocol_json(protocol: Protocol, values: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "election": protocol.election.slug,
        "station": protocol.station.code,
        "version": protocol.version,
        "status": protocol.status,
        "is_current": protocol.is_current,
        "source": protocol.source,
        "received_at": protocol.received_at.isoformat(),
        "completed_at": protocol.completed_at.isoformat() if protocol.completed_at else None,
        "values": values
        if values is not None
        else dict(protocol.values.order_by("id").values_list("code", "value")),
        "checks": protocol.checks,
        "soft_failures": protocol.soft_failures,
        "reason": protocol.reason,
        "decision_ref": protocol.decision_ref,
        "quarantine_reason": protocol.quarantine_reason,
    }


def station_or_404(election: Election, code: str) -> Station:
    """The station a path names (a NUL in the path never gets here: secki.textguard answers
    it)."""
    return lookup_station(election, code)


def station_code(code: str) -> str:
    """The station a request body names, refused (naming the field) when no database can
    hold it (the lookup would fail)."""
    return clean_text("station", code, 64)


def _parse(election: Election, values: dict[str, int | str]) -> ProtocolData:
    return parse_protocol(
        election.protocol_schema(), election.candidate_count(), values, election.tz
    )


@router.post(
    "/{slug}/protocols",
    response={201: ProtocolOut, 202: ProtocolOut, **WRITE_ERRORS},
)
def submit(request: HttpRequest, slug: str, payload: ProtocolIn) -> JsonResponse:
    """Submit one station's protocol. Single entry: 201 accepted, or refused. Double entry:
    202 with status first_entry / quarantined, 201 once both entries agree."""
    user, election, named = caller_election_station(request, slug, station_code(payload.station))

    def work() -> Answer:
        station = named.get()
        data = _parse(election, payload.values)
        outcome = actions.submit_protocol(
            election, station, data, actor=user, source=ProtocolSource.API, act=payload.act
        )
        status = 201 if outcome.protocol.counted else 202
        return status, protocol_json(
            outcome.protocol, data.values() if outcome.protocol.counted else {}
        )

    return respond(
        request, user, work, grouped=actions.batchable(election), locks=station_lock(named)
    )


@router.get("/{slug}/protocols/{station}", response={200: list[ProtocolOut], 404: ErrorOut})
def versions(request: HttpRequest, slug: str, station: str) -> list[dict[str, Any]]:
    """Every version of a station's protocol (the public sees published and annulled ones)."""
    user = user_from_request(request)
    election = election_or_404(slug)
    st = station_or_404(election, station)
    qs = Protocol.objects.filter(station=st).select_related("election", "station")
    if not can(user, election, Permission.VIEW_UNPUBLISHED, st):
        qs = qs.filter(status__in=PUBLIC_STATUSES)
    return [protocol_json(p) for p in qs.order_by("version")]


def _current(station: Station) -> Protocol:
    protocol = Protocol.objects.filter(station=station, is_current=True).first()
    if protocol is None:
        raise IntakeError("no_protocol", f"station {station.code} has no protocol", status=404)
    return protocol


@router.post(
    "/{slug}/protocols/{station}/amend",
    response={201: ProtocolOut, **WRITE_ERRORS},
)
def amend(request: HttpRequest, slug: str, station: str, payload: AmendIn) -> JsonResponse:
    """A new version of an accepted protocol, with the reason for it."""
    user = user_from_request(request)
    election = election_or_404(slug)
    st = station_or_404(election, station)

    def work() -> Answer:
        data = _parse(election, payload.values)
        outcome = actions.amend_protocol(
            st, data, actor=user, reason=payload.reason, source=ProtocolSource.API, act=payload.act
        )
        return 201, protocol_json(outcome.protocol)

    return respond(request, user, work)


@router.post(
    "/{slug}/protocols/{station}/resolve",
    response={200: ProtocolOut, **WRITE_ERRORS},
)
def resolve(request: HttpRequest, slug: str, station: str, payload: ResolveIn) -> JsonResponse:
    """A supervisor settles a quarantined protocol with the values read from the paper."""
    user = user_from_request(request)
    election = election_or_404(slug)
    st = station_or_404(election, station)

    def work() -> Answer:
        data = _parse(election, payload.values)
        outcome = actions.resolve_protocol(
            _current(st), data, actor=user, reason=payload.reason, act=payload.act
        )
        return 200, protocol_json(outcome.protocol)

    return respond(request, user, work)


@router.post(
    "/{slug}/protocols/{station}/annul",
    response={201: ProtocolOut, **WRITE_ERRORS},
)
def annul(request: HttpRequest, slug: str, station: str, payload: AnnulIn) -> JsonResponse:
    """Annul a station's results by the commission's decision (kept on record, out of totals)."""
    user = user_from_request(request)
    election = election_or_404(slug)
    st = station_or_404(election, station)

    def work() -> Answer:
        protocol = actions.annul_protocol(
            st, actor=user, decision_ref=payload.decision_ref, reason=payload.reason
        )
        return 201, protocol_json(protocol)

    return respond(request, user, work)


@router.post(
    "/{slug}/protocols/{station}/publish",
    response={200: ProtocolOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
)
def publish(request: HttpRequest, slug: str, station: str) -> JsonResponse:
    """Publish an accepted protocol (elections that do not publish automatically)."""
    user = user_from_request(request)
    election = election_or_404(slug)
    st = station_or_404(election, station)

    def work() -> Answer:
        return 200, protocol_json(actions.publish_protocol(_current(st), actor=user))

    return respond(request, user, work)


class ProtocolBulkOut(Out):
    accepted: int
    election: str


@router.post(
    "/{slug}/protocols-bulk",
    response={201: ProtocolBulkOut, 413: ErrorOut, **WRITE_ERRORS},
    openapi_extra=BULK_BODY,
)
def bulk(request: HttpRequest, slug: str) -> JsonResponse:
    """Upload a protocols.csv (docs/formats.md) as the `file` field of a form or as the body
    (`Content-Type: text/csv`): every row is checked first, then all are accepted in one
    transaction, or none. The caller's role is checked before the file is read; the file is
    read within bounds (columns, rows, line and field length)."""
    from secki.protocols.bulk import accept_csv, authorize_upload

    user = user_from_request(request)
    election = election_or_404(slug)
    authorize_upload(user, election)  # before a byte of the body is read
    content = upload_content(request)

    def work() -> Answer:
        content.seek(0)  # a fingerprint (Idempotency-Key) may have read it
        accepted = accept_csv(election, content, actor=user, source=ProtocolSource.IMPORT)
        return 201, {"accepted": accepted, "election": election.slug}

    return respond(request, user, work)


class CheckIn(In):
    station: StationCode
    values: LineValues


class CheckResultOut(Out):
    """One control relation evaluated on the values sent."""

    code: str
    severity: Literal["hard", "soft"]
    #: null: not applicable (a line it needs was left empty)
    passed: bool | None
    message: str
    #: the lines and figures the relation used: counts, instants
    values: dict[str, int | dt.datetime]


class ProtocolCheckOut(Out):
    station: str
    candidates_total: int
    checks: list[CheckResultOut]
    #: whether every hard check passes
    acceptable: bool


@router.post(
    "/{slug}/protocols-check",
    response={
        200: ProtocolCheckOut,
        400: ErrorOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        422: ErrorOut,
    },
)
def check(request: HttpRequest, slug: str, payload: CheckIn) -> dict[str, Any]:
    """Evaluate a protocol's control relations without storing anything (for data-entry
    forms that show check results before submitting)."""
    from secki.accounts.access import authorize

    user = user_from_request(request)
    election = election_or_404(slug)
    station = station_in(election, station_code(payload.station))
    authorize(user, election, Permission.ENTER_PROTOCOL, station)
    data = _parse(election, payload.values)
    results = actions.run_checks(election, station, data)
    return {
        "station": station.code,
        "candidates_total": sum(data.candidates),
        "checks": [
            {
                "code": r.code,
                "severity": r.severity,
                "passed": r.passed,
                # a built-in check's message in the request's language (secki.portal.labels)
                "message": gettext(r.message) if r.message else r.message,
                "values": r.values,
            }
            for r in results
        ],
        "acceptable": not any(r.failed and r.severity == "hard" for r in results),
    }
