"""The results app's hand-written SQL (docs/architecture.md, "Persistence"): the tabulation's
one statement over the counted protocols, and the state a public page's ETag is made of."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection

from secki.elections.models import Election, Station
from secki.ledger.models import LedgerEntry
from secki.protocols.models import Protocol, ProtocolValue

_REPORTED = "#reported"
_REGISTERED = "#registered"
_SUMS = """
SELECT s.unit_id, v.code, SUM(v.value)
  FROM {values} v
  JOIN {protocols} p ON p.id = v.protocol_id
  JOIN {stations} s ON s.id = p.station_id
 WHERE p.election_id = %s AND p.is_current = %s AND p.status IN ({statuses})
 GROUP BY s.unit_id, v.code
UNION ALL
SELECT s.unit_id, %s, COUNT(*)
  FROM {protocols} p JOIN {stations} s ON s.id = p.station_id
 WHERE p.election_id = %s AND p.is_current = %s AND p.status IN ({statuses})
 GROUP BY s.unit_id
UNION ALL
SELECT s.unit_id, %s, SUM(s.registered)
  FROM {protocols} p JOIN {stations} s ON s.id = p.station_id
 WHERE p.election_id = %s AND p.is_current = %s AND p.status IN ({statuses})
 GROUP BY s.unit_id
"""


@dataclass
class UnitSums:
    """Sums over the counted protocols of the stations one unit holds directly."""

    lines: dict[str, int] = field(default_factory=dict)
    stations: int = 0  # stations with a counted protocol
    registered: int = 0  # their registered voters


def counted_sums(election_id: int, statuses: Sequence[str]) -> dict[int, UnitSums]:
    """Line sums, stations and registered voters of the current protocols with one of
    ``statuses``, by the unit holding the stations: one statement, so a reader never sees half
    of a protocol applied."""
    marks = ", ".join(["%s"] * len(statuses))
    sql = _SUMS.format(
        values=ProtocolValue._meta.db_table,
        protocols=Protocol._meta.db_table,
        stations=Station._meta.db_table,
        statuses=marks,
    )
    params: list[Any] = []
    for key in (None, _REPORTED, _REGISTERED):
        if key is not None:
            params.append(key)
        params += [election_id, True, *statuses]
    sums: dict[int, UnitSums] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for unit_id, key, total in cursor.fetchall():
            unit = sums.setdefault(unit_id, UnitSums())
            if key == _REPORTED:
                unit.stations = int(total)
            elif key == _REGISTERED:
                unit.registered = int(total)
            else:
                unit.lines[key] = int(total)
    return sums


class ElectionRow(NamedTuple):
    """The election's columns that its public pages depend on, as the database returns them
    (unconverted: only compared and printed into an ETag), read by name."""

    id: int
    created_at: object
    schema_revision: object
    name: object
    status: object
    simulated: object
    date: object
    turnout_times: object
    win_rule: object
    majority_base: object
    runoff_size: object
    invalid_station_share: object
    polls_close: object
    timezone: object
    publication: object
    publication_share: object
    publication_at: object


class ElectionState(NamedTuple):
    election: ElectionRow
    head: int  # the public ledger's last sequence number, 0 while it is empty


def election_state(slug: str) -> ElectionState | None:
    """The election's row and the ledger head in one round trip, without building ORM
    objects; None when there is no such election."""
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {', '.join('e.' + quote(name) for name in ElectionRow._fields)}, "  # noqa: S608 - model metadata
        f"(SELECT MAX(seq) FROM {LedgerEntry._meta.db_table}) "
        f"FROM {Election._meta.db_table} e WHERE e.slug = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [slug])
        row: tuple[Any, ...] | None = cursor.fetchone()
    if row is None:
        return None
    return ElectionState(ElectionRow(*row[:-1]), int(row[-1] or 0))
