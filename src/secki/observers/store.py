"""The observers app's hand-written SQL (docs/architecture.md, "Persistence"): the official
line values of every current counted protocol, read as plain rows for the comparison with the
observers' copies (one statement; the ORM's per-row work was most of the table's time)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db import connection

from secki.protocols.models import Protocol, ProtocolValue

_OFFICIAL = """
SELECT p.station_id, v.code, v.value
  FROM {values} v
  JOIN {protocols} p ON p.id = v.protocol_id
 WHERE p.election_id = %s AND p.is_current = %s AND p.status IN ({statuses})
"""


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
