"""Totals for every unit at every level, from the counted (accepted/published) protocols.

One query sums line values per constituency-level unit (the units that hold stations); the
sums are then rolled up the tree in Python, so a tabulation of the whole election costs a
handful of queries whatever its depth. All numbers come from one read transaction, so a
reader never sees half of a protocol applied.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum

from secki.elections.models import Candidate, Election, Station, Unit
from secki.protocol import ProtocolSchema
from secki.protocols.models import COUNTED_STATUSES, Protocol, ProtocolValue


@dataclass
class Totals:
    """Sums of one unit (or one station) over its counted protocols."""

    lines: dict[str, int] = field(default_factory=dict)
    stations_total: int = 0
    stations_reported: int = 0
    registered_total: int = 0
    registered_reported: int = 0

    def add(self, other: Totals) -> None:
        for code, value in other.lines.items():
            self.lines[code] = self.lines.get(code, 0) + value
        self.stations_total += other.stations_total
        self.stations_reported += other.stations_reported
        self.registered_total += other.registered_total
        self.registered_reported += other.registered_reported


@dataclass(frozen=True)
class CandidateResult:
    candidate: Candidate
    votes: int
    share: Decimal | None  # percent of the election's base, None while the base is 0


@dataclass(frozen=True)
class UnitResult:
    """What a results page shows for one unit."""

    unit: Unit | None
    totals: Totals
    candidates: list[CandidateResult]
    base: int
    participants: int
    registered_reported: int

    @property
    def turnout(self) -> Decimal | None:
        return percent(self.participants, self.registered_reported)

    @property
    def reporting(self) -> Decimal | None:
        return percent(self.totals.stations_reported, self.totals.stations_total)

    @property
    def leader(self) -> CandidateResult | None:
        ranked = sorted(self.candidates, key=lambda c: (-c.votes, c.candidate.number))
        return ranked[0] if ranked and ranked[0].votes > 0 else None


def percent(part: int, whole: int) -> Decimal | None:
    if whole <= 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"))


class Tabulation:
    """All units' totals of one election, computed in one read transaction."""

    def __init__(self, election: Election) -> None:
        self.election = election
        self.schema: ProtocolSchema = election.protocol_schema()
        with transaction.atomic():
            self.units: dict[int, Unit] = {u.id: u for u in Unit.objects.filter(election=election)}
            self.candidates = list(Candidate.objects.filter(election=election))
            own: dict[int, Totals] = defaultdict(Totals)
            for row in (
                Station.objects.filter(election=election)
                .values("unit_id")
                .annotate(n=Count("id"), reg=Sum("registered"))
            ):
                own[row["unit_id"]].stations_total = row["n"]
                own[row["unit_id"]].registered_total = row["reg"] or 0
            counted = Protocol.objects.filter(
                election=election, is_current=True, status__in=COUNTED_STATUSES
            )
            for row in counted.values("station__unit_id").annotate(
                n=Count("id"), reg=Sum("station__registered")
            ):
                own[row["station__unit_id"]].stations_reported = row["n"]
                own[row["station__unit_id"]].registered_reported = row["reg"] or 0
            for row in (
                ProtocolValue.objects.filter(protocol__in=counted)
                .values("protocol__station__unit_id", "code")
                .annotate(total=Sum("value"))
            ):
                own[row["protocol__station__unit_id"]].lines[row["code"]] = row["total"]
        # roll up: every unit's totals = its own stations + all descendants'
        self.totals: dict[int, Totals] = defaultdict(Totals)
        for unit_id, t in own.items():
            current: int | None = unit_id
            while current is not None:
                self.totals[current].add(t)
                current = self.units[current].parent_id

    @property
    def root(self) -> Unit:
        return next(u for u in self.units.values() if u.parent_id is None)

    def children(self, unit: Unit) -> list[Unit]:
        return sorted(
            (u for u in self.units.values() if u.parent_id == unit.id),
            key=lambda u: (u.position, u.id),
        )

    def result(self, unit: Unit | None = None) -> UnitResult:
        unit = unit or self.root
        return self.result_of(unit, self.totals[unit.id])

    def result_of(self, unit: Unit | None, totals: Totals) -> UnitResult:
        base_role = self.election.majority_base
        base = int(self.schema.role(base_role, totals.lines))
        participants = int(self.schema.role("participants", totals.lines))
        candidates = [
            CandidateResult(
                c, totals.lines.get(c.line_code, 0), percent(totals.lines.get(c.line_code, 0), base)
            )
            for c in self.candidates
        ]
        return UnitResult(unit, totals, candidates, base, participants, totals.registered_reported)

    def as_dict(self, unit: Unit | None = None) -> dict[str, Any]:
        r = self.result(unit)
        return {
            "unit": r.unit.code if r.unit else None,
            "stations_total": r.totals.stations_total,
            "stations_reported": r.totals.stations_reported,
            "registered_total": r.totals.registered_total,
            "registered_reported": r.totals.registered_reported,
            "lines": dict(sorted(r.totals.lines.items())),
            "candidates": {c.candidate.line_code: c.votes for c in r.candidates},
        }
