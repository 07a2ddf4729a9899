"""Turnout report actions: report and correct, with role/territory checks and the ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from secki.accounts.access import Permission, authorize
from secki.elections.models import Election, ElectionStatus, Station
from secki.errors import IntakeError
from secki.ledger import chain
from secki.turnout.models import TurnoutReport


def parse_voters(raw: Any) -> int:
    if isinstance(raw, bool):
        raise IntakeError("invalid_value", f"voters: {raw!r} is not an integer", field="voters")
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int):
        raise IntakeError("invalid_value", f"voters: {raw!r} is not an integer", field="voters")
    if raw < 0:
        raise IntakeError("negative_value", f"voters: {raw} is negative", field="voters")
    return raw


def ceiling(election: Election, station: Station) -> int:
    """Registered voters plus the additional-list allowance."""
    return int(station.registered * (1 + float(election.turnout_allowance)))


def is_late(election: Election, time: str, received_at: dt.datetime) -> bool:
    """Late = received after the next report time (after poll close for the last one)."""
    times = list(election.turnout_times)
    index = times.index(time)
    deadline = (
        dt.time.fromisoformat(times[index + 1]) if index + 1 < len(times) else election.polls_close
    )
    limit = dt.datetime.combine(election.date, deadline, tzinfo=election.tz)
    return received_at > limit


def report_turnout(
    election: Election,
    station: Station,
    time: str,
    voters: int,
    *,
    actor: Any,
    source: str = "api",
    reason: str = "",
    received_at: dt.datetime | None = None,
) -> TurnoutReport:
    """Record (or correct, with a reason) a station's cumulative turnout at a report time."""
    authorize(actor, election, Permission.REPORT_TURNOUT, station)
    if station.election_id != election.id:
        raise IntakeError(
            "other_election", f"station {station.code} belongs to another election", field="station"
        )
    if election.status != ElectionStatus.OPEN:
        raise IntakeError("election_closed", f"{election.slug} is not open", status=409)
    if time not in election.turnout_times:
        raise IntakeError(
            "unknown_time",
            f"{time!r} is not one of the report times {', '.join(election.turnout_times)}",
            field="time",
        )
    if voters < 0:
        raise IntakeError("negative_value", f"voters: {voters} is negative", field="voters")
    limit = ceiling(election, station)
    if voters > limit:
        raise IntakeError(
            "above_registered",
            f"voters: {voters} exceeds the {station.registered} registered voters plus the "
            f"{float(election.turnout_allowance):.0%} additional-list allowance ({limit})",
            field="voters",
        )
    received = received_at or timezone.now()
    with transaction.atomic():
        Station.objects.select_for_update().get(pk=station.pk)
        current = {
            r.time: r for r in TurnoutReport.objects.filter(station=station, is_current=True)
        }
        for other_time, other in current.items():
            if other_time < time and other.voters > voters:
                raise IntakeError(
                    "decreasing",
                    f"voters: {voters} at {time} is below the {other.voters} "
                    f"already reported at {other_time}; turnout is cumulative",
                    field="voters",
                )
            if other_time > time and other.voters < voters:
                raise IntakeError(
                    "decreasing",
                    f"voters: {voters} at {time} is above the {other.voters} "
                    f"already reported at the later time {other_time}",
                    field="voters",
                )
        previous = current.get(time)
        if previous is not None:
            if previous.voters == voters:
                raise IntakeError(
                    "duplicate",
                    f"station {station.code} already reported {voters} at {time}",
                    status=409,
                )
            if election.status == ElectionStatus.OPEN and not reason.strip():
                authorize(actor, election, Permission.CORRECT_TURNOUT, station)
                raise IntakeError(
                    "reason_required",
                    f"station {station.code} already reported "
                    f"{previous.voters} at {time}; a correction needs a reason",
                    field="reason",
                    status=409,
                )
            previous.is_current = False
            previous.save(update_fields=["is_current"])
        report = TurnoutReport.objects.create(
            election=election,
            station=station,
            time=time,
            voters=voters,
            version=previous.version + 1 if previous else 1,
            received_at=received,
            late=is_late(election, time, received),
            source=source,
            reason=reason,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        chain.append(
            "turnout.corrected" if previous else "turnout.reported",
            {
                "station": station.code,
                "time": time,
                "voters": voters,
                "version": report.version,
                "late": report.late,
                **({"reason": reason} if previous else {}),
            },
            election,
        )
    return report
