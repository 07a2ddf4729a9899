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
