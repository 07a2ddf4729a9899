"""Replay a bundle's election day against the database through the real action functions.

The simulated clock runs from the first report time to the last protocol at ``speed`` times
real time: at each report time every station's turnout report is submitted; after the polls
close each protocol arrives at the time its line L17 says it was completed. Everything goes
through :func:`secki.turnout.actions.report_turnout` and
:func:`secki.protocols.actions.submit_protocol` as the replay's CEC operator, so the demo
exercises the same checks, history and ledger as a real night.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from secki.accounts.users import User
from secki.bundle.read import Bundle
from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.protocols.actions import submit_protocol
from secki.protocols.data import ProtocolData
from secki.protocols.models import ProtocolSource
from secki.turnout.actions import report_turnout


@dataclass(frozen=True)
class Event:
    at: dt.datetime  # simulated local time
    kind: str  # "turnout" | "protocol"
    station: str
    payload: Any


def schedule(bundle: Bundle, election: Election, seed: int = 0) -> list[Event]:
    """All of election day's submissions in simulated-time order."""
    rng = random.Random(seed)  # noqa: S311 - arrival jitter, not security
    tz = election.tz
    events: list[Event] = []
    for report in bundle.turnout:
        at = dt.datetime.combine(election.date, dt.time.fromisoformat(report.time), tzinfo=tz)
        events.append(
            Event(at + dt.timedelta(seconds=rng.uniform(0, 900)), "turnout", report.station, report)
        )
    close = election.polls_close_at
    datetime_line = bundle.schema.datetime_lines[0].code if bundle.schema.datetime_lines else None
    for protocol in bundle.protocols:
        completed = protocol.instants.get(datetime_line) if datetime_line else None
        at = (completed or close + dt.timedelta(hours=2)) + dt.timedelta(
            seconds=rng.uniform(300, 2400)
        )  # driving the protocol to the constituency
        events.append(Event(at, "protocol", protocol.station, protocol))
    events.sort(key=lambda e: (e.at, e.kind, e.station))
    return events


@dataclass
class ReplayStats:
    turnout: int = 0
    protocols: int = 0
    refused: int = 0


def replay(
    bundle: Bundle,
    election: Election,
    actor: User | None,
    *,
    speed: float,
    on_event: Callable[[Event, ReplayStats], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayStats:
    """Submit every event when the accelerated clock reaches it; ``speed`` ≤ 0 means at once."""
    stations = {s.code: s for s in Station.objects.filter(election=election)}
    events = schedule(bundle, election)
    stats = ReplayStats()
    if not events:
        return stats
    start_sim = events[0].at
    start_real = time.monotonic()
    for event in events:
        if speed > 0:
            due = (event.at - start_sim).total_seconds() / speed
            wait = due - (time.monotonic() - start_real)
            if wait > 0:
                sleep(wait)
        station = stations[event.station]
        try:
            if event.kind == "turnout":
                report_turnout(
                    election,
                    station,
                    event.payload.time,
                    event.payload.voters,
                    actor=actor,
                    source="replay",
                    received_at=event.at,
                )
                stats.turnout += 1
            else:
                row = event.payload
                data = ProtocolData(row.counts, row.instants, tuple(row.candidates))
                submit_protocol(
                    election,
                    station,
                    data,
                    actor=actor,
                    source=ProtocolSource.API,
                    received_at=event.at,  # the simulated time, as for turnout reports
                )
                stats.protocols += 1
        except IntakeError:
            stats.refused += 1
        if on_event is not None:
            on_event(event, stats)
    return stats
