"""The open-data app's hand-written SQL (docs/architecture.md, "Persistence"): the big read
of a full export, a row per line per station, as plain rows without per-row ORM conversion."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from secki.protocols.models import Protocol, ProtocolStatus, ProtocolValue

_VALUES = (
    "SELECT p.station_id, v.code, v.value "  # noqa: S608 - table names from the models
    f"FROM {ProtocolValue._meta.db_table} v JOIN {Protocol._meta.db_table} p "
    "ON p.id = v.protocol_id "
    "WHERE p.election_id = %s AND p.is_current = %s AND p.status = %s"
)


def published_values(
    election_id: int, station_ids: Sequence[int] | None = None
) -> list[tuple[int, str, int]]:
    """(station id, line code, value) of every line of the current published protocols of the
    election (of ``station_ids`` only, when given)."""
    sql = _VALUES
    params: list[int | str] = [election_id, True, ProtocolStatus.PUBLISHED]
    if station_ids is not None:
        sql += f" AND p.station_id IN ({', '.join(['%s'] * len(station_ids))})"
        params += station_ids
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[int, str, int]] = cursor.fetchall()  # bigint: int on both databases
    return rows
