"""Everything the public may download about one election, read in a few queries, and kept
current by applying the public ledger's new entries.

The public sees published protocols only (the same rule as the public tabulation). A full read
(:func:`collect`) takes the protocol rows and their values in two statements; the ledger head
is read before and after, and the read is repeated (a few times at most) when a change
committed in between. :func:`catch_up` then brings a :class:`PublicData` forward: the ledger
entries after its sequence number name the stations whose protocol or turnout changed (every
such change appends an entry in the same transaction, in commit order), only those stations
are read again, and the unit totals are corrected along their branch of the tree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from django.utils import timezone

from secki.elections.models import Candidate, Election, Station, Unit
from secki.ledger.models import LedgerEntry
from secki.opendata import store
from secki.protocol_schema import ProtocolSchema
from secki.protocols.models import Protocol, ProtocolScan, ProtocolStatus
from secki.protocols.scans import scan_json
from secki.results import serialize
from secki.results.publication import results_public
from secki.results.tabulate import (
    Totals,
    UnitResult,
    candidate_results,
    held_back,
)
from secki.turnout.models import TurnoutReport

PUBLIC_STATUSES = (ProtocolStatus.PUBLISHED, ProtocolStatus.ANNULLED)
ATTEMPTS = 3
#: more new entries than this share of the stations are read in full rather than as a delta
#: (election night brings a few hundred a second: a publisher one interval behind still
#: catches up by deltas)
DELTA_SHARE = 0.2
STATION_FIELDS = (
    "id",
    "unit_id",
    "code",
    "number",
    "name",
    "address",
    "registered",
    "latitude",
    "longitude",
    "abroad",
    "temporary",
    "webcam",
    "ocd_id",
    "webcam_url",
    "name_az",
    "name_ru",
)


class PublicStation(NamedTuple):
    """A station's register entry: a light stand-in for the model, for the elections whose
    stations are too many to load as model instances on every snapshot."""

    id: int
    unit_id: int
    code: str
    number: int
    name: str
    address: str
    registered: int
    latitude: Decimal | None
    longitude: Decimal | None
    abroad: bool
    temporary: bool
    webcam: bool
    ocd_id: str
    webcam_url: str
    name_az: str
    name_ru: str


class ScanRow(NamedTuple):
    """A public scan of a station's paper protocol (of a published or annulled version)."""

    station_id: int
    version: int
    number: int
    sha256: str
    size: int
    content_type: str
    uploaded_at: dt.datetime

    def json(self, url: str) -> dict[str, Any]:
        """:func:`secki.protocols.scans.scan_json` of this scan, served at ``url``."""
        return scan_json(
            version=self.version,
            number=self.number,
            sha256=self.sha256,
            size=self.size,
            content_type=self.content_type,
            uploaded_at=self.uploaded_at,
            url=url,
        )


SCAN_FIELDS = (
    "station_id",
    "protocol__version",
    "number",
    "sha256",
    "size",
    "content_type",
    "uploaded_at",
)


@dataclass(frozen=True, slots=True)
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
    stations: list[PublicStation]  # in bundle order
    candidates: list[Candidate]
    protocols: dict[int, StationProtocol]  # station id → current public protocol
    values: dict[int, dict[str, int]]  # station id → lines of its published protocol
    turnout: dict[int, dict[str, int]]  # station id → {report time: voters}, current reports
    seq: int  # this election's newest ledger entry that this data includes
    #: the leaf hash (hex) of that entry, the election log's entry ``log_size - 1``
    ledger_hash: str
    generated_at: dt.datetime
    #: the size of the election's public log this data reflects (its entries 0 … size − 1)
    log_size: int = 0
    #: station id → its public scans (of published and annulled versions), oldest first
    scans: dict[int, list[ScanRow]] = field(default_factory=dict)
    totals: dict[int, Totals] = field(default_factory=dict)  # unit id → rolled-up sums
    #: unit id → how many counted stations carry each line (a line's sum disappears with the
    #: last station carrying it, as in the tabulation's GROUP BY)
    present: dict[int, Counter[str]] = field(default_factory=dict)
    #: stations whose current protocol is annulled (None: not counted yet; the published
    #: state's light copy holds the count without the protocols, :meth:`light`)
    annulled: int | None = None
    #: grows with every change applied to the data (:meth:`touch`); ``unit_rev``: unit id →
    #: ``rev`` at the last change of a station it holds directly; ``turnout_rev``: ``rev`` at
    #: the last change of turnout reports (the publisher rewrites only what moved)
    rev: int = 0
    unit_rev: dict[int, int] = field(default_factory=dict)
    turnout_rev: int = 0
    #: stations whose pages changed since the publisher last took them (:meth:`take_pages`)
    pages_changed: set[int] = field(default_factory=set)
    _by_unit: dict[int, list[PublicStation]] = field(default_factory=dict, repr=False)
    _by_id: dict[int, PublicStation] = field(default_factory=dict, repr=False)
    _by_code: dict[str, int] = field(default_factory=dict, repr=False)
    _parent: dict[int, int | None] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        # a published state is this data pickled; the compiled schema is not picklable and is
        # the election's own (cached per process), so it is taken from the election again
        state = dict(self.__dict__)
        state["schema"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("pages_changed", set())  # a state of an earlier release
        self.schema = self.election.protocol_schema()

    @property
    def root(self) -> Unit:
        return next(u for u in self.units if u.parent_id is None)

    def children(self, unit: Unit) -> list[Unit]:
        return [u for u in self.units if u.parent_id == unit.id]

    def stations_of(self, unit: Unit) -> list[PublicStation]:
        return self.stations_in(unit.id)

    def stations_in(self, unit_id: int) -> list[PublicStation]:
        if not self._by_unit:
            for s in self.stations:
                self._by_unit.setdefault(s.unit_id, []).append(s)
        return self._by_unit.get(unit_id, [])

    def touch(self, station_ids: Iterable[int], *, turnout: bool = False) -> None:
        """Note that these stations' public data changed (their units' parts are stale)."""
        self.rev += 1
        for sid in station_ids:
            self.unit_rev[self.station(sid).unit_id] = self.rev
            self.pages_changed.add(sid)
        if turnout:
            self.turnout_rev = self.rev

    def touch_pages(self, station_ids: Iterable[int]) -> None:
        """Note that these stations' pages changed though their public data did not (an
        observer's copy of their protocol: the page shows the comparison)."""
        self.pages_changed.update(station_ids)

    def take_pages(self) -> set[int]:
        """The stations whose pages changed since the last call (then forgotten: a night of a
        million protocols keeps no million marks)."""
        taken, self.pages_changed = self.pages_changed, set()
        return taken

    def part(self, unit_id: int) -> StationPart:
        """The stations ``unit_id`` holds directly, with their public data."""
        stations = self.stations_in(unit_id)
        protocols, values, turnout, scans = self.protocols, self.values, self.turnout, self.scans
        return StationPart(
            unit_id,
            list(stations),
            {s.id: protocols[s.id] for s in stations if s.id in protocols},
            {s.id: values[s.id] for s in stations if s.id in values},
            {s.id: turnout[s.id] for s in stations if s.id in turnout},
            {s.id: scans[s.id] for s in stations if s.id in scans},
        )

    def light(self) -> PublicData:
        """This data without any station's own data (the register, protocols, lines, turnout
        reports, scans): the totals of every unit, what a national page needs."""
        return dataclasses.replace(
            self,
            stations=[],
            protocols={},
            values={},
            turnout={},
            scans={},
            annulled=self.annulled_count,
            unit_rev={},
            pages_changed=set(),
            _by_unit={},
            _by_id={},
            _by_code={},
            _parent={},
        )

    def station(self, station_id: int) -> PublicStation:
        if not self._by_id:
            self._by_id = {s.id: s for s in self.stations}
        return self._by_id[station_id]

    def index(self) -> None:
        """Build the maps from a station's id and code, and a unit's parent, now: at a
        million stations they take a second, which the first change after a publication
        would otherwise wait for."""
        self.station_ids()
        if self.stations:
            self.station(self.stations[0].id)
        if self.units:
            self.branch(self.units[0].id)

    def station_ids(self) -> dict[str, int]:
        """Station code → id (built once: asked at every catch-up)."""
        if not self._by_code:
            self._by_code = {s.code: s.id for s in self.stations}
        return self._by_code

    def branch(self, unit_id: int) -> list[int]:
        """``unit_id`` and the ids of every unit above it."""
        if not self._parent:  # asked once per station: the map is built once
            self._parent = {u.id: u.parent_id for u in self.units}
        parent = self._parent
        chain: list[int] = []
        current: int | None = unit_id
        while current is not None:
            chain.append(current)
            current = parent[current]
        return chain

    def result(self, unit: Unit | None, totals: Totals) -> UnitResult:
        """Figures of one unit or station, as :meth:`Tabulation.result_of` computes them."""
        base = int(self.schema.role(self.election.majority_base, totals.lines))
        participants = int(self.schema.role("participants", totals.lines))
        candidates = candidate_results(self.schema, self.candidates, totals.lines, base)
        return UnitResult(unit, totals, candidates, base, participants)

    def unit_result(self, unit: Unit) -> UnitResult:
        return self.result(unit, self.totals[unit.id])

    @property
    def annulled_count(self) -> int:
        """Stations whose current public protocol is annulled (an annulled station is
        finished; too many make the election invalid)."""
        if self.annulled is None:  # counted once, then kept by :meth:`replace`
            self.annulled = sum(
                1 for p in self.protocols.values() if p.status == ProtocolStatus.ANNULLED
            )
        return self.annulled

    @property
    def annulled_share(self) -> Decimal:
        """The share of stations whose current public protocol is annulled."""
        total = self.totals[self.root.id].stations_total if self.units else 0
        return Decimal(self.annulled_count) / Decimal(total) if total else Decimal(0)

    @property
    def complete(self) -> bool:
        root = self.totals[self.root.id]
        return root.stations_reported == root.stations_total

    # -- totals ----------------------------------------------------------------------------
    def roll_up(self) -> None:
        """Sum the stations' published lines per unit and up the tree (as the tabulation)."""
        self.totals = {u.id: Totals() for u in self.units}
        self.present = {u.id: Counter() for u in self.units}
        own: dict[int, Totals] = {}
        own_present: dict[int, Counter[str]] = {}
        for s in self.stations:
            t = own.setdefault(s.unit_id, Totals())
            t.stations_total += 1
            t.registered_total += s.registered
            lines = self.values.get(s.id)
            if lines is None:
                continue
            t.stations_reported += 1
            t.registered_reported += s.registered
            for code, value in lines.items():
                t.lines[code] = t.lines.get(code, 0) + value
            own_present.setdefault(s.unit_id, Counter()).update(lines.keys())
        for unit_id, t in own.items():
            for target in self.branch(unit_id):
                self.totals[target].add(t)
                self.present[target].update(own_present.get(unit_id, Counter()))

    def _count(self, station: PublicStation, sign: int) -> None:
        lines = self.values.get(station.id)
        if lines is None:
            return
        for unit_id in self.branch(station.unit_id):
            t = self.totals[unit_id]
            present = self.present[unit_id]
            t.stations_reported += sign
            t.registered_reported += sign * station.registered
            for code, value in lines.items():
                t.lines[code] = t.lines.get(code, 0) + sign * value
                present[code] += sign
                if present[code] == 0:
                    del present[code]
                    del t.lines[code]

    def replace(
        self,
        station_id: int,
        protocol: StationProtocol | None,
        values: dict[str, int] | None,
    ) -> None:
        """Put a station's new public protocol in place, correcting the totals above it."""
        station = self.station(station_id)
        self._count(station, -1)
        if self.annulled is not None:
            was = self.protocols.get(station_id)
            self.annulled += int(
                protocol is not None and protocol.status == ProtocolStatus.ANNULLED
            )
            self.annulled -= int(was is not None and was.status == ProtocolStatus.ANNULLED)
        if protocol is None:
            self.protocols.pop(station_id, None)
        else:
            self.protocols[station_id] = protocol
        if values is None:
            self.values.pop(station_id, None)
        else:
            self.values[station_id] = values
        self._count(station, +1)
        self.touch((station_id,))


@dataclass
class StationPart:
    """The stations one unit holds directly, with their current public protocols, lines,
    turnout reports and scans: what the unit's page lists and its stations' pages show."""

    unit_id: int
    stations: list[PublicStation]
    protocols: dict[int, StationProtocol]
    values: dict[int, dict[str, int]]
    turnout: dict[int, dict[str, int]]
    scans: dict[int, list[ScanRow]]

    def stations_of(self, unit: Unit) -> list[PublicStation]:
        return self.stations if unit.id == self.unit_id else []


def election_head(election: Election) -> tuple[int, str]:
    """The ``seq`` and the leaf hash of the election's last log entry."""
    seq, leaf, _size = election_log_head(election)
    return seq, leaf


def election_log_head(election: Election) -> tuple[int, str, int]:
    """The ``seq`` and the leaf hash of the election's last log entry, and the log's size."""
    entry = (
        LedgerEntry.objects.filter(election=election)
        .order_by("-seq")
        .only("seq", "leaf_hash", "index")
        .first()
    )
    return (entry.seq, entry.leaf_hash, entry.index + 1) if entry else (0, "", 0)


def _global_head() -> int:
    entry = LedgerEntry.objects.order_by("-seq").only("seq").first()
    return entry.seq if entry else 0


def _protocols(
    election: Election, station_ids: Iterable[int] | None
) -> tuple[dict[int, StationProtocol], dict[int, dict[str, int]]]:
    """Current public protocols and the values of the published ones (of some stations)."""
    query = Protocol.objects.filter(election=election, is_current=True, status__in=PUBLIC_STATUSES)
    if station_ids is not None:
        query = query.filter(station_id__in=list(station_ids))
    protocols: dict[int, StationProtocol] = {}
    values: dict[int, dict[str, int]] = {}
    # every row brings its own copy of a line code or a status: one shared copy of each
    # (tens of millions of rows for a national election)
    same: dict[str, str] = {}
    for sid, status, version, ref, completed, soft in query.values_list(
        "station_id", "status", "version", "decision_ref", "completed_at", "soft_failures"
    ).iterator(chunk_size=store.FETCH):
        failures = tuple(same.setdefault(f, f) for f in soft or ())
        status = same.setdefault(status, status)
        protocols[sid] = StationProtocol(status, version, ref, completed, failures)
        if status == ProtocolStatus.PUBLISHED:
            values[sid] = {}
    ids: list[int] | None = None
    if station_ids is not None:
        ids = sorted(values)
        if not ids:
            return protocols, values
    # the big read (a row per line per station): plain rows
    for sid, code, value in store.published_values(election.id, ids):
        lines = values.get(sid)
        if lines is not None:  # a protocol published after the first statement waits
            lines[same.setdefault(code, code)] = value
    return protocols, values


def _replace(target: dict[int, Any], station_ids: Iterable[int], fresh: dict[int, Any]) -> None:
    """Set the stations' entries in ``target`` to their fresh ones (dropping those with none)."""
    for sid in station_ids:
        if sid in fresh:
            target[sid] = fresh[sid]
        else:
            target.pop(sid, None)


def _turnout(election: Election, station_ids: Iterable[int] | None) -> dict[int, dict[str, int]]:
    query = TurnoutReport.objects.filter(election=election, is_current=True)
    if station_ids is not None:
        query = query.filter(station_id__in=list(station_ids))
    out: dict[int, dict[str, int]] = {}
    times: dict[str, str] = {}  # one shared copy of each report time
    for sid, time, voters in query.values_list("station_id", "time", "voters").iterator(
        chunk_size=store.FETCH
    ):
        out.setdefault(sid, {})[times.setdefault(time, time)] = voters
    return out


def _scans(election: Election, station_ids: Iterable[int] | None) -> dict[int, list[ScanRow]]:
    query = ProtocolScan.objects.filter(election=election, protocol__status__in=PUBLIC_STATUSES)
    if station_ids is not None:
        query = query.filter(station_id__in=list(station_ids))
    out: dict[int, list[ScanRow]] = {}
    for row in query.order_by("station_id", "number").values_list(*SCAN_FIELDS):
        scan = ScanRow(*row)
        out.setdefault(scan.station_id, []).append(scan)
    return out


def collect(election: Election) -> PublicData:
    """Read the whole public state of ``election``."""
    election.refresh_from_db()
    units = list(Unit.objects.filter(election=election).order_by("position", "id"))
    stations = [
        PublicStation(*row)
        for row in Station.objects.filter(election=election)
        .order_by("position", "id")
        .values_list(*STATION_FIELDS)
        .iterator(chunk_size=store.FETCH)
    ]
    candidates = list(Candidate.objects.filter(election=election).order_by("number"))
    for _attempt in range(ATTEMPTS):
        before = _global_head()
        seq, ledger_hash, log_size = election_log_head(election)
        protocols, values = _protocols(election, None)
        turnout = _turnout(election, None)
        scans = _scans(election, None)
        if _global_head() == before:
            break
    data = PublicData(
        election=election,
        schema=election.protocol_schema(),
        units=units,
        stations=stations,
        candidates=candidates,
        protocols=protocols,
        values=values,
        turnout=turnout,
        scans=scans,
        seq=seq,
        ledger_hash=ledger_hash,
        generated_at=timezone.now().replace(microsecond=0),
        log_size=log_size,
    )
    data.roll_up()
    return data


#: kinds of the election log's entries that change nothing public data holds (observers'
#: facts, audits, integrity samples: their pages read their own tables); any other kind that
#: is not a station's protocol, scan or turnout report makes the next state a full read
OUTSIDE_THE_STATE = ("observers.", "audit.", "integrity.")


@dataclass(frozen=True)
class Delta:
    stations: set[int]  # stations whose protocol may have changed
    turnout: bool  # turnout reports changed


def catch_up(data: PublicData) -> Delta | None:
    """Apply the ledger entries after ``data.seq``; None when a full :func:`collect` is needed
    (an entry that does not name a station, or too many changes at once)."""
    limit = max(50, int(len(data.stations) * DELTA_SHARE))
    entries = list(
        LedgerEntry.objects.filter(election=data.election, seq__gt=data.seq)
        .order_by("seq")
        .values_list("seq", "leaf_hash", "kind", "body", "index")[: limit + 1]
    )
    if not entries:
        return Delta(set(), False)
    if len(entries) > limit:
        return None
    by_code = data.station_ids()
    changed: set[int] = set()
    turnout: set[int] = set()
    pages: set[int] = set()  # stations named by facts outside the state (their pages show some)
    for _seq, _hash, kind, body, _index in entries:
        station = json.loads(body).get("station")
        if kind.startswith(OUTSIDE_THE_STATE):
            if isinstance(station, str) and station in by_code:
                pages.add(by_code[station])
            continue
        if station not in by_code:
            return None
        if kind.startswith(("protocol.", "scan.")):  # a scan is public with its version
            changed.add(by_code[station])
        elif kind.startswith("turnout."):
            turnout.add(by_code[station])
        else:
            return None
    if changed:
        protocols, values = _protocols(data.election, changed)
        for sid in changed:
            data.replace(sid, protocols.get(sid), values.get(sid))
        _replace(data.scans, changed, _scans(data.election, changed))
    if turnout:
        _replace(data.turnout, turnout, _turnout(data.election, turnout))
        data.touch(turnout, turnout=True)
    if pages:
        data.touch_pages(pages)
    data.seq, data.ledger_hash, data.log_size = entries[-1][0], entries[-1][1], entries[-1][4] + 1
    data.generated_at = timezone.now().replace(microsecond=0)
    return Delta(changed, bool(turnout))


def is_withheld(data: PublicData, now: dt.datetime | None = None) -> bool:
    """Whether the election's publication setting holds the results of ``data`` back from
    the public at ``now`` (a share not counted yet, a time not reached)."""
    return bool(data.units) and not results_public(data.election, data.totals[data.root.id], now)


def withheld_view(data: PublicData) -> PublicData:
    """What the public may download while the results are held back: the register, the
    turnout reports (not results) and the stations' totals without anything counted; no
    protocol, line value or scan."""
    return dataclasses.replace(
        data,
        protocols={},
        annulled=0,
        values={},
        scans={},
        totals={unit_id: held_back(t) for unit_id, t in data.totals.items()},
        present={},
    )


def national_json(data: PublicData, *, withheld: bool = False) -> dict[str, Any]:
    """What ``GET /api/v1/elections/{slug}/results`` answers the public, from this data;
    ``withheld``: the publication setting holds the results back (nothing counted)."""
    root = data.root

    def result(unit: Unit) -> UnitResult:
        totals = data.totals[unit.id]
        return data.result(unit, held_back(totals)) if withheld else data.result(unit, totals)

    return serialize.national_json(
        data.election,
        result(root),
        [result(u) for u in data.children(root)],
        published_only=True,
        withheld=withheld,
        annulled=data.annulled_count,
        districts=[result(u) for u in data.units if u.seats is not None],
    )
