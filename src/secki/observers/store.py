"""The observers app's hand-written SQL (docs/architecture.md, "Persistence"): the official
line values of every current counted protocol, read as plain rows for the comparison with the
observers' copies (one statement; the ORM's per-row work was most of the table's time)."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

from secki import rawsql
from secki.observers.models import ChecklistForm, ProtocolCopy
from secki.protocols.models import Protocol, ProtocolValue

_OFFICIAL = """
SELECT p.station_id, v.code, v.value
  FROM {values} v
  JOIN {protocols} p ON p.id = v.protocol_id
 WHERE p.election_id = %s AND p.is_current = %s AND p.status IN ({statuses})
"""


def checklist_form(election_id: int, code: str) -> ChecklistForm | None:
    """The election's checklist with this code (one prepared statement: every answer reads it)."""
    return rawsql.fetch_one(
        ChecklistForm, "t.election_id = %s AND t.code = %s", [election_id, code]
    )


def has_copies(station_id: int) -> bool:
    """Whether an observers' organisation holds a current copy of the station's protocol."""
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {ProtocolCopy._meta.db_table} "  # noqa: S608 - table name from the model
            "WHERE station_id = %s AND is_current = %s LIMIT 1",
            [station_id, True],
        )
        return cursor.fetchone() is not None


def official_values(
    election_id: int, statuses: Sequence[str], station_id: int | None = None
) -> dict[int, dict[str, int]]:
    """Station id → {line code: value} of its current protocol with one of ``statuses`` (of
    every station, or of ``station_id`` only)."""
    sql = _OFFICIAL.format(
        values=ProtocolValue._meta.db_table,
        protocols=Protocol._meta.db_table,
        statuses=", ".join(["%s"] * len(statuses)),
    )
    params: list[int | str | bool] = [election_id, True, *statuses]
    if station_id is not None:
        sql += " AND p.station_id = %s"
        params.append(station_id)
    out: dict[int, dict[str, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for station_id, code, value in cursor.fetchall():
            out[station_id][code] = value
    return out


# -- observers in the field: the check-in's and the checklist's reads in one statement ------

_HOLDER = """
SELECT s.id, s.code, s.unit_path, a.id, a.number, a.organisation_id, a.valid_from,
       a.valid_until, a.revoked_at, u.path, p.station_id, pu.path
  FROM {station} s
  LEFT JOIN {accreditation} a ON a.election_id = s.election_id AND a.account_id = %s
  LEFT JOIN {unit} u ON u.id = a.unit_id
  LEFT JOIN {assignment} p ON p.accreditation_id = a.id AND p.ended_at IS NULL
  LEFT JOIN {unit} pu ON pu.id = p.unit_id
 WHERE s.election_id = %s AND s.code = %s
 ORDER BY a.number
"""


@dataclass(frozen=True)
class Held:
    """One of the caller's accreditations in the election, with its current post."""

    id: int
    number: str
    organisation_id: int
    valid_from: dt.date
    valid_until: dt.date
    revoked: bool
    unit_path: str | None
    post_station_id: int | None
    post_unit_path: str | None


@dataclass(frozen=True)
class Where:
    """A station named by its code, and the caller's accreditations (none: not an observer)."""

    station_id: int
    station_code: str
    unit_path: str
    held: list[Held]


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


@functools.cache
def _holder_sql() -> str:
    from secki.elections.models import Station, Unit
    from secki.observers.models import Accreditation, Assignment

    return _HOLDER.format(
        station=Station._meta.db_table,
        accreditation=Accreditation._meta.db_table,
        unit=Unit._meta.db_table,
        assignment=Assignment._meta.db_table,
    )


def where(election_id: int, account_id: int | None, code: str) -> Where | None:
    """The station ``code`` of the election and the accreditations ``account_id`` holds there
    (with their territory and current post), or None when there is no such station."""
    with rawsql.cursor() as cursor:
        cursor.execute(_holder_sql(), [account_id, election_id, code])
        rows = cursor.fetchall()
    if not rows:
        return None
    first = rows[0]
    held = [
        Held(
            r[3],
            r[4],
            r[5],
            _date(r[6]),
            _date(r[7]),
            r[8] is not None,
            r[9],
            r[10],
            r[11],
        )
        for r in rows
        if r[3] is not None
    ]
    return Where(first[0], first[1], first[2], held)
