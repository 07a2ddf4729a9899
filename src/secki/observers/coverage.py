"""Where observers are: every station's posted observers (current assignments to it), the
mobile teams whose unit holds it, and the observers present now (their last check-in there an
arrival), with counts by constituency. Counts only: no observer is named."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from secki.elections.models import Election, Station, Unit
from secki.observers.models import Assignment, CheckIn, CheckInKind


@dataclass(frozen=True)
class StationCover:
    station: Station
    posted: int
    mobile: int
    present: int

    @property
    def covered(self) -> bool:
        return self.posted + self.mobile > 0


@dataclass(frozen=True)
class UnitCover:
    unit: Unit | None
    stations: int
    covered: int
    present: int
    observers: int

    @property
    def without(self) -> int:
        return self.stations - self.covered


@dataclass(frozen=True)
class Coverage:
    stations: list[StationCover]
    units: list[UnitCover]
    total: UnitCover


def constituencies(election: Election) -> list[Unit]:
    """The units just below the root (the whole election's first level)."""
    roots = list(Unit.objects.filter(election=election, parent__isnull=True))
    return list(
        Unit.objects.filter(election=election, parent__in=roots).order_by("position", "code")
    )


def coverage(election: Election) -> Coverage:
    stations = list(
        Station.objects.filter(election=election).select_related("unit").order_by("code")
    )
    posted: Counter[int] = Counter()
    mobile_paths: list[str] = []
    for station_id, unit_path in Assignment.objects.filter(
        election=election, ended_at__isnull=True
    ).values_list("station_id", "unit__path"):
        if station_id is not None:
            posted[station_id] += 1
        elif unit_path is not None:
            mobile_paths.append(unit_path)
    last: dict[int, tuple[int, str]] = {}
    for accreditation_id, station_id, kind in (
        CheckIn.objects.filter(election=election)
        .order_by("at", "id")
        .values_list("accreditation_id", "station_id", "kind")
    ):
        last[accreditation_id] = (station_id, kind)
    present: Counter[int] = Counter(
        station_id for station_id, kind in last.values() if kind == CheckInKind.ARRIVAL
    )
    rows = [
        StationCover(
            s,
            posted[s.pk],
            sum(1 for p in mobile_paths if s.unit_path.startswith(p)),
            present[s.pk],
        )
        for s in stations
    ]
    tops = constituencies(election)
    sums: dict[int | None, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        top = next((u for u in tops if row.station.unit_path.startswith(u.path)), None)
        acc = sums[top.pk if top else None]
        acc[0] += 1
        acc[1] += int(row.covered)
        acc[2] += int(row.present > 0)
        acc[3] += row.posted
    units = [UnitCover(u, *sums[u.pk]) for u in tops if u.pk in sums]
    if None in sums:
        units.append(UnitCover(None, *sums[None]))
    total = UnitCover(
        None,
        len(rows),
        sum(1 for r in rows if r.covered),
        sum(1 for r in rows if r.present),
        sum(r.posted for r in rows),
    )
    return Coverage(rows, units, total)
