"""Totals for every unit at every level, from the counted protocols.

The moving parts (line sums, stations reported, registered voters of reporting stations) come
from **one** SQL statement, so a reader never sees half of a protocol applied, on SQLite or on
PostgreSQL alike. Sums are grouped by the unit holding the stations and rolled up the tree in
Python, whatever its depth. No write ever touches a shared total row, so concurrent accepts
never serialise on a national counter.

Tabulations are cached per process and keyed by the head of the public ledger: every change
that can move a total (accept, amend, annul, publish, resolve) appends to the ledger in the
same transaction, so a new head means a fresh tabulation, and an unchanged head is a cache hit.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Sum

from secki.elections.models import Candidate, Election, Station, Unit
from secki.ledger.chain import ledger_head
from secki.protocol_schema import Contest, ProtocolSchema
from secki.protocols.models import counted_statuses
from secki.results import store
from secki.results.publication import results_public


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


def held_back(totals: Totals) -> Totals:
    """``totals`` with nothing counted: the stations and registered voters only."""
    return Totals(stations_total=totals.stations_total, registered_total=totals.registered_total)


@dataclass(frozen=True)
class CandidateResult:
    candidate: Candidate
    votes: int
    share: Decimal | None  # percent of the election's base, None while the base is 0


@dataclass(frozen=True)
class UnitResult:
    """What a results page or the API shows for one unit."""

    unit: Unit | None
    totals: Totals
    candidates: list[CandidateResult]
    base: int
    participants: int

    @property
    def turnout(self) -> Decimal | None:
        """Participants over the registered voters of the reporting stations."""
        return percent(self.participants, self.totals.registered_reported)

    @property
    def reporting(self) -> Decimal | None:
        return percent(self.totals.stations_reported, self.totals.stations_total)

    @property
    def ranked(self) -> list[CandidateResult]:
        return sorted(self.candidates, key=lambda c: (-c.votes, c.candidate.number))

    @property
    def leader(self) -> CandidateResult | None:
        ranked = self.ranked
        return ranked[0] if ranked and ranked[0].votes > 0 else None


def candidate_results(
    schema: ProtocolSchema, candidates: Iterable[Candidate], lines: Mapping[str, int], base: int
) -> list[CandidateResult]:
    """Each candidate's votes and share of ``base``; with contests, of its own contest's
    valid ballots."""
    bases = {
        k.code: int(k.valid.evaluate({n: lines.get(n, 0) for n in k.valid.names}))
        for k in schema.contests
    }
    return [
        CandidateResult(
            c,
            lines.get(c.line_code, 0),
            percent(lines.get(c.line_code, 0), bases.get(c.contest, base)),
        )
        for c in candidates
    ]


def contest_result(result: UnitResult, contest: Contest) -> UnitResult:
    """``result`` seen by one contest of a protocol with more than one: its candidates only,
    their shares of the contest's own valid ballots (its ``valid`` line), which are the base."""
    lines = result.totals.lines
    base = int(contest.valid.evaluate({n: lines.get(n, 0) for n in contest.valid.names}))
    candidates = [
        CandidateResult(c.candidate, c.votes, percent(c.votes, base))
        for c in result.candidates
        if c.candidate.contest == contest.code
    ]
    return UnitResult(result.unit, result.totals, candidates, base, result.participants)


def percent(part: int, whole: int) -> Decimal | None:
    if whole <= 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"))


class Tabulation:
    """All units' totals of one election."""

    def __init__(self, election: Election, *, public: bool = False, counts: bool = True) -> None:
        self.election = election
        self.public = public
        #: the public figures are held back by the election's publication setting
        #: (:mod:`secki.results.publication`): stations and registers only, nothing counted
        self.withheld = not counts
        self._withheld_copy: Tabulation | None = None
        self.schema: ProtocolSchema = election.protocol_schema()
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
        counted = store.counted_sums(election.id, counted_statuses(public)) if counts else {}
        for unit_id, sums in counted.items():
            t = own[unit_id]
            t.stations_reported = sums.stations
            t.registered_reported = sums.registered
            t.lines.update(sums.lines)
        self.totals: dict[int, Totals] = defaultdict(Totals)
        for unit_id, t in own.items():
            current: int | None = unit_id
            while current is not None:
                self.totals[current].add(t)
                current = self.units[current].parent_id

    @classmethod
    def of(
        cls,
        election: Election,
        *,
        units: Iterable[Unit],
        candidates: Iterable[Candidate],
        totals: Mapping[int, Totals],
        public: bool,
    ) -> Tabulation:
        """A tabulation of totals computed elsewhere (a published state's, which are kept
        current by deltas): no database work."""
        tab = cls.__new__(cls)
        tab.election = election
        tab.public = public
        tab.withheld = False
        tab._withheld_copy = None
        tab.schema = election.protocol_schema()
        tab.units = {u.id: u for u in units}
        tab.candidates = list(candidates)
        tab.totals = defaultdict(Totals, totals)
        return tab

    def held_back(self) -> Tabulation:
        """This tabulation as the public sees it while the publication setting holds results
        back: stations and registers kept, nothing counted (no database work)."""
        if self.withheld:
            return self
        if self._withheld_copy is None:
            tab = Tabulation.__new__(Tabulation)
            tab.election = self.election
            tab.public = self.public
            tab.withheld = True
            tab._withheld_copy = None
            tab.schema = self.schema
            tab.units = self.units
            tab.candidates = self.candidates
            tab.totals = defaultdict(Totals, {u: held_back(t) for u, t in self.totals.items()})
            self._withheld_copy = tab
        return self._withheld_copy

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
        base = int(self.schema.role(self.election.majority_base, totals.lines))
        participants = int(self.schema.role("participants", totals.lines))
        candidates = candidate_results(self.schema, self.candidates, totals.lines, base)
        return UnitResult(unit, totals, candidates, base, participants)


_cache: dict[tuple[int, str, int, bool], tuple[int, Tabulation]] = {}
_lock = threading.Lock()


def tabulation(election: Election, *, public: bool = False) -> Tabulation:
    """A current Tabulation, reused while the ledger head has not moved. The public one is
    withheld (nothing counted) until the election's publication setting lets results out."""
    head = ledger_head()
    key = (*election._cache_key(), public)
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == head:
        tab = hit[1]
    else:
        tab = Tabulation(election, public=public)
        with _lock:
            _cache[key] = (head, tab)
    if not public or not tab.units or results_public(election, tab.totals[tab.root.id]):
        return tab
    if tab._withheld_copy is None:
        tab._withheld_copy = Tabulation(election, public=True, counts=False)
    return tab._withheld_copy
