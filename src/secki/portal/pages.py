"""What the public pages show, computed from the tabulation and the protocol records.

Views stay thin: they resolve the election and the caller's visibility, call these functions
and render. Everything here reads; nothing writes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from secki.elections.models import Election, Station, Unit, UnitKind
from secki.elections.names import local
from secki.opendata.answers import STATIONS_PAGE as STATIONS_PAGE
from secki.opendata.answers import Row, published_station_rows, station_row
from secki.opendata.collect import ScanRow, StationPart
from secki.portal.templatetags.portal import _percents
from secki.protocols import store as protocol_store
from secki.protocols.actions import protocol_data, run_checks
from secki.protocols.models import (
    Protocol,
    ProtocolEvent,
    ProtocolScan,
    ProtocolStatus,
    ProtocolValue,
    ScanType,
    counted_statuses,
)
from secki.protocols.scans import visible_scans
from secki.results.tabulate import Tabulation, Totals, UnitResult, percent
from secki.results.turnout import TurnoutAggregate, UnitFigures, aggregate
from secki.turnout import store as turnout_store
from secki.turnout.store import StationReport

#: a scan's file type → its name
SCAN_KINDS: dict[str, Any] = dict(ScanType.choices)
#: what the public may see of a station's protocol versions
PUBLIC_STATUSES = (ProtocolStatus.PUBLISHED, ProtocolStatus.ANNULLED)


# -- children tables ---------------------------------------------------------------------


def unit_rows(tab: Tabulation, units: Iterable[Unit]) -> list[Row]:
    rows = []
    for u in units:
        r = tab.result(u)
        rows.append(
            Row("unit", u.code, u.number, local(u), r.totals.registered_total, r, status="counted")
        )
    return rows


def station_rows(tab: Tabulation, unit: Unit, data: StationPart | None = None) -> list[Row]:
    """The stations held directly by ``unit``, each with its counted protocol's result (from
    the published state ``data`` when given)."""
    if data is not None:
        return published_station_rows(tab, unit, data)
    stations = list(Station.objects.filter(election=tab.election, unit=unit).order_by("number"))
    if not stations:
        return []
    current = (
        {}  # the publication setting holds every result back
        if tab.withheld
        else {
            p["station_id"]: p
            for p in Protocol.objects.filter(
                election=tab.election, station__unit=unit, is_current=True
            ).values("id", "station_id", "status", "soft_failures")
        }
    )
    counted = set(counted_statuses(tab.public))
    counted_ids = {p["id"]: sid for sid, p in current.items() if p["status"] in counted}
    lines: dict[int, dict[str, int]] = defaultdict(dict)
    if counted_ids:
        for pid, code, value in ProtocolValue.objects.filter(
            protocol_id__in=list(counted_ids)
        ).values_list("protocol_id", "code", "value"):
            lines[counted_ids[pid]][code] = value
    rows = []
    for s in stations:
        p = current.get(s.id)
        if p is None:
            status = "none"
        elif p["status"] in counted:
            status = "counted"
        elif p["status"] == ProtocolStatus.ANNULLED:
            status = "annulled"
        else:
            status = "pending"
        failures = list(p["soft_failures"]) if p and status == "counted" else []
        counted_lines = lines.get(s.id, {}) if status == "counted" else None
        rows.append(station_row(tab, s, counted_lines, status, failures))
    return rows


def _none_last(value: Any, desc: bool) -> tuple[int, Any]:
    # None sorts last in either direction
    return (1, 0) if value is None else (0, -value if desc else value)


SortKey = Callable[[Row], Any]


def sort_keys(n_candidates: int) -> dict[str, SortKey]:
    keys: dict[str, SortKey] = {
        "registered": lambda r: r.registered,
        "reporting": lambda r: r.result.reporting if r.result else None,
        "turnout": lambda r: r.result.turnout if r.result else None,
        "leader": lambda r: r.leader_share,
    }
    for n in range(1, n_candidates + 1):
        keys[f"c{n}"] = lambda r, n=n: r.share(n)  # type: ignore[misc]
    return keys


def sort_rows(rows: list[Row], key: str, desc: bool, n_candidates: int) -> list[Row]:
    """Sort by ``key`` (``name``, ``registered``, ``reporting``, ``turnout``, ``leader``,
    ``c1`` … ``cN``); rows without a figure go last; ties keep the official order."""
    by_name = sorted(rows, key=lambda r: (r.number if r.number is not None else 1 << 30, r.name))
    if key == "name":
        return list(reversed(by_name)) if desc else by_name
    getter = sort_keys(n_candidates).get(key)
    if getter is None:
        return by_name
    return sorted(by_name, key=lambda r: _none_last(getter(r), desc))


def ancestors(tab: Tabulation, unit: Unit | None) -> list[Unit]:
    """The units above ``unit``, root first (not including ``unit``)."""
    chain: list[Unit] = []
    current = tab.units.get(unit.parent_id) if unit and unit.parent_id else None
    while current is not None:
        chain.append(current)
        current = tab.units.get(current.parent_id) if current.parent_id else None
    return list(reversed(chain))


def constituencies(tab: Tabulation) -> list[Unit]:
    """The map's cells: constituencies, or the root's children when there are none."""
    units = [u for u in tab.units.values() if u.kind == UnitKind.CONSTITUENCY]
    if not units:
        units = tab.children(tab.root)
    return sorted(units, key=lambda u: (u.number if u.number is not None else 1 << 30, u.code))


# -- turnout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnoutPoint:
    time: str
    voters: int
    registered_reporting: int  # registered voters of the stations that reported at this time
    reporting: int
    total: int

    @property
    def percent(self) -> Decimal | None:
        return percent(self.voters, self.registered_reporting)

    @property
    def reporting_percent(self) -> Decimal | None:
        return percent(self.reporting, self.total)


class TurnoutTable:
    """Turnout of every unit at every report time (spec/domain.md §2): Σ voters over Σ
    registered of the stations that reported at that time, from the turnout aggregate
    (:mod:`secki.results.turnout`, cached by ledger head)."""

    def __init__(self, tab: Tabulation, figures: dict[int, UnitFigures] | None = None) -> None:
        self.tab = tab
        if figures is not None:  # a published state's reports, summed up the tree
            self.aggregate = TurnoutAggregate.of_totals(tab, figures)
        else:
            self.aggregate = aggregate(tab.election, public=tab.public)
        self.times: list[str] = list(self.aggregate.times)

    def series(self, unit: Unit | None = None) -> list[TurnoutPoint]:
        unit = unit or self.tab.root
        total = self.aggregate.totals[unit.id].stations_total
        return [
            TurnoutPoint(t, f.voters, f.registered, f.stations, total)
            for t in self.times
            for f in [self.aggregate.figures(unit, t)]
        ]


# -- one station -------------------------------------------------------------------------


@dataclass
class Version:
    protocol: Protocol
    values: dict[str, int]
    changed: list[str]  # line codes that differ from the previous visible version
    events: list[ProtocolEvent]
    #: each changed line: its code, its label, the previous visible version's value, this one's
    diff: list[tuple[str, str, int | None, int | None]] = field(default_factory=list)
    previous: int | None = None  # the version number compared with


@dataclass(frozen=True)
class ScanShown:
    """A scan as the station page lists it (from the published state or the database)."""

    number: int
    version: int  # of the protocol it belongs to
    content_type: str
    sha256: str
    size: int
    uploaded_at: dt.datetime

    @property
    def kind(self) -> Any:
        """The file type's name in the visitor's language."""
        return SCAN_KINDS.get(self.content_type, self.content_type)

    @classmethod
    def of(cls, row: ScanRow) -> ScanShown:
        return cls(row.number, row.version, row.content_type, row.sha256, row.size, row.uploaded_at)

    @classmethod
    def of_scan(cls, scan: ProtocolScan) -> ScanShown:
        return cls(
            scan.number,
            scan.protocol.version,
            scan.content_type,
            scan.sha256,
            scan.size,
            scan.uploaded_at,
        )


@dataclass
class StationDetail:
    station: Station
    versions: list[Version]  # visible versions, oldest first
    current: Version | None  # the counted (or annulled) current version, if visible
    hidden_current: bool  # a newer version exists that the public cannot see yet
    #: (code, label, value, kind, a candidate's share) of the current version
    lines: list[tuple[str, str, Any, str, str]]
    checks: list[dict[str, Any]]
    checks_recorded: bool  # False: evaluated now on the values (the bulk import keeps none)
    turnout: list[StationReport]  # current reports by time
    corrections: list[StationReport]  # superseded turnout versions (with reasons)
    result: UnitResult | None
    scans: list[ScanShown]  # scans of the visible versions, oldest first


def station_detail(
    tab: Tabulation,
    station: Station,
    data: StationPart | None = None,
    protocols: list[Protocol] | None = None,
) -> StationDetail:
    """What a station's page shows; with a published state ``data``, the protocol versions up
    to the one that state holds (what came later waits for the next state), its lines and
    scans from the state. ``protocols``: every version of the station's protocol, oldest
    first, when the caller read them already (:func:`secki.protocols.store.station_versions`)."""
    election: Election = tab.election
    schema = election.protocol_schema()
    if protocols is None:
        protocols = list(Protocol.objects.filter(station=station).order_by("version"))
    visible = [p for p in protocols if not tab.public or p.status in PUBLIC_STATUSES]
    if tab.withheld:  # the publication setting holds every result back
        visible = []
    #: protocol id → its lines, those the state holds already (its published version's)
    values: dict[int, dict[str, int]] = {}
    if data is not None:
        held = data.protocols.get(station.id)
        if held is None:
            visible = [p for p in visible if not p.is_current]
        else:
            visible = [p for p in visible if p.version <= held.version]
            for p in visible:  # as the state saw them
                p.is_current = p.version == held.version
                if p.is_current:
                    p.status = held.status
                    held_lines = data.values.get(station.id)
                    if held_lines is not None and held.status == ProtocolStatus.PUBLISHED:
                        values[p.id] = held_lines
    if any(p.id not in values for p in visible):
        read = protocol_store.station_values(station.id)
        values.update((p.id, read.get(p.id, {})) for p in visible if p.id not in values)
    events: dict[int, list[ProtocolEvent]] = defaultdict(list)
    if visible:
        ids = {p.id for p in visible}
        for event in protocol_store.station_events(station.id):
            if event.protocol_id in ids:
                events[event.protocol_id].append(event)
    versions: list[Version] = []
    previous: dict[str, int] | None = None
    previous_number: int | None = None
    labels = {ln.code: ln.label for ln in schema.lines}
    labels.update({c.line_code: local(c) for c in tab.candidates})
    order = {code: i for i, code in enumerate(labels)}
    for p in visible:
        mine = values.get(p.id, {})
        changed = (
            sorted(
                (k for k in set(mine) | set(previous) if mine.get(k) != previous.get(k)),
                key=lambda k: (order.get(k, len(order)), k),
            )
            if previous is not None
            else []
        )
        diff = [(k, labels.get(k, k), (previous or {}).get(k), mine.get(k)) for k in changed]
        versions.append(
            Version(p, mine, changed, events.get(p.id, []), diff, previous_number if diff else None)
        )
        if mine:
            previous = mine
            previous_number = p.version
    current = next((v for v in versions if v.protocol.is_current), None)
    hidden_current = any(p.is_current for p in protocols) and current is None
    candidates = tab.candidates
    shown = current.values if current else {}
    completed = current.protocol.completed_at if current else None
    result = None
    if current is not None and current.protocol.status in counted_statuses(tab.public):
        result = tab.result_of(
            None,
            Totals(
                lines=dict(current.values),
                stations_total=1,
                stations_reported=1,
                registered_total=station.registered,
                registered_reported=station.registered,
            ),
        )
    # a candidate's share of the base beside its line (computed here: the template compared
    # every line with every candidate)
    share = _percents()  # pct with the language's separators looked up once
    shares = {c.candidate.line_code: share(c.share) for c in result.candidates} if result else {}
    lines: list[tuple[str, str, Any, str, str]] = [
        (
            ln.code,
            ln.label,
            shown.get(ln.code) if ln.kind == "count" else completed,
            ln.kind,
            shares.get(ln.code, ""),
        )
        for ln in schema.lines
    ]
    lines += [
        (c.line_code, local(c), shown.get(c.line_code), "count", shares.get(c.line_code, ""))
        for c in candidates
    ]
    messages = {c.code: c for c in schema.checks}
    checks = []
    recorded = bool(current and current.protocol.checks)
    if current is not None:
        stored = list(current.protocol.checks)
        if not stored and current.values:
            stored = [
                {"code": r.code, "severity": r.severity, "passed": r.passed}
                for r in run_checks(election, station, protocol_data(current.protocol))
            ]
        for item in stored:
            check = messages.get(item.get("code", ""))
            checks.append(
                {
                    "code": item.get("code"),
                    "severity": item.get("severity"),
                    "passed": item.get("passed"),
                    "message": check.message if check else "",
                    "expression": check.source if check else "",
                }
            )
    reports = turnout_store.station_reports(station.id)
    return StationDetail(
        station=station,
        versions=versions,
        current=current,
        hidden_current=hidden_current,
        lines=lines,
        checks=checks,
        checks_recorded=recorded,
        turnout=[r for r in reports if r.is_current],
        corrections=[r for r in reports if not r.is_current],
        result=result,
        scans=(
            [ScanShown.of(row) for row in data.scans.get(station.id, [])]
            if data is not None and tab.public
            else [ScanShown.of_scan(scan) for scan in visible_scans(station, public=tab.public)]
        ),
    )
