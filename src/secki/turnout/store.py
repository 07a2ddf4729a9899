"""The turnout app's hand-written SQL: the intake's hot path (:mod:`secki.rawsql`: statements
written once, prepared on PostgreSQL) behind named functions (docs/architecture.md,
"Persistence")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from secki import rawsql
from secki.dbcopy import analyze, write_rows
from secki.elections.models import Station
from secki.ledger.models import LedgerEntry
from secki.turnout.models import TurnoutReport

_CURRENT = (
    "SELECT id, time, voters, version "  # noqa: S608 - table name from the model
    f"FROM {TurnoutReport._meta.db_table} WHERE station_id = %s AND is_current"
)


@dataclass(frozen=True)
class Current:
    """A station's current report at one time, as read under the station's lock."""

    id: int
    voters: int
    version: int


def lock_station(station_id: int) -> dict[str, Current]:
    """Lock the station's row for the rest of the transaction (reports of one station are
    validated and written one at a time) and return its current reports by time.

    The reports are read after the lock is taken, in their own statement (see
    :func:`secki.rawsql.lock_row`).
    """
    rawsql.lock_row(Station, station_id)
    with rawsql.cursor() as cursor:
        cursor.execute(_CURRENT, [station_id])
        rows = cursor.fetchall()
    return {time: Current(pk, voters, version) for pk, time, voters, version in rows}


def insert_report(**fields: Any) -> TurnoutReport:
    """Insert one report (``fields`` as for ``TurnoutReport.objects.create``) with one plain
    statement and return it saved."""
    return rawsql.insert(TurnoutReport, **fields)


class StationReport(NamedTuple):
    """A report as a station's page lists it."""

    time: str
    voters: int
    version: int
    is_current: bool
    late: bool
    reason: str


def station_reports(station_id: int) -> list[StationReport]:
    """Every report of the station, current and superseded, by time and version."""
    with rawsql.cursor() as cursor:
        cursor.execute(
            "SELECT time, voters, version, is_current, late, reason "  # noqa: S608 - table name from the model
            f"FROM {TurnoutReport._meta.db_table} WHERE station_id = %s ORDER BY time, version",
            [station_id],
        )
        return [
            StationReport(time, voters, version, bool(current), bool(late), reason)
            for time, voters, version, current, late, reason in cursor.fetchall()
        ]


def lock_stations(election_id: int, station_ids: Sequence[int] | None) -> None:
    """Lock stations' rows (all of the election's when ``station_ids`` is None) for the rest
    of the transaction, in key order, as :func:`lock_station` locks one."""
    rows = Station.objects.select_for_update().filter(election_id=election_id)
    if station_ids is not None:
        rows = rows.filter(pk__in=station_ids)
    for _ in rows.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=10_000):
        pass


def current_reports(
    election_id: int, station_ids: Sequence[int] | None
) -> dict[int, dict[str, Current]]:
    """The current reports of stations (all of the election's when ``station_ids`` is None)
    by station id and report time, as plain tuples (a national file reads millions)."""
    rows = TurnoutReport.objects.filter(election_id=election_id, is_current=True)
    if station_ids is not None:
        rows = rows.filter(station_id__in=station_ids)
    found: dict[int, dict[str, Current]] = {}
    for pk, station_id, time, voters, version in rows.values_list(
        "pk", "station_id", "time", "voters", "version"
    ).iterator(chunk_size=10_000):
        found.setdefault(station_id, {})[time] = Current(pk, voters, version)
    return found


#: the columns of :func:`write_reports`' rows
REPORT_COLUMNS = (
    "election_id",
    "station_id",
    "time",
    "voters",
    "version",
    "is_current",
    "received_at",
    "late",
    "source",
    "reason",
    "created_by_id",
)


def write_reports(rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert many reports given in :data:`REPORT_COLUMNS` order (COPY on PostgreSQL)."""
    write_rows(TurnoutReport, REPORT_COLUMNS, rows)


def analyze_after_load() -> None:
    """Refresh the planner's statistics after a bulk load (:func:`secki.dbcopy.analyze`)."""
    analyze(TurnoutReport, LedgerEntry)
