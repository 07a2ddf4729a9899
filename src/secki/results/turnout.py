"""Turnout of every unit at every report time, as the commission announces it.

For a unit and a report time: the voters reported by its stations, the registered voters
**of the stations that reported** (turnout is over those only), the turnout percentage and
"stations reporting / total"; beside it the final turnout from the counted protocols
(participants over the registered voters of the stations with a counted protocol, from
:func:`secki.results.tabulate.tabulation`).

The station sums come from one grouped query (current reports by the unit holding the
station and report time) and are rolled up the tree in Python, like
:mod:`secki.results.tabulate`; the result is cached per process and keyed by the head of
the public ledger, which every report and correction moves.

:func:`turnout_summary` returns plain data (dicts, lists, numbers, strings) for pages,
charts and the API.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum

from secki.elections.models import Election, Station, Unit
from secki.elections.names import translations
from secki.ledger.chain import ledger_head
from secki.results.tabulate import Tabulation, percent, tabulation
from secki.turnout.models import TurnoutReport


@dataclass
class Figures:
    """Sums over the stations of a unit that reported at one time."""

    voters: int = 0
    registered: int = 0  # registered voters of the reporting stations
    stations: int = 0  # stations reporting
    late: int = 0  # of which reported late

    def add(self, other: Figures) -> None:
        self.voters += other.voters
        self.registered += other.registered
        self.stations += other.stations
        self.late += other.late


@dataclass
class UnitFigures:
    stations_total: int = 0
    registered_total: int = 0
    times: dict[str, Figures] = field(default_factory=lambda: defaultdict(Figures))

    def add(self, other: UnitFigures) -> None:
        self.stations_total += other.stations_total
        self.registered_total += other.registered_total
        for time, figures in other.times.items():
            self.times[time].add(figures)


def as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def unit_figures(
    units: Mapping[int, Unit], stations: Iterable[tuple[int, int, Mapping[str, int]]]
) -> dict[int, UnitFigures]:
    """Every unit's turnout figures summed up the tree from its stations' current reports:
    ``stations`` are (unit id, registered voters, current reports by time)."""
    own: dict[int, UnitFigures] = defaultdict(UnitFigures)
    for unit_id, registered, reports in stations:
        mine = own[unit_id]
        mine.stations_total += 1
        mine.registered_total += registered
        for time, voters in reports.items():
            mine.times[time].add(Figures(voters, registered, 1, 0))
    totals: dict[int, UnitFigures] = defaultdict(UnitFigures)
    for unit_id, figures in own.items():
        current: int | None = unit_id
        while current is not None:
            totals[current].add(figures)
            current = units[current].parent_id
    return dict(totals)


class TurnoutAggregate:
    """All units × all report times of one election (``public``: the final turnout counts
    published protocols only)."""

    def __init__(self, election: Election, *, public: bool = True) -> None:
        self.election = election
        self.public = public
        self.times: list[str] = list(election.turnout_times)
        self.units: dict[int, Unit] = {u.id: u for u in Unit.objects.filter(election=election)}
        own: dict[int, UnitFigures] = defaultdict(UnitFigures)
        for row in (
            Station.objects.filter(election=election)
            .order_by()
            .values("unit_id")
            .annotate(n=Count("id"), reg=Sum("registered"))
        ):
            own[row["unit_id"]].stations_total = row["n"]
            own[row["unit_id"]].registered_total = row["reg"] or 0
        for row in (
            TurnoutReport.objects.filter(election=election, is_current=True)
            .order_by()
            .values("station__unit_id", "time")
            .annotate(
                n=Count("id"),
                voters=Sum("voters"),
                reg=Sum("station__registered"),
                late=Count("id", filter=Q(late=True)),
            )
        ):
            own[row["station__unit_id"]].times[row["time"]] = Figures(
                int(row["voters"] or 0), int(row["reg"] or 0), row["n"], row["late"]
            )
        self.totals: dict[int, UnitFigures] = defaultdict(UnitFigures)
        for unit_id, figures in own.items():
            current: int | None = unit_id
            while current is not None:
                self.totals[current].add(figures)
                current = self.units[current].parent_id
        self.tabulation: Tabulation = tabulation(election, public=public)

    @classmethod
    def of_totals(cls, tab: Tabulation, totals: Mapping[int, UnitFigures]) -> TurnoutAggregate:
        """The aggregate of figures already summed up the tree (:func:`unit_figures`)."""
        agg = cls.__new__(cls)
        agg.election = tab.election
        agg.public = tab.public
        agg.times = list(tab.election.turnout_times)
        agg.units = dict(tab.units)
        agg.totals = defaultdict(UnitFigures, totals)
        agg.tabulation = tab
        return agg

    @property
    def root(self) -> Unit:
        return next(u for u in self.units.values() if u.parent_id is None)

    def children(self, unit: Unit) -> list[Unit]:
        return sorted(
            (u for u in self.units.values() if u.parent_id == unit.id),
            key=lambda u: (u.position, u.id),
        )

    def figures(self, unit: Unit, time: str) -> Figures:
        return self.totals[unit.id].times.get(time) or Figures()

    def unit_json(self, unit: Unit) -> dict[str, Any]:
        return {
            "code": unit.code,
            "name": unit.name,
            **translations(unit),
            "kind": unit.kind,
            "number": unit.number,
        }

    def reports_json(self, unit: Unit) -> list[dict[str, Any]]:
        stations_total = self.totals[unit.id].stations_total
        rows = []
        for time in self.times:
            f = self.figures(unit, time)
            rows.append(
                {
                    "time": time,
                    "voters": f.voters,
                    "registered_reporting": f.registered,
                    "stations_reporting": f.stations,
                    "stations_total": stations_total,
                    "turnout": as_float(percent(f.voters, f.registered)),
                    "late": f.late,
                }
            )
        return rows

    def final_json(self, unit: Unit) -> dict[str, Any]:
        result = self.tabulation.result(unit)
        return {
            "participants": result.participants,
            "registered_reporting": result.totals.registered_reported,
            "stations_reporting": result.totals.stations_reported,
            "stations_total": result.totals.stations_total,
            "turnout": as_float(result.turnout),
        }

    def summary(self, unit: Unit | None = None, *, children: bool = True) -> dict[str, Any]:
        unit = unit or self.root
        totals = self.totals[unit.id]
        data: dict[str, Any] = {
            "election": self.election.slug,
            "simulated": self.election.simulated,
            "unit": self.unit_json(unit),
            "times": list(self.times),
            "stations_total": totals.stations_total,
            "registered_total": totals.registered_total,
            "reports": self.reports_json(unit),
            "final": self.final_json(unit),
        }
        if children:
            data["children"] = [
                {
                    "unit": self.unit_json(child),
                    "stations_total": self.totals[child.id].stations_total,
                    "registered_total": self.totals[child.id].registered_total,
                    "reports": self.reports_json(child),
                    "final": self.final_json(child),
                }
                for child in self.children(unit)
            ]
        return data


@dataclass(frozen=True)
class Headline:
    """The one turnout figure a results page leads with.

    ``source`` is ``"report"`` (the latest report time with reports: the voters the stations
    reported then, over the registered voters of those stations), ``"protocol"`` (the counted
    protocols: participants over the registered voters of their stations) or ``None`` (nothing
    yet). The protocols take over only once they cover at least as many stations as that
    latest report time, so a handful of early protocols (or one) never stands for the whole
    unit while the day's reports cover thousands of stations.
    """

    source: str | None
    turnout: Decimal | None
    voters: int
    stations: int  # stations the figure is over
    stations_total: int
    time: str | None = None  # the report time (source "report")


def headline(agg: TurnoutAggregate, unit: Unit) -> Headline:
    totals = agg.totals[unit.id]
    latest: tuple[str, Figures] | None = None
    for time in agg.times:
        f = totals.times.get(time)
        if f is not None and f.stations > 0:
            latest = (time, f)
    result = agg.tabulation.result(unit)
    counted = result.totals.stations_reported
    if counted and (latest is None or counted >= latest[1].stations):
        return Headline(
            "protocol", result.turnout, result.participants, counted, totals.stations_total
        )
    if latest is not None:
        time, f = latest
        return Headline(
            "report",
            percent(f.voters, f.registered),
            f.voters,
            f.stations,
            totals.stations_total,
            time,
        )
    return Headline(None, None, 0, 0, totals.stations_total)


_cache: dict[tuple[int, Any, bool], tuple[int, TurnoutAggregate]] = {}
_lock = threading.Lock()


def aggregate(election: Election, *, public: bool = True) -> TurnoutAggregate:
    """A current :class:`TurnoutAggregate`, reused while the ledger head has not moved."""
    head = ledger_head()
    # created_at: a re-imported election may get the id of the one it replaced
    key = (election.pk, election.created_at, public)
    with _lock:
        hit = _cache.get(key)
        if (
            hit is not None
            and hit[0] == head
            and hit[1].times == list(election.turnout_times)
            and hit[1].election.schema_revision == election.schema_revision
        ):
            return hit[1]
    fresh = TurnoutAggregate(election, public=public)
    with _lock:
        _cache[key] = (head, fresh)
    return fresh


def turnout_summary(
    election: Election, unit: Unit | str | None = None, *, public: bool = True
) -> dict[str, Any]:
    """Turnout of ``unit`` (a Unit, a unit code, or None for the whole election) at every
    report time, with its direct sub-units, as plain data::

        {"election": "az-2024", "simulated": False,
         "unit": {"code": "AZ", "name": "…", "kind": "country", "number": None},
         "times": ["10:00", …], "stations_total": 6537, "registered_total": 6478623,
         "reports": [{"time": "10:00", "voters": 1259371, "registered_reporting": 6478000,
                      "stations_reporting": 6493, "stations_total": 6537,
                      "turnout": 19.44, "late": 3}, …],
         "final": {"participants": …, "registered_reporting": …, "stations_reporting": …,
                   "stations_total": …, "turnout": 76.43},
         "children": [{"unit": {…}, "stations_total": …, "registered_total": …,
                       "reports": […], "final": {…}}, …]}

    ``turnout`` is a percentage with two decimals, ``None`` while no station has reported.
    ``public=True`` counts published protocols only in ``final`` (staff: ``public=False``).
    Raises ``Unit.DoesNotExist`` for an unknown unit code.
    """
    agg = aggregate(election, public=public)
    if isinstance(unit, str):
        found = next((u for u in agg.units.values() if u.code == unit), None)
        if found is None:
            raise Unit.DoesNotExist(f"no unit {unit!r} in {election.slug}")
        unit = found
    return agg.summary(unit)
