"""Which stations have not reported turnout for a report time, and whom to call."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from secki.accounts.models import Membership, Role
from secki.elections.models import Election, Station, Unit, UnitKind
from secki.turnout.models import TurnoutReport
from secki.turnout.territory import Territory


def latest_time(election: Election, now: dt.datetime | None = None) -> str:
    """The latest report time that has come (the first one before, the last one after)."""
    times = [str(t) for t in election.turnout_times]
    if not times:
        raise ValueError(f"{election.slug} has no report times")
    now = now or timezone.now()
    passed = [
        t
        for t in times
        if dt.datetime.combine(election.date, dt.time.fromisoformat(t), tzinfo=election.tz) <= now
    ]
    return passed[-1] if passed else times[0]


@dataclass
class MissingStation:
    station: Station
    last_time: str | None = None  # the station's latest report, if any
    last_voters: int | None = None
    operators: list[str] = field(default_factory=list)  # e-mail (or user name) of its operators


def missing(
    election: Election, time: str, territory: Territory, unit: Unit | None = None
) -> list[MissingStation]:
    """Stations in ``territory`` (and ``unit``'s subtree) without a current report at ``time``,
    in register order, with their latest report and their station operators (4 queries)."""
    stations = Station.objects.filter(election=election).filter(territory.q())
    if unit is not None:
        stations = stations.filter(unit_path__startswith=unit.path)
    reported = TurnoutReport.objects.filter(election=election, time=time, is_current=True)
    rows = {
        s.id: MissingStation(s)
        for s in stations.exclude(id__in=reported.values("station_id"))
        .select_related("unit")
        .order_by("position", "id")
    }
    times = list(election.turnout_times)
    for station_id, t, voters in TurnoutReport.objects.filter(
        station_id__in=list(rows), is_current=True
    ).values_list("station_id", "time", "voters"):
        row = rows[station_id]
        if t in times and (row.last_time is None or times.index(t) > times.index(row.last_time)):
            row.last_time, row.last_voters = t, voters
    contacts: dict[int, list[str]] = defaultdict(list)
    for station_id, email, username in (
        Membership.objects.filter(
            election=election, role=Role.STATION_OPERATOR, station_id__in=list(rows)
        )
        .order_by("user__username")
        .values_list("station_id", "user__email", "user__username")
    ):
        contacts[station_id].append(email or username)
    for station_id, row in rows.items():
        row.operators = contacts.get(station_id, [])
    return list(rows.values())


def constituencies(election: Election, territory: Territory) -> list[Unit]:
    """Constituencies with at least one station in ``territory`` (for the filter)."""
    paths = set(
        Station.objects.filter(election=election)
        .filter(territory.q())
        .order_by()
        .values_list("unit_path", flat=True)
        .distinct()
    )
    return [
        u
        for u in Unit.objects.filter(election=election, kind=UnitKind.CONSTITUENCY).order_by(
            "number", "position"
        )
        if any(p.startswith(u.path) for p in paths)
    ]
