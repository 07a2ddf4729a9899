"""Observers' protocol copies against the official protocols, line by line.

A station's mark:

* ``corroborated`` — copies of two different organisations agree with each other on every
  line they both give but not with the official protocol: the strongest flag;
* ``differs`` — a copy and the official protocol differ on a line;
* ``agrees`` — every copy equals the official protocol on every line it gives;
* ``awaiting`` — copies but no official protocol yet (as the viewer sees it: the public
  compares with published protocols, staff and observers with accepted ones too).

Each difference names the line, the official and the copy's value and ``official − copy``;
for a candidate's line a positive difference is in that candidate's favour, a negative one
against. Computed when read, so a comparison exists as soon as both numbers do; the whole table is
kept per process until the ledger head moves.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from secki.elections.models import Candidate, Election, Station, Unit
from secki.ledger import chain
from secki.observers import store
from secki.observers.models import ProtocolCopy
from secki.protocols.models import counted_statuses

CORROBORATED = "corroborated"
DIFFERS = "differs"
AGREES = "agrees"
AWAITING = "awaiting"
MARKS = (CORROBORATED, DIFFERS, AGREES, AWAITING)
FLAGGED = (CORROBORATED, DIFFERS)


@dataclass(frozen=True)
class LineDiff:
    code: str
    official: int
    copy: int
    organisation: str

    @property
    def delta(self) -> int:
        """Official minus copy: positive, the official protocol reports more."""
        return self.official - self.copy


@dataclass(frozen=True)
class CopyView:
    organisation: str
    values: dict[str, int]
    photo: str
    diffs: list[LineDiff]


class StationRef(NamedTuple):
    """What the table needs of a station (model instances cost more than the comparison)."""

    id: int
    code: str
    unit_id: int
    position: int


@dataclass
class StationComparison:
    station: StationRef
    unit: Unit
    mark: str
    official: dict[str, int] | None
    copies: list[CopyView]
    lines: list[str] = field(default_factory=list)  # codes of the lines that differ
    favour: dict[str, int] = field(default_factory=dict)  # candidate code → largest delta

    @property
    def flagged(self) -> bool:
        return self.mark in FLAGGED

    @property
    def diffs(self) -> list[LineDiff]:
        return [d for c in self.copies for d in c.diffs]


@dataclass
class Comparison:
    election: Election
    public: bool
    stations: list[StationComparison]
    candidates: dict[str, Candidate]
    by_unit: list[tuple[Unit, dict[str, int]]]
    #: the election's publication setting holds the official figures back from the public:
    #: no official value is read, every station awaits
    withheld: bool = False

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(MARKS, 0)
        for s in self.stations:
            out[s.mark] += 1
        return out

    def favour_text(self, s: StationComparison) -> list[tuple[Candidate, int]]:
        return [(self.candidates[c], d) for c, d in s.favour.items() if c in self.candidates]


def official_values(election: Election, public: bool) -> dict[int, dict[str, int]]:
    """Station id → line values of its current counted protocol (published only: public)."""
    return store.official_values(election.pk, counted_statuses(public))


def _agree(a: dict[str, int], b: dict[str, int]) -> bool:
    shared = set(a) & set(b)
    return bool(shared) and all(a[c] == b[c] for c in shared)


def _station(
    station: StationRef,
    unit: Unit,
    held: dict[str, int] | None,
    copies: list[tuple[str, dict[str, int], str]],
    candidates: dict[str, Candidate],
    order: list[str],
) -> StationComparison:
    """One station's copies against its official values (None: no official protocol); lines
    in the protocol's order (``order``: its line codes, then C1 … Cn)."""
    views = []
    for name, values, photo in copies:
        diffs = []
        if held is not None:
            diffs = [
                LineDiff(code, held[code], values[code], name)
                for code in order
                if code in values and code in held and held[code] != values[code]
            ]
        views.append(CopyView(name, values, photo, diffs))
    row = StationComparison(station, unit, AWAITING, held, views)
    if held is None:
        return row
    differing = [v for v in views if v.diffs]
    if not differing:
        row.mark = AGREES
        return row
    row.mark = DIFFERS
    for i, a in enumerate(differing):
        for b in differing[i + 1 :]:
            if a.organisation != b.organisation and _agree(a.values, b.values):
                row.mark = CORROBORATED
    codes = {d.code for v in differing for d in v.diffs}
    row.lines = [c for c in order if c in codes]
    for d in row.diffs:
        if d.code in candidates and abs(d.delta) > abs(row.favour.get(d.code, 0)):
            row.favour[d.code] = d.delta
    return row


def line_order(election: Election) -> list[str]:
    return election.protocol_schema().columns(election.candidate_count())


def station_comparison(
    election: Election, station: Station, *, public: bool
) -> StationComparison | None:
    """One station's comparison (None: no copy of it), for its public page."""
    if not store.has_copies(station.pk):  # most stations: one prepared statement
        return None
    copies = [
        (name, values, photo)
        for name, values, photo in ProtocolCopy.objects.filter(station=station, is_current=True)
        .order_by("organisation__name")
        .values_list("organisation__name", "values", "photo_sha256")
    ]
    if not copies:
        return None
    held = store.official_values(election.pk, counted_statuses(public), station.pk).get(station.pk)
    ref = StationRef(station.pk, station.code, station.unit_id, station.position)
    candidates = {c.line_code: c for c in election.candidates.all()}
    return _station(ref, station.unit, held, copies, candidates, line_order(election))


#: per-process cache of whole tables: (election, its creation, public, withheld) → (ledger
#: head, table)
_cache: dict[tuple[int, str, bool, bool], tuple[int, Comparison]] = {}
_cache_lock = threading.Lock()
CACHE_ENTRIES = 16


def compare(election: Election, *, public: bool, withheld: bool = False) -> Comparison:
    """The table, computed again only when the ledger head moved: every copy and every change
    of a protocol is an entry of the log. ``withheld``: the public may not see official
    figures yet (the publication setting), so none is read."""
    head = chain.ledger_head()
    key = (election.pk, str(election.created_at), public, withheld)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == head:
        return hit[1]
    table = compute(election, public=public, withheld=withheld)
    with _cache_lock:
        if len(_cache) >= CACHE_ENTRIES:
            _cache.clear()
        _cache[key] = (head, table)
    return table


def compute(election: Election, *, public: bool, withheld: bool = False) -> Comparison:
    """Every station with a copy, compared with its official protocol (none while
    ``withheld``)."""
    copies: dict[int, list[tuple[str, dict[str, int], str]]] = defaultdict(list)
    for station_id, name, values, photo in (
        ProtocolCopy.objects.filter(election=election, is_current=True)
        .order_by("station_id", "organisation__name")
        .values_list("station_id", "organisation__name", "values", "photo_sha256")
    ):
        copies[station_id].append((name, values, photo))
    units = {u.id: u for u in Unit.objects.filter(election=election)}
    stations = {
        row[0]: StationRef(*row)
        for row in Station.objects.filter(election=election).values_list(
            "id", "code", "unit_id", "position"
        )
        if row[0] in copies
    }
    official = official_values(election, public) if copies and not withheld else {}
    candidates = {c.line_code: c for c in election.candidates.all()}
    order = line_order(election)
    rows = [
        _station(
            stations[i], units[stations[i].unit_id], official.get(i), copies[i], candidates, order
        )
        for i in sorted(copies, key=lambda i: (stations[i].position, i))
    ]
    by_unit = _by_unit(rows, units)
    return Comparison(election, public, rows, candidates, by_unit, withheld)


def _by_unit(
    rows: list[StationComparison], units: dict[int, Unit]
) -> list[tuple[Unit, dict[str, int]]]:
    """Marks counted for every unit holding a compared station, in the tree's order."""
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        unit: Unit | None = row.unit
        while unit is not None:
            bucket = counts.setdefault(unit.id, {"copies": 0, **dict.fromkeys(MARKS, 0)})
            bucket["copies"] += 1
            bucket[row.mark] += 1
            unit = units.get(unit.parent_id) if unit.parent_id else None
    ordered = sorted(counts, key=lambda i: (units[i].path, units[i].position))
    return [(units[i], counts[i]) for i in ordered]


def station_json(s: StationComparison) -> dict[str, Any]:
    return {
        "station": s.station.code,
        "unit": s.unit.code,
        "mark": s.mark,
        "lines": s.lines,
        "favour": s.favour,
        "official": s.official,
        "copies": [
            {
                "organisation": c.organisation,
                "values": c.values,
                "photo_sha256": c.photo or None,
                "differences": [
                    {"line": d.code, "official": d.official, "copy": d.copy, "delta": d.delta}
                    for d in c.diffs
                ],
            }
            for c in s.copies
        ],
    }


def as_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "election": comparison.election.slug,
        "official": (
            "withheld" if comparison.withheld else ("published" if comparison.public else "counted")
        ),
        "counts": comparison.counts(),
        "stations": [station_json(s) for s in comparison.stations],
        "units": [{"unit": u.code, "name": u.name, **counts} for u, counts in comparison.by_unit],
    }


CSV_COLUMNS = ("station", "unit", "mark", "organisation", "line", "official", "copy", "delta")


def as_csv(comparison: Comparison) -> str:
    """One row per difference; a station without differences is one row with its mark."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in comparison.stations:
        diffs = s.diffs
        if not diffs:
            writer.writerow([s.station.code, s.unit.code, s.mark, "", "", "", "", ""])
        for d in diffs:
            writer.writerow(
                [
                    s.station.code,
                    s.unit.code,
                    s.mark,
                    d.organisation,
                    d.code,
                    d.official,
                    d.copy,
                    d.delta,
                ]
            )
    return out.getvalue()
