"""Every state change of a protocol goes through one function here (STYLE.md habit 3).

Each function checks role and territory, validates, changes state in one transaction, appends
to the protocol's event history and, for public facts, to the election's public log. The web
form, the JSON API, bulk upload and the demo replay all call these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from secki import groupcommit
from secki.accounts.access import AccessDenied, Permission, authorize
from secki.accounts.users import User, account_of
from secki.elections.models import Election, ElectionStatus, Station
from secki.errors import IntakeError, Text
from secki.inputs import REASON_MAX, clean_text
from secki.ledger import chain, drafts
from secki.protocol_schema import CheckResult, ProtocolSchema
from secki.protocol_schema.schema import blamed_line
from secki.protocols import store
from secki.protocols.data import REFERENCE_MAX, ProtocolData, recorded_checks
from secki.protocols.data import check_context as _context
from secki.protocols.models import (
    COUNTED_STATUSES,
    EventKind,
    Protocol,
    ProtocolEntry,
    ProtocolEvent,
    ProtocolScan,
    ProtocolSource,
    ProtocolStatus,
)


@dataclass(frozen=True)
class IntakeResult:
    protocol: Protocol
    created: bool  # False when the call changed nothing new (never for now; kept for API)
    checks: list[CheckResult]


def check_context(election: Election, station: Station) -> dict[str, Any]:
    return _context(station.registered, election.polls_close_at)


def run_checks(election: Election, station: Station, data: ProtocolData) -> list[CheckResult]:
    """The schema's checks, after the bounds every count must keep
    (:meth:`ProtocolData.check_bounds`: refused with an IntakeError)."""
    data.check_bounds(station.code, station.registered)
    return data.evaluate(election.protocol_schema(), check_context(election, station))


def _blocking(election: Election, results: list[CheckResult], act: str | None) -> list[CheckResult]:
    schema = election.protocol_schema()
    act_codes = {c.code for c in schema.checks if c.workflow == "act"}
    return [
        r
        for r in results
        if r.failed and r.severity == "hard" and not (act and r.code in act_codes)
    ]


def check_details(results: list[CheckResult]) -> list[dict[str, Any]]:
    return [
        {"code": r.code, "severity": r.severity, "message": r.message, "values": r.values}
        for r in results
    ]


def blamed(schema: ProtocolSchema, result: CheckResult) -> str | None:
    """The protocol line a failed check is reported on (its relation's left side)."""
    check = next((c for c in schema.checks if c.code == result.code), None)
    if check is None:
        return next(iter(sorted(result.values)), None)
    return blamed_line(check, result.values)


def _refuse_hard(
    election: Election, station: Station, results: list[CheckResult], act: str | None
) -> None:
    blocking = _blocking(election, results, act)
    if not blocking:
        return
    schema = election.protocol_schema()
    act_codes = {c.code for c in schema.checks if c.workflow == "act"}
    if all(r.code in act_codes for r in blocking):
        codes = ", ".join(r.code for r in blocking)
        raise IntakeError(
            "act_required",
            gettext_noop(
                "%(codes)s: %(message)s. Record the commission's act (field 'act') "
                "to accept this protocol; nothing is corrected silently."
            ),
            params={"codes": codes, "message": Text(blocking[0].message)},
            field="act",
            details=check_details(blocking),
        )
    first = blocking[0]
    raise IntakeError(
        "hard_check_failed",
        gettext_noop("station %(station)s fails hard check %(check)s: %(message)s (%(values)s)"),
        params={
            "station": station.code,
            "check": first.code,
            "message": Text(first.message),
            "values": ", ".join(f"{k}={v}" for k, v in first.values.items()),
        },
        field=blamed(schema, first),
        details=check_details(blocking),
    )


def _ensure_open(election: Election, station: Station) -> None:
    if station.election_id != election.id:
        raise IntakeError(
            "other_election",
            gettext_noop("station %(station)s belongs to another election"),
            params={"station": station.code},
            status=422,
            field="station",
        )
    if election.status != ElectionStatus.OPEN:
        raise IntakeError(
            "election_closed",
            gettext_noop("%(election)s is %(status)s"),
            params={"election": election.slug, "status": election.get_status_display().lower()},
            status=409,
        )


def _locked_station(station: Station) -> Station:
    """Serialise every change to one station's protocols; read the current protocol after
    this, in its own statement (see :func:`secki.protocols.store.lock_station`)."""
    store.lock_station(station.pk)
    return station


def _current(station: Station) -> Protocol | None:
    protocol = store.current_protocol(station.pk)
    if protocol is not None:
        protocol.station = station
    return protocol


def _values_of(protocol: Protocol) -> ProtocolData:
    values = dict(protocol.values.values_list("code", "value"))
    candidates = sorted(
        (int(k[1:]), v) for k, v in values.items() if k.startswith("C") and k[1:].isdigit()
    )
    counts = {k: v for k, v in values.items() if not (k.startswith("C") and k[1:].isdigit())}
    schema = protocol.election.protocol_schema()
    instants = {}
    if protocol.completed_at and schema.datetime_lines:
        instants[schema.datetime_lines[0].code] = protocol.completed_at
    return ProtocolData(counts, instants, tuple(v for _, v in candidates))


def protocol_data(protocol: Protocol) -> ProtocolData:
    return _values_of(protocol)


def _publish_status(election: Election) -> str:
    return ProtocolStatus.PUBLISHED if election.auto_publish else ProtocolStatus.ACCEPTED


def _store(
    election: Election,
    station: Station,
    data: ProtocolData,
    results: list[CheckResult],
    *,
    status: str,
    source: str,
    actor: User | None,
    version: int,
    reason: str = "",
    decision_ref: str = "",
    received_at: dt.datetime | None = None,
    events: list[ProtocolEvent] | None = None,
) -> Protocol:
    """Insert a new version with its line values and ``events`` (:func:`_new_event`), in one
    statement on PostgreSQL."""
    schema = election.protocol_schema()
    completed = data.instants.get(schema.datetime_lines[0].code) if schema.datetime_lines else None
    checks, soft_failures = recorded_checks(results)
    return store.insert_protocol(
        data.values(),
        events or (),
        election=election,
        station=station,
        version=version,
        status=status,
        source=source,
        completed_at=completed,
        received_at=received_at or timezone.now(),
        created_by=account_of(actor),
        checks=checks,
        soft_failures=soft_failures,
        reason=reason,
        decision_ref=decision_ref,
    )


def _new_event(
    election_id: int,
    station_id: int,
    kind: str,
    actor: User | None,
    *,
    old: Any = None,
    new: Any = None,
    reason: str = "",
    at: dt.datetime | None = None,
) -> ProtocolEvent:
    """An unsaved event of a station's protocol, its protocol not set yet: for a version
    about to be inserted with it (:func:`_store`'s ``events``)."""
    return ProtocolEvent(
        election_id=election_id,
        station_id=station_id,
        kind=kind,
        actor=account_of(actor),
        at=at or timezone.now(),
        old=old,
        new=new,
        reason=reason,
    )


def _event(
    protocol: Protocol,
    kind: str,
    actor: User | None,
    *,
    old: Any = None,
    new: Any = None,
    reason: str = "",
    at: dt.datetime | None = None,
) -> None:
    """An event of a stored version (written at the end of a group-commit batch)."""
    event = _new_event(
        protocol.election_id,
        protocol.station_id,
        kind,
        actor,
        old=old,
        new=new,
        reason=reason,
        at=at,
    )
    event.protocol = protocol
    groupcommit.at_end(store.insert_events, event)


def _scan_sha256(protocol: Protocol) -> str | None:
    """The SHA-256 of the version's latest scan, if it has one."""
    return (
        ProtocolScan.objects.filter(protocol=protocol)
        .order_by("-number")
        .values_list("sha256", flat=True)
        .first()
    )


def _ledger(
    protocol: Protocol,
    data: ProtocolData | None,
    *,
    reason: str = "",
    decision: str = "",
    new: bool = False,
    at: dt.datetime | None = None,
) -> None:
    """Log the protocol's new status (docs of :mod:`secki.ledger.drafts`): its values when it
    becomes public, an annulment, or a status without values. ``new``: the version was
    created in this transaction (so it has no scan yet); ``at``: the time recorded (now,
    unless the replay stamps its simulated time)."""
    election = protocol.election
    code = protocol.station.code
    now = at or timezone.now()
    draft: drafts.Draft
    if protocol.status == ProtocolStatus.PUBLISHED:
        assert data is not None
        draft = drafts.ProtocolPublic(
            election.slug,
            now,
            code,
            data.values(),
            scan_sha256=None if new else _scan_sha256(protocol),
            reason=reason or None,
        )
    elif protocol.status == ProtocolStatus.ANNULLED:
        draft = drafts.ProtocolAnnulled(election.slug, now, code, reason, decision=decision or None)
    else:
        draft = drafts.ProtocolStatus(election.slug, now, code, protocol.status, protocol.version)
    chain.record(election, draft)


def _accept(
    protocol: Protocol,
    data: ProtocolData,
    actor: User | None,
    *,
    act: str | None,
    kind: str = EventKind.ACCEPTED,
    reason: str = "",
    new: bool = False,
    at: dt.datetime | None = None,
) -> None:
    """Bookkeeping shared by every path that makes a stored version count (``new``: the
    version was created in this transaction; ``at``: the replay's simulated time, else now).
    A version created counted gets its events with it instead (:func:`_accepted_events`) and
    then only its :func:`_ledger` entry."""
    events = _accepted_events(
        protocol.election_id,
        protocol.station_id,
        data,
        actor,
        act=act,
        kind=kind,
        reason=reason,
        at=at,
    )
    for event in events:
        event.protocol = protocol
        groupcommit.at_end(store.insert_events, event)
    _ledger(protocol, data, new=new, at=at)


def _accepted_events(
    election_id: int,
    station_id: int,
    data: ProtocolData,
    actor: User | None,
    *,
    act: str | None,
    kind: str = EventKind.ACCEPTED,
    reason: str = "",
    at: dt.datetime | None = None,
) -> list[ProtocolEvent]:
    """The events of a version that becomes counted: the commission's act, if any, then
    ``kind`` with the values."""
    events = []
    if act:
        events.append(
            _new_event(
                election_id,
                station_id,
                EventKind.ACT_RECORDED,
                actor,
                new={"act": act},
                reason=act,
                at=at,
            )
        )
    events.append(
        _new_event(election_id, station_id, kind, actor, new=data.as_json(), reason=reason, at=at)
    )
    return events


def batchable(election: Election) -> bool:
    """Whether :func:`submit_protocol` may share its transaction with other requests
    (:mod:`secki.groupcommit`): under single entry it writes nothing before its last refusal;
    under double entry it may refuse after writing (the second entry), inside a savepoint."""
    return not election.double_entry


def submit_protocol(
    election: Election,
    station: Station,
    data: ProtocolData,
    *,
    actor: User | None,
    source: str = ProtocolSource.API,
    act: str | None = None,
    received_at: dt.datetime | None = None,
) -> IntakeResult:
    """A protocol keyed at a form, sent by the API or replayed.

    Single entry: hard failures refuse it; otherwise it is accepted (published when the
    election auto-publishes). Double entry: the first call stores entry 1, a second call by
    another operator stores entry 2 and compares. ``received_at`` (the demo's replay only:
    its simulated time) stamps a single entry's receipt, its events and its log entry
    instead of now.
    """
    authorize(actor, election, Permission.ENTER_PROTOCOL, station)
    _ensure_open(election, station)
    act = clean_text("act", act, REFERENCE_MAX) or None
    results = run_checks(election, station, data)
    if not election.double_entry:
        _refuse_hard(election, station, results, act)
    refusal: IntakeError | None = None
    # Single entry writes nothing before its last refusal, so it needs no savepoint when
    # called inside another transaction (the API's Idempotency-Key record): the refusal is
    # raised after the block has closed cleanly. Double entry may refuse after writing.
    with transaction.atomic(savepoint=election.double_entry):
        station = _locked_station(station)
        current = _current(station)
        try:
            if current is not None:
                _refuse_existing(current, data)
        except IntakeError as exc:
            refusal = exc
        else:
            if election.double_entry:
                return _double_entry(
                    election,
                    station,
                    data,
                    results,
                    actor=actor,
                    source=source,
                    act=act,
                    current=current,
                )
            protocol = _store(
                election,
                station,
                data,
                results,
                status=_publish_status(election),
                source=source,
                actor=actor,
                version=1,
                decision_ref=act or "",
                received_at=received_at,
                events=_accepted_events(
                    election.pk, station.pk, data, actor, act=act, at=received_at
                ),
            )
            _ledger(protocol, data, new=True, at=received_at)
            return IntakeResult(protocol, True, results)
    assert refusal is not None
    raise refusal


def _refuse_existing(current: Protocol, data: ProtocolData) -> None:
    code = current.station.code
    if current.status == ProtocolStatus.ANNULLED:
        raise IntakeError(
            "annulled",
            gettext_noop(
                "the results of station %(station)s were annulled (%(decision)s); "
                "no further protocol is taken"
            ),
            params={"station": code, "decision": current.decision_ref},
            status=409,
        )
    if current.status in COUNTED_STATUSES:
        if not _values_of(current).differences(data):
            raise IntakeError(
                "duplicate",
                gettext_noop(
                    "station %(station)s already has this protocol (version %(version)s, "
                    "%(status)s)"
                ),
                params={"station": code, "version": current.version, "status": current.status},
                status=409,
            )
        raise IntakeError(
            "already_accepted",
            gettext_noop(
                "station %(station)s already has an accepted protocol (version %(version)s); "
                "changes are amendments with a reason"
            ),
            params={"station": code, "version": current.version},
            status=409,
        )
    if current.status == ProtocolStatus.QUARANTINED:
        raise IntakeError(
            "in_reconciliation",
            gettext_noop(
                "station %(station)s's protocol awaits a supervisor in the reconciliation queue"
            ),
            params={"station": code},
            status=409,
        )


def _double_entry(
    election: Election,
    station: Station,
    data: ProtocolData,
    results: list[CheckResult],
    *,
    actor: User | None,
    source: str,
    act: str | None,
    current: Protocol | None,
) -> IntakeResult:
    operator = account_of(actor)
    if operator is None:  # authorize() let only an account through
        raise AccessDenied("not_authenticated", "log in or send an API token")
    if current is None:
        protocol = Protocol.objects.create(
            election=election,
            station=station,
            version=1,
            status=ProtocolStatus.FIRST_ENTRY,
            source=source,
            received_at=timezone.now(),
            created_by=account_of(actor),
        )
        ProtocolEntry.objects.create(
            protocol=protocol, round=1, operator=operator, data={**data.as_json(), "act": act}
        )
        _event(protocol, EventKind.ENTRY, actor, new=data.as_json(), reason="entry 1")
        _ledger(protocol, None)
        return IntakeResult(protocol, True, results)
    # current.status == FIRST_ENTRY here (_refuse_existing handled the others)
    first = current.entries.get(round=1)
    if first.operator_id == operator.pk:
        raise IntakeError(
            "same_operator",
            gettext_noop("the second entry must be keyed by another operator"),
            status=409,
        )
    ProtocolEntry.objects.create(
        protocol=current, round=2, operator=operator, data={**data.as_json(), "act": act}
    )
    _event(current, EventKind.ENTRY, actor, new=data.as_json(), reason="entry 2")
    differs = ProtocolData.from_json(first.data).differences(data)
    act = act or first.data.get("act")
    blocking = _blocking(election, results, act)
    if differs or blocking:
        reason = (
            f"entries differ on {', '.join(differs)}"
            if differs
            else "fails hard check " + ", ".join(r.code for r in blocking)
        )
        if len(reason) > REASON_MAX:  # the column's length (many candidates differ)
            reason = reason[: REASON_MAX - 1] + "…"
        current.status = ProtocolStatus.QUARANTINED
        current.quarantine_reason = reason
        current.save(update_fields=["status", "quarantine_reason"])
        _event(current, EventKind.QUARANTINED, actor, reason=reason)
        _ledger(current, None)
        return IntakeResult(current, True, results)
    _make_counted(current, data, results, actor, act=act)
    return IntakeResult(current, True, results)


def _make_counted(
    protocol: Protocol,
    data: ProtocolData,
    results: list[CheckResult],
    actor: User | None,
    *,
    act: str | None,
    kind: str = EventKind.ACCEPTED,
    reason: str = "",
) -> None:
    schema = protocol.election.protocol_schema()
    protocol.status = _publish_status(protocol.election)
    protocol.completed_at = (
        data.instants.get(schema.datetime_lines[0].code) if schema.datetime_lines else None
    )
    protocol.checks, protocol.soft_failures = recorded_checks(results)
    protocol.decision_ref = act or ""
    protocol.save()
    store.insert_values(protocol.pk, data.values())
    _accept(protocol, data, actor, act=act, kind=kind, reason=reason)


def resolve_protocol(
    protocol: Protocol,
    data: ProtocolData,
    *,
    actor: User | None,
    reason: str,
    act: str | None = None,
) -> IntakeResult:
    """A supervisor decides a quarantined protocol: the values of entry 1, entry 2 or the
    paper as re-read. Hard checks must pass (or the commission's act be recorded)."""
    election, station = protocol.election, protocol.station
    authorize(actor, election, Permission.RECONCILE, station)
    _ensure_open(election, station)
    reason = clean_text("reason", reason, REASON_MAX)
    act = clean_text("act", act, REFERENCE_MAX) or None
    if not reason:
        raise IntakeError(
            "reason_required", gettext_noop("say why these values are right"), field="reason"
        )
    results = run_checks(election, station, data)
    _refuse_hard(election, station, results, act)
    with transaction.atomic():
        _locked_station(station)
        protocol.refresh_from_db()
        if protocol.status != ProtocolStatus.QUARANTINED:
            raise IntakeError(
                "not_quarantined",
                gettext_noop(
                    "station %(station)s's protocol is %(status)s, not in the reconciliation queue"
                ),
                params={"station": station.code, "status": protocol.status},
                status=409,
            )
        _make_counted(
            protocol, data, results, actor, act=act, kind=EventKind.RESOLVED, reason=reason
        )
    return IntakeResult(protocol, True, results)


def amend_protocol(
    station: Station,
    data: ProtocolData,
    *,
    actor: User | None,
    reason: str,
    source: str = ProtocolSource.FORM,
    act: str | None = None,
) -> IntakeResult:
    """A new version of a counted protocol, with its reason; the old version stays."""
    election = station.election
    authorize(actor, election, Permission.AMEND_PROTOCOL, station)
    _ensure_open(election, station)
    reason = clean_text("reason", reason, REASON_MAX)
    act = clean_text("act", act, REFERENCE_MAX) or None
    if not reason:
        raise IntakeError(
            "reason_required", gettext_noop("an amendment needs a reason"), field="reason"
        )
    results = run_checks(election, station, data)
    _refuse_hard(election, station, results, act)
    with transaction.atomic():
        station = _locked_station(station)
        current = _current(station)
        if current is None or current.status not in COUNTED_STATUSES:
            raise IntakeError(
                "nothing_to_amend",
                gettext_noop("station %(station)s has no accepted protocol to amend"),
                params={"station": station.code},
                status=409,
            )
        old = _values_of(current)
        if not old.differences(data):
            raise IntakeError(
                "duplicate", gettext_noop("the amendment changes nothing"), status=409
            )
        current.is_current = False
        current.save(update_fields=["is_current"])
        protocol = _store(
            election,
            station,
            data,
            results,
            status=_publish_status(election),
            source=source,
            actor=actor,
            version=current.version + 1,
            reason=reason,
            decision_ref=act or "",
        )
        if act:
            _event(protocol, EventKind.ACT_RECORDED, actor, new={"act": act}, reason=act)
        _event(
            protocol, EventKind.AMENDED, actor, old=old.as_json(), new=data.as_json(), reason=reason
        )
        _ledger(protocol, data, reason=reason, new=True)
    return IntakeResult(protocol, True, results)


def annul_protocol(
    station: Station, *, actor: User | None, decision_ref: str, reason: str = ""
) -> Protocol:
    """The commission annuls a station's results: a new version with status annulled keeps the
    numbers on record and takes them out of the totals."""
    election = station.election
    authorize(actor, election, Permission.ANNUL_PROTOCOL, station)
    _ensure_open(election, station)
    decision_ref = clean_text("decision_ref", decision_ref, REFERENCE_MAX)
    reason = clean_text("reason", reason, REASON_MAX)
    if not decision_ref:
        raise IntakeError(
            "decision_required",
            gettext_noop("an annulment needs the decision reference"),
            field="decision_ref",
        )
    with transaction.atomic():
        station = _locked_station(station)
        current = _current(station)
        if current is None or current.status not in COUNTED_STATUSES:
            raise IntakeError(
                "nothing_to_annul",
                gettext_noop("station %(station)s has no accepted protocol to annul"),
                params={"station": station.code},
                status=409,
            )
        data = _values_of(current)
        current.is_current = False
        current.save(update_fields=["is_current"])
        protocol = _store(
            election,
            station,
            data,
            [],
            status=ProtocolStatus.ANNULLED,
            source=current.source,
            actor=actor,
            version=current.version + 1,
            reason=reason,
            decision_ref=decision_ref,
        )
        protocol.checks, protocol.soft_failures = current.checks, current.soft_failures
        protocol.save(update_fields=["checks", "soft_failures"])
        _event(protocol, EventKind.ANNULLED, actor, old=data.as_json(), reason=decision_ref)
        _ledger(protocol, data, reason=reason, decision=decision_ref)
    return protocol


def publish_protocol(protocol: Protocol, *, actor: User | None) -> Protocol:
    election, station = protocol.election, protocol.station
    authorize(actor, election, Permission.PUBLISH, station)
    _ensure_open(election, station)
    with transaction.atomic():
        _locked_station(station)
        protocol.refresh_from_db()
        if protocol.status != ProtocolStatus.ACCEPTED or not protocol.is_current:
            raise IntakeError(
                "not_accepted",
                gettext_noop(
                    "only an accepted current protocol can be published (this one is %(status)s)"
                ),
                params={"status": protocol.status},
                status=409,
            )
        protocol.status = ProtocolStatus.PUBLISHED
        protocol.save(update_fields=["status"])
        _event(protocol, EventKind.PUBLISHED, actor)
        _ledger(protocol, _values_of(protocol), reason=protocol.reason)
    return protocol
