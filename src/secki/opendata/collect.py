"""Everything the public may download about one election, read in a few queries.

The public sees published protocols only (the same rule as the public tabulation). The
protocol rows and their values are read by two statements; the ledger head is read before and
after, and the read is repeated (a few times at most) when a change committed in between, so a
snapshot is a consistent state whenever the system is not writing continuously.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from secki.elections.models import Candidate, Election, Station, Unit
from secki.ledger.models import LedgerEntry
from secki.protocol import ProtocolSchema
from secki.protocols.models import Protocol, ProtocolStatus
from secki.results.tabulate import CandidateResult, Totals, UnitResult, percent
from secki.turnout.models import TurnoutReport

PUBLIC_STATUSES = (ProtocolStatus.PUBLISHED, ProtocolStatus.ANNULLED)
ATTEMPTS = 3
_VALUES_SQL = """
SELECT v.protocol_id, v.code, v.value
  FROM protocols_protocolvalue v JOIN protocols_protocol p ON p.id = v.protocol_id
 WHERE p.election_id = %s AND p.is_current = %s AND p.status = %s
"""


@dataclass(frozen=True)
class StationProtocol:
    status: str  # published | annulled
    version: int
    decision_ref: str
    completed_at: dt.datetime | None
    soft_failures: tuple[str, ...]


@dataclass
class PublicData:
    election: Election
    schema: ProtocolSchema
    units: list[Unit]  # in bundle order (parents first)
    stations: list[Station]  # in bundle order
    candidates: list[Candidate]
    protocols: dict[int, StationProtocol]  # station id → current public protocol
    values: dict[int, dict[str, int]]  # station id → lines of its published protocol
    turnout: list[tuple[int, str, int]]  # (station id, time, voters), current reports
    seq: int  # this election's newest ledger entry
    ledger_hash: str
    generated_at: dt.datetime
    totals: dict[int, Totals] = field(default_factory=dict)  # unit id → rolled-up sums
    _by_unit: dict[int, list[Station]] = field(default_factory=dict, repr=False)

    @property
    def root(self) -> Unit:
        return next(u for u in self.units if u.parent_id is None)

    def children(self, unit: Unit) -> list[Unit]:
        return [u for u in self.units if u.parent_id == unit.id]

    def stations_of(self, unit: Unit) -> list[Station]:
        if not self._by_unit:
            for s in self.stations:
                self._by_unit.setdefault(s.unit_id, []).append(s)
        return self._by_unit.get(unit.id, [])

    def result(self, unit: Unit | None, totals: Totals) -> UnitResult:
        """Figures of one unit or station, as :meth:`Tabulation.result_of` computes them."""
        base = int(self.schema.role(self.election.majority_base, totals.lines))
        participants = int(self.schema.role("participants", totals.lines))
        candidates = [
            CandidateResult(
                c,
                totals.lines.get(c.line_code, 0),
                percent(totals.lines.get(c.line_code, 0), base),
            )
            for c in self.candidates
        ]
        return UnitResult(unit, totals, candidates, base, participants)

    def unit_result(self, unit: Unit) -> UnitResult:
        return self.result(unit, self.totals[unit.id])

    def station_result(self, station: Station) -> UnitResult | None:
        if station.id not in self.values:
            return None
        return self.result(
            None,
            Totals(
                lines=dict(self.values[station.id]),
                stations_total=1,
                stations_reported=1,
                registered_total=station.registered,
                registered_reported=station.registered,
            ),
        )

    @property
    def complete(self) -> bool:
        root = self.totals[self.root.id]
        return root.stations_reported == root.stations_total


def election_head(election: Election) -> tuple[int, str]:
    entry = (
        LedgerEntry.objects.filter(election=election).order_by("-seq").only("seq", "hash").first()
    )
    return (entry.seq, entry.hash) if entry else (0, "")


def _global_head() -> int:
    entry = LedgerEntry.objects.order_by("-seq").only("seq").first()
    return entry.seq if entry else 0


def collect(election: Election) -> PublicData:
    election.refresh_from_db()
    units = list(Unit.objects.filter(election=election).order_by("position", "id"))
    stations = list(Station.objects.filter(election=election).order_by("position", "id"))
    candidates = list(Candidate.objects.filter(election=election).order_by("number"))
    for _attempt in range(ATTEMPTS):
        before = _global_head()
        protocols: dict[int, StationProtocol] = {}
        published: dict[int, int] = {}  # protocol id → station id
        for pid, sid, status, version, ref, completed, soft in Protocol.objects.filter(
            election=election, is_current=True, status__in=PUBLIC_STATUSES
        ).values_list(
            "id", "station_id", "status", "version", "decision_ref", "completed_at", "soft_failures"
        ):
            protocols[sid] = StationProtocol(status, version, ref, completed, tuple(soft or ()))
            if status == ProtocolStatus.PUBLISHED:
                published[pid] = sid
        values: dict[int, dict[str, int]] = {sid: {} for sid in published.values()}
        with connection.cursor() as cursor:
            # raw rows: this is the big read (a row per line per station), twice as fast
            # without the ORM's per-row conversion
            cursor.execute(_VALUES_SQL, [election.id, True, ProtocolStatus.PUBLISHED])
            for pid, code, value in cursor.fetchall():
                station = published.get(pid)
                if station is not None:
                    values[station][code] = int(value)
        turnout = list(
            TurnoutReport.objects.filter(election=election, is_current=True).values_list(
                "station_id", "time", "voters"
            )
        )
        if _global_head() == before:
            break
    seq, ledger_hash = election_head(election)
    data = PublicData(
        election=election,
        schema=election.protocol_schema(),
        units=units,
        stations=stations,
        candidates=candidates,
        protocols=protocols,
        values=values,
        turnout=turnout,
        seq=seq,
        ledger_hash=ledger_hash,
        generated_at=timezone.now().replace(microsecond=0),
    )
    data.totals = roll_up(data)
    return data


def roll_up(data: PublicData) -> dict[int, Totals]:
    """Sum the stations' published lines per unit and up the tree (as the tabulation does)."""
    own: dict[int, Totals] = defaultdict(Totals)
    for s in data.stations:
        t = own[s.unit_id]
        t.stations_total += 1
        t.registered_total += s.registered
        lines = data.values.get(s.id)
        if lines is None:
            continue
        t.stations_reported += 1
        t.registered_reported += s.registered
        for code, value in lines.items():
            t.lines[code] = t.lines.get(code, 0) + value
    parent = {u.id: u.parent_id for u in data.units}
    totals: dict[int, Totals] = {u.id: Totals() for u in data.units}
    for unit_id, t in own.items():
        current: int | None = unit_id
        while current is not None:
            totals[current].add(t)
            current = parent[current]
    return totals


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def unit_json(r: UnitResult) -> dict[str, Any]:
    """The figures of one unit in the shape of the results API (``secki.results.api``)."""
    t = r.totals
    return {
        "unit": r.unit.code if r.unit else None,
        "name": r.unit.name if r.unit else None,
        "kind": r.unit.kind if r.unit else None,
        "stations_total": t.stations_total,
        "stations_reported": t.stations_reported,
        "registered_total": t.registered_total,
        "registered_reported": t.registered_reported,
        "participants": r.participants,
        "turnout_percent": _dec(r.turnout),
        "reporting_percent": _dec(r.reporting),
        "base": r.base,
        "candidates": [
            {
                "number": c.candidate.number,
                "name": c.candidate.name,
                "party": c.candidate.party,
                "votes": c.votes,
                "percent": _dec(c.share),
            }
            for c in r.candidates
        ],
        "lines": dict(sorted(t.lines.items())),
    }


def national_json(data: PublicData) -> dict[str, Any]:
    """What ``GET /api/v1/elections/{slug}/results`` answers the public, from this data."""
    from secki.results.rules import decide

    root = data.root
    result = data.unit_result(root)
    # the win rule needs the annulment count; the figures are ours
    outcome = decide(data.election, result)
    return {
        "election": data.election.slug,
        "simulated": data.election.simulated,
        "published_only": True,
        "outcome": {
            "status": outcome.status,
            "winner": outcome.winner.number if outcome.winner else None,
            "runoff": [c.number for c in outcome.runoff],
            "provisional": outcome.provisional,
            "explanation": outcome.explanation,
        },
        **unit_json(result),
        "children": [unit_json(data.unit_result(u)) for u in data.children(root)],
    }
