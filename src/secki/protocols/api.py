"""Protocols API: submit (single or double entry), resolve, amend, annul, publish, read,
and bulk upload of the bundle's protocols.csv."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import File, Router, Schema
from ninja.files import UploadedFile

from secki.accounts.access import Permission, can, hold_memberships
from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import (
    election_or_404,
    election_station,
    station_in,
    station_lock,
    station_or_404,
)
from secki.api.schemas import WRITE_ERRORS, ErrorOut
from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.protocols import actions
from secki.protocols.data import ProtocolData, parse_protocol
from secki.protocols.models import Protocol, ProtocolSource, ProtocolStatus

router = Router(tags=["protocols"])
PUBLIC_STATUSES = (ProtocolStatus.PUBLISHED, ProtocolStatus.ANNULLED)


class ProtocolIn(Schema):
    station: str
    values: dict[str, Any]
    act: str | None = None


class AmendIn(Schema):
    values: dict[str, Any]
    reason: str
    act: str | None = None


class ResolveIn(Schema):
    values: dict[str, Any]
    reason: str
    act: str | None = None


class AnnulIn(Schema):
    decision_ref: str
    reason: str = ""


class ProtocolOut(Schema):
    election: str
    station: str
    version: int
    status: str
    is_current: bool
    source: str
    received_at: str
    completed_at: str | None
    values: dict[str, int]
    checks: list[dict[str, Any]]
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


def _parse(election: Election, values: dict[str, Any]) -> ProtocolData:
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
    user = user_from_request(request)
    election, named = election_station(slug, payload.station)
    hold_memberships(user, election)

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

    # Double entry may write and then refuse (rolling back to a savepoint), which a shared
    # transaction's deferred writes would not follow: it runs alone.
    return respond(
        request, user, work, grouped=not election.double_entry, locks=station_lock(named)
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


@router.post(
    "/{slug}/protocols-bulk",
    response={201: dict[str, Any], **WRITE_ERRORS},
)
def bulk(
    request: HttpRequest,
    slug: str,
    file: File[UploadedFile],
) -> JsonResponse:
    """Upload a protocols.csv (docs/formats.md): every row is checked first, then all are
    accepted in one transaction, or none."""
    from secki.protocols.bulk import accept_csv

    user = user_from_request(request)
    election = election_or_404(slug)

    def work() -> Answer:
        protocols = accept_csv(election, file.read(), actor=user, source=ProtocolSource.IMPORT)
        return 201, {"accepted": len(protocols), "election": election.slug}

    return respond(request, user, work)


class CheckIn(Schema):
    station: str
    values: dict[str, Any]


@router.post(
    "/{slug}/protocols-check",
    response={
        200: dict[str, Any],
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
    station = station_in(election, payload.station)
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
                "message": r.message,
                "values": r.values,
            }
            for r in results
        ],
        "acceptable": not any(r.failed and r.severity == "hard" for r in results),
    }
