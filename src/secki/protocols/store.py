"""The protocols app's hand-written SQL: every statement on its tables that the ORM does not
write, behind named functions (docs/architecture.md, "Persistence").

The single-protocol statements are the intake's hot path (:mod:`secki.rawsql`: written once,
prepared on PostgreSQL); the bulk ones load a whole file (:mod:`secki.dbcopy`: COPY on
PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from secki import rawsql
from secki.dbcopy import analyze, is_postgres, reserve_ids, write_rows
from secki.elections.models import Station
from secki.ledger.models import LedgerEntry
from secki.protocols.models import Protocol, ProtocolEvent, ProtocolValue

_VALUES = ProtocolValue._meta.db_table
#: the line values of the protocol inserted by the same statement (PostgreSQL:
#: :func:`secki.rawsql.insert`'s ``then``)
_VALUES_OF_NEW = (
    f"INSERT INTO {_VALUES} (protocol_id, code, value) "  # noqa: S608 - table name from the model
    "SELECT new.id, u.code, u.value FROM new, unnest(%s::text[], %s::bigint[]) AS u(code, value)"
)


def lock_station(station_id: int) -> None:
    """Serialise every change to one station's protocols and scans for the rest of the
    transaction; read the current protocol after this, in its own statement (see
    :func:`secki.rawsql.lock_row`)."""
    rawsql.lock_row(Station, station_id)


def current_protocol(station_id: int) -> Protocol | None:
    """The station's current protocol version, if any."""
    return rawsql.fetch_one(Protocol, "t.station_id = %s AND t.is_current", [station_id])


def insert_protocol(
    values: dict[str, int], events: Sequence[ProtocolEvent] = (), **fields: Any
) -> Protocol:
    """Insert one protocol version (``fields`` as for ``Protocol.objects.create``), its line
    values and its unsaved ``events`` (their protocol set to it; their ids are not read back);
    on PostgreSQL in one statement."""
    if rawsql.vendor() == "postgresql":
        return rawsql.insert(
            Protocol,
            then=[
                (_VALUES_OF_NEW, [list(values), list(values.values())]),
                *([rawsql.children(events, "protocol_id")] if events else []),
            ],
            **fields,
        )
    protocol = rawsql.insert(Protocol, **fields)
    insert_values(protocol.pk, values)
    for event in events:
        event.protocol = protocol
    insert_events(list(events))
    return protocol


def insert_values(protocol_id: int, values: dict[str, int]) -> None:
    """One protocol's line values in one statement (the hot path of every accept)."""
    if not values:
        return
    with rawsql.cursor() as cursor:
        if rawsql.vendor() == "postgresql":  # one statement text whatever the line count
            cursor.execute(
                f"INSERT INTO {_VALUES} (protocol_id, code, value) "  # noqa: S608 - table name from the model
                "SELECT %s, * FROM unnest(%s::text[], %s::bigint[])",
                [protocol_id, list(values), list(values.values())],
            )
            return
        params: list[Any] = []
        for code, value in values.items():
            params += (protocol_id, code, value)
        rows = ", ".join(["(%s, %s, %s)"] * len(values))
        cursor.execute(
            f"INSERT INTO {_VALUES} (protocol_id, code, value) VALUES {rows}",  # noqa: S608 - table name from the model
            params,
        )


def insert_events(events: list[ProtocolEvent]) -> None:
    """Unsaved events in one statement."""
    rawsql.insert_many(ProtocolEvent, events)


# -- a station's page -------------------------------------------------------------------------


def station_versions(election_id: int, code: str) -> tuple[Station, list[Protocol]] | None:
    """The station ``code`` of the election and every version of its protocol, oldest first,
    in one statement (None: no such station)."""
    station, protocol = rawsql.columns(Station), rawsql.columns(Protocol)
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT {station.select('s')}, {protocol.select('p')} "  # noqa: S608 - model metadata
            f"FROM {station.table} s LEFT JOIN {protocol.table} p ON p.station_id = s.id "
            "WHERE s.election_id = %s AND s.code = %s ORDER BY p.version",
            [election_id, code],
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    found = station.build(rows[0])
    width = len(station)
    key = width + protocol.attnames.index("id")
    return found, [protocol.build(row, width) for row in rows if row[key] is not None]


def station_values(station_id: int) -> dict[int, dict[str, int]]:
    """Protocol id → {line code: value} of every version of the station's protocol."""
    found: dict[int, dict[str, int]] = {}
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT v.protocol_id, v.code, v.value FROM {_VALUES} v "  # noqa: S608 - table names from the models
            f"JOIN {Protocol._meta.db_table} p ON p.id = v.protocol_id WHERE p.station_id = %s",
            [station_id],
        )
        for protocol_id, line, value in cursor.fetchall():
            found.setdefault(protocol_id, {})[line] = value
    return found


def station_events(station_id: int) -> list[ProtocolEvent]:
    """Every event of the station's protocol versions, in the order they happened."""
    events = rawsql.columns(ProtocolEvent)
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT {events.select('t')} FROM {events.table} t "  # noqa: S608 - model metadata
            "WHERE t.station_id = %s ORDER BY t.id",
            [station_id],
        )
        return [events.build(row) for row in cursor.fetchall()]


# -- bulk (file upload, bundle import) ---------------------------------------------------------

PROTOCOL_COLUMNS = [
    "id",
    "election_id",
    "station_id",
    "version",
    "is_current",
    "status",
    "source",
    "completed_at",
    "received_at",
    "created_by_id",
    "checks",
    "soft_failures",
    "quarantine_reason",
    "reason",
    "decision_ref",
]
EVENT_COLUMNS = [
    "election_id",
    "station_id",
    "protocol_id",
    "kind",
    "actor_id",
    "at",
    "old",
    "new",
    "reason",
]


def insert_protocols(protocols: list[Protocol], batch_size: int) -> list[Protocol]:
    """Insert unsaved protocols and return them with their ids: COPY with ids taken from the
    sequence on PostgreSQL, ``bulk_create`` in batches of ``batch_size`` on SQLite."""
    if not is_postgres():
        return Protocol.objects.bulk_create(protocols, batch_size=batch_size)
    for protocol, pk in zip(protocols, reserve_ids(Protocol, len(protocols)), strict=True):
        protocol.pk = pk
    fields = {f.column: f for f in Protocol._meta.concrete_fields}
    attnames = [fields[c].attname for c in PROTOCOL_COLUMNS]
    write_rows(
        Protocol,
        PROTOCOL_COLUMNS,
        ([getattr(p, name) for name in attnames] for p in protocols),
    )
    return protocols


def write_values(rows: Iterable[tuple[int, str, int]]) -> None:
    """Line values as (protocol id, code, value) rows."""
    write_rows(ProtocolValue, ["protocol_id", "code", "value"], rows)


def write_events(rows: Iterable[tuple[Any, ...]]) -> None:
    """Events as rows in :data:`EVENT_COLUMNS` order."""
    write_rows(ProtocolEvent, EVENT_COLUMNS, rows)


def analyze_after_load() -> None:
    """Refresh the planner's statistics of the tables a bulk load filled (see
    :func:`secki.dbcopy.analyze`)."""
    analyze(Protocol, ProtocolValue, ProtocolEvent, LedgerEntry, Station)
