"""Anomaly flags on stations' turnout reports, for staff and observers.

A flag is a reason to look at a station, not a finding of fraud. Each kind is one function
over plain data (:class:`StationTurnout`), so that it can be tested and explained alone:

``above_100``      a report or the final protocol counts more voters than are registered
                   (possible within the additional-list allowance, rare and worth a look)
``decrease``       a report below an earlier time's, a correction that lowered a number, or a
                   final protocol below the last report: turnout is cumulative
``late_jump``      the final protocol's turnout exceeds the last report's by more than
                   ``jump_points`` percentage points (default 15): ballots that appear after the
                   last report are the classic trace of ballot stuffing
``identical``      the same number at one report time in more stations than chance explains
                   (Poisson tail of the local density of reported numbers, Bonferroni over all
                   numbers tested), or the same whole series at ``identical_series`` or more
                   stations
``curve_outlier``  the station's turnout at some report time is more than ``k`` standard
                   deviations from its constituency's (the unit holding the station; at least
                   ``min_group`` reporting stations)

:func:`find_anomalies` runs them all; :func:`anomalies` loads an election from the database
(one query each for stations, reports and protocol lines) and caches the flags by the head of
the public ledger.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.utils.translation import gettext_lazy
from scipy.stats import poisson

from secki.elections.models import Election, Station, Unit
from secki.errors import IntakeError
from secki.ledger.chain import ledger_head
from secki.protocols.models import ProtocolValue, counted_statuses
from secki.turnout.models import TurnoutReport
from secki.turnout.territory import Territory

FINAL = "final"
KINDS = ("above_100", "decrease", "late_jump", "identical", "curve_outlier")
KIND_LABELS = {
    "above_100": gettext_lazy("Turnout above 100 %"),
    "decrease": gettext_lazy("Decrease"),
    "late_jump": gettext_lazy("Late jump to the final protocol"),
    "identical": gettext_lazy("Identical numbers"),
    "curve_outlier": gettext_lazy("Curve departs from its constituency"),
}


@dataclass(frozen=True)
class Settings:
    jump_points: float = 15.0
    k: float = 3.0
    min_group: int = 5
    identical_series: int = 3  # stations sharing one whole series (of ≥ 3 reports)
    identical_min: int = 3  # stations sharing one number at one time, at least
    identical_alpha: float = 0.001  # family-wise, Bonferroni over the numbers tested
    identical_window: int = 25  # ± numbers around a value to estimate the chance density


@dataclass
class StationTurnout:
    """One station's turnout reports and final protocol, as plain data."""

    id: int
    code: str
    name: str
    unit_id: int
    unit_path: str
    registered: int
    current: dict[str, int] = field(default_factory=dict)  # time → voters (current versions)
    history: list[tuple[str, int, int]] = field(default_factory=list)  # (time, version, voters)
    final: int | None = None  # participants of the counted protocol
    #: the name in Azerbaijani and Russian (``secki.elections.names.local`` picks by language)
    name_az: str = ""
    name_ru: str = ""

    def share(self, voters: int) -> float | None:
        return 100.0 * voters / self.registered if self.registered > 0 else None


@dataclass(frozen=True)
class Flag:
    station: str
    kind: str
    time: str  # a report time, "final", or "" (the whole series)
    value: float  # the figure that raised the flag (percent, points, count or z)
    threshold: float
    message: str


def _ordered(station: StationTurnout, times: Sequence[str]) -> list[tuple[str, int]]:
    return [(t, station.current[t]) for t in times if t in station.current]


#: id(station) → its current reports in time order (find_anomalies builds it once for all
#: the detectors)
Series = dict[int, list[tuple[str, int]]]


def _orderer(
    times: Sequence[str], series: Series | None
) -> Callable[[StationTurnout], list[tuple[str, int]]]:
    if series is None:
        return lambda s: _ordered(s, times)
    return lambda s: series[id(s)]


def above_100(
    stations: Iterable[StationTurnout], times: Sequence[str], *, series: Series | None = None
) -> list[Flag]:
    ordered = _orderer(times, series)
    flags = []
    for s in stations:
        if s.registered <= 0:
            continue
        points = ordered(s) + ([(FINAL, s.final)] if s.final is not None else [])
        over = [(t, v) for t, v in points if v > s.registered]
        if over:
            t, v = max(over, key=lambda p: p[1])
            share = 100.0 * v / s.registered
            flags.append(
                Flag(
                    s.code,
                    "above_100",
                    t,
                    round(share, 2),
                    100.0,
                    f"{v:,} voters at {t} of {s.registered:,} registered ({share:.2f} %)",
                )
            )
    return flags


def decreases(
    stations: Iterable[StationTurnout], times: Sequence[str], *, series: Series | None = None
) -> list[Flag]:
    ordered = _orderer(times, series)
    flags = []
    for s in stations:
        current = ordered(s)
        best: tuple[str, int] | None = None
        for t, v in current:
            if best is not None and v < best[1]:
                flags.append(
                    Flag(
                        s.code,
                        "decrease",
                        t,
                        float(v - best[1]),
                        0.0,
                        f"{v:,} at {t} is below the {best[1]:,} reported at {best[0]}",
                    )
                )
            if best is None or v >= best[1]:
                best = (t, v)
        # a lowered version needs two versions of one time: more reports than current ones
        versions: dict[str, list[tuple[int, int]]] = defaultdict(list)
        if len(s.history) > len(s.current):
            for t, version, v in s.history:
                versions[t].append((version, v))
        for t in times if versions else ():
            chain = sorted(versions.get(t, []))
            for (v1, old), (v2, new) in itertools.pairwise(chain):
                if new < old:
                    flags.append(
                        Flag(
                            s.code,
                            "decrease",
                            t,
                            float(new - old),
                            0.0,
                            f"version {v2} at {t} lowered {old:,} (version {v1}) to {new:,}",
                        )
                    )
        if s.final is not None and current and s.final < current[-1][1]:
            t, v = current[-1]
            flags.append(
                Flag(
                    s.code,
                    "decrease",
                    FINAL,
                    float(s.final - v),
                    0.0,
                    f"the final protocol's {s.final:,} participants are below the "
                    f"{v:,} reported at {t}",
                )
            )
    return flags


def late_jumps(
    stations: Iterable[StationTurnout],
    times: Sequence[str],
    jump_points: float = 15.0,
    *,
    series: Series | None = None,
) -> list[Flag]:
    """Final protocol turnout minus the last report's, in percentage points of registered."""
    ordered = _orderer(times, series)
    flags = []
    for s in stations:
        current = ordered(s)
        if s.final is None or not current or s.registered <= 0:
            continue
        t, v = current[-1]
        jump = 100.0 * (s.final - v) / s.registered
        if jump > jump_points:
            flags.append(
                Flag(
                    s.code,
                    "late_jump",
                    FINAL,
                    round(jump, 2),
                    jump_points,
                    f"turnout {100.0 * v / s.registered:.1f} % at {t}, "
                    f"{100.0 * s.final / s.registered:.1f} % in the final protocol "
                    f"(+{jump:.1f} points, threshold {jump_points:g})",
                )
            )
    return flags


def identical_numbers(
    stations: Sequence[StationTurnout],
    times: Sequence[str],
    settings: Settings = Settings(),
    *,
    series: Series | None = None,
) -> list[Flag]:
    ordered = _orderer(times, series)
    flags: list[Flag] = []
    # the same non-zero number at one time, more often than the local density explains
    tests: list[tuple[str, int, int, float]] = []  # time, value, count, expected
    for t in times:
        values = sorted(s.current[t] for s in stations if s.current.get(t, 0) > 0)
        counts = Counter(values)
        w = settings.identical_window
        for value, count in counts.items():
            if count < settings.identical_min:
                continue
            lo, hi = _bisect(values, value - w), _bisect(values, value + w + 1)
            neighbours = (hi - lo) - count
            expected = max(neighbours / (2 * w), 1.0 / (2 * w))
            tests.append((t, value, count, expected))
    n_tests = max(sum(len({s.current[t] for s in stations if t in s.current}) for t in times), 1)
    cutoff = settings.identical_alpha / n_tests
    suspicious: dict[tuple[str, int], tuple[int, float, float]] = {}
    # one vectorised call: the same survival function, value by value
    pvalues = (
        poisson.sf(np.array([c for _, _, c, _ in tests]) - 1, np.array([e for *_, e in tests]))
        if tests
        else []
    )
    for (t, value, count, expected), p_value in zip(tests, pvalues, strict=True):
        p = float(p_value)
        if p < cutoff:
            suspicious[(t, value)] = (count, expected, p)
    for s in stations:
        for t in times:
            hit = suspicious.get((t, s.current.get(t, -1)))
            if hit is not None:
                count, expected, p = hit
                flags.append(
                    Flag(
                        s.code,
                        "identical",
                        t,
                        float(count),
                        settings.identical_min,
                        f"{s.current[t]:,} at {t} is reported by {count} stations; about "
                        f"{expected:.2f} would by chance (p = {p:.1e})",
                    )
                )
    # the same whole series at several stations
    same: dict[tuple[tuple[str, int], ...], list[StationTurnout]] = defaultdict(list)
    for s in stations:
        key = tuple(ordered(s))
        if len(key) >= 3 and any(v > 0 for _, v in key):
            same[key].append(s)
    for key, group in same.items():
        if len(group) >= settings.identical_series:
            others = ", ".join(g.code for g in group[:10]) + (" …" if len(group) > 10 else "")
            shown = ", ".join(f"{t} {v:,}" for t, v in key)
            for s in group:
                flags.append(
                    Flag(
                        s.code,
                        "identical",
                        "",
                        float(len(group)),
                        settings.identical_series,
                        f"the same series ({shown}) at {len(group)} stations: {others}",
                    )
                )
    return flags


def _bisect(values: Sequence[int], x: int) -> int:
    return bisect.bisect_left(values, x)


def curve_outliers(
    stations: Sequence[StationTurnout], times: Sequence[str], settings: Settings = Settings()
) -> list[Flag]:
    """Per constituency and time: turnout of the constituency (Σ voters / Σ registered of its
    reporting stations) and the standard deviation of its stations' turnout around it."""
    groups: dict[int, list[StationTurnout]] = defaultdict(list)
    for s in stations:
        if s.registered > 0:
            groups[s.unit_id].append(s)
    flags = []
    for members in groups.values():
        centre: dict[str, tuple[float, float]] = {}
        for t in times:
            reporting = [s for s in members if t in s.current]
            if len(reporting) < settings.min_group:
                continue
            level = (
                100.0 * sum(s.current[t] for s in reporting) / sum(s.registered for s in reporting)
            )
            sd = math.sqrt(
                sum((100.0 * s.current[t] / s.registered - level) ** 2 for s in reporting)
                / (len(reporting) - 1)
            )
            if sd > 0:
                centre[t] = (level, sd)
        for s in members:
            worst: tuple[float, str, float, float, float] | None = None
            for t, (level, sd) in centre.items():
                if t not in s.current:
                    continue
                share = 100.0 * s.current[t] / s.registered
                z = (share - level) / sd
                if worst is None or abs(z) > abs(worst[0]):
                    worst = (z, t, share, level, sd)
            if worst is not None and abs(worst[0]) > settings.k:
                z, t, share, level, sd = worst
                flags.append(
                    Flag(
                        s.code,
                        "curve_outlier",
                        t,
                        round(z, 2),
                        settings.k,
                        f"turnout {share:.1f} % at {t} against {level:.1f} % in its "
                        f"constituency (SD {sd:.1f} points): {z:+.1f} SD",
                    )
                )
    return flags


def find_anomalies(
    stations: Sequence[StationTurnout], times: Sequence[str], settings: Settings = Settings()
) -> list[Flag]:
    """Every flag of every kind, by station code then kind."""
    series = {id(s): _ordered(s, times) for s in stations}
    flags = (
        above_100(stations, times, series=series)
        + decreases(stations, times, series=series)
        + late_jumps(stations, times, settings.jump_points, series=series)
        + identical_numbers(stations, times, settings, series=series)
        + curve_outliers(stations, times, settings)
    )
    order = {code: i for i, code in enumerate(KINDS)}
    position = {s.code: i for i, s in enumerate(stations)}
    return sorted(flags, key=lambda f: (position.get(f.station, 0), order[f.kind], f.time))


# -- database ----------------------------------------------------------------------------


def load(election: Election, *, public: bool = False) -> list[StationTurnout]:
    """Every station of the election with its reports and final participants (3 queries).

    ``public``: final participants from published protocols only."""
    stations = {
        row[0]: StationTurnout(
            row[0], row[1], row[2], row[3], row[4], row[5], name_az=row[6], name_ru=row[7]
        )
        for row in Station.objects.filter(election=election)
        .order_by("position", "id")
        .values_list(
            "id", "code", "name", "unit_id", "unit_path", "registered", "name_az", "name_ru"
        )
    }
    for station_id, time, version, voters, current in (
        TurnoutReport.objects.filter(election=election)
        .order_by("station_id", "time", "version")
        .values_list("station_id", "time", "version", "voters", "is_current")
    ):
        s = stations[station_id]
        s.history.append((time, version, voters))
        if current:
            s.current[time] = voters
    schema = election.protocol_schema()
    role = schema.roles["participants"]
    lines: dict[int, dict[str, int]] = defaultdict(dict)
    for station_id, code, value in ProtocolValue.objects.filter(
        protocol__election=election,
        protocol__is_current=True,
        protocol__status__in=counted_statuses(public),
        code__in=sorted(role.names),
    ).values_list("protocol__station_id", "code", "value"):
        lines[station_id][code] = value
    for station_id, values in lines.items():
        stations[station_id].final = int(schema.role("participants", values))
    return list(stations.values())


@dataclass(frozen=True)
class Report:
    """The flags of one election, with the stations they are about."""

    election: Election
    settings: Settings
    flags: list[Flag]
    stations: dict[str, StationTurnout]
    units: dict[int, Unit]

    def counts(self) -> dict[str, int]:
        found = Counter(f.kind for f in self.flags)
        return {kind: found.get(kind, 0) for kind in KINDS}

    def stations_flagged(self, kind: str | None = None) -> set[str]:
        return {f.station for f in self.flags if kind is None or f.kind == kind}


_cache: dict[tuple[int, Any, bool, Settings], tuple[int, Report]] = {}
_lock = threading.Lock()


def anomalies(
    election: Election, settings: Settings = Settings(), *, public: bool = False
) -> Report:
    """The election's flags, reused while the ledger head has not moved."""
    head = ledger_head()
    # created_at: a re-imported election may get the id of the one it replaced
    key = (election.pk, election.created_at, public, settings)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == head:
            return hit[1]
    stations = load(election, public=public)
    report = Report(
        election,
        settings,
        find_anomalies(stations, list(election.turnout_times), settings),
        {s.code: s for s in stations},
        {u.id: u for u in Unit.objects.filter(election=election)},
    )
    with _lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = (head, report)
    return report


def settings_from(jump: float | None, k: float | None) -> Settings:
    """Settings from request parameters (None: the default), refused outside (0, 100]."""
    defaults = Settings()
    jump = defaults.jump_points if jump is None else jump
    k = defaults.k if k is None else k
    if not 0 < jump <= 100:
        raise IntakeError(
            "invalid_value", "jump: between 0 and 100 points", status=400, field="jump"
        )
    if not 0 < k <= 100:
        raise IntakeError("invalid_value", "k: between 0 and 100", status=400, field="k")
    return Settings(jump_points=jump, k=k)


def visible(
    report: Report,
    area: Territory,
    kind: str | None,
    unit_path: str | None,
) -> list[Flag]:
    """The flags of stations in ``area`` (and under ``unit_path``), of one kind or all."""
    if kind is not None and kind not in KINDS:
        raise IntakeError(
            "invalid_value",
            f"kind: one of {', '.join(KINDS)}",
            status=400,
            field="kind",
        )
    out = []
    for f in report.flags:
        s = report.stations[f.station]
        if not area.covers(s.id, s.unit_path):
            continue
        if kind is not None and f.kind != kind:
            continue
        if unit_path is not None and not s.unit_path.startswith(unit_path):
            continue
        out.append(f)
    return out


CSV_COLUMNS = (
    "station",
    "name",
    "unit",
    "registered",
    "kind",
    "time",
    "value",
    "threshold",
    "message",
)


def to_csv(report: Report, flags: Iterable[Flag] | None = None) -> str:
    """The flags as CSV (docs/formats.md conventions), one row per flag."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in report.flags if flags is None else flags:
        s = report.stations[f.station]
        unit = report.units.get(s.unit_id)
        writer.writerow(
            [
                f.station,
                s.name,
                unit.code if unit else "",
                s.registered,
                f.kind,
                f.time,
                f"{f.value:g}",
                f"{f.threshold:g}",
                f.message,
            ]
        )
    return out.getvalue()
