"""The turnout app's hand-written SQL: the intake's hot path (:mod:`secki.rawsql`: statements
written once, prepared on PostgreSQL) behind named functions (docs/architecture.md,
"Persistence")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from secki import rawsql
from secki.elections.models import Station
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
