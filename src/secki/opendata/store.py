"""The open-data app's hand-written SQL (docs/architecture.md, "Persistence"): the big read
of a full export, a row per line per station, as plain rows without per-row ORM conversion;
and the one-snapshot read of the transparency log's publisher (:func:`snapshot`), a reader's
transaction that holds no writer back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from django.db import connection, transaction

from secki import rawsql
from secki.protocols.models import Protocol, ProtocolStatus, ProtocolValue

_VALUES = (
    "SELECT p.station_id, v.code, v.value "  # noqa: S608 - table names from the models
    f"FROM {ProtocolValue._meta.db_table} v JOIN {Protocol._meta.db_table} p "
    "ON p.id = v.protocol_id "
    "WHERE p.election_id = %s AND p.is_current = %s AND p.status = %s"
)


#: rows fetched at a time: a national read is tens of millions of rows, never held at once
FETCH = 20_000


def published_values(
    election_id: int, station_ids: Sequence[int] | None = None
) -> Iterator[tuple[int, str, int]]:
    """(station id, line code, value) of every line of the current published protocols of the
    election (of ``station_ids`` only, when given), streamed from a server-side cursor on
    PostgreSQL. The cursor lives in a transaction of its own: behind a transaction pooler
    (PgBouncer) a cursor outside one may be fetched from another server connection, which
    does not have it ("portal does not exist"); Django's DISABLE_SERVER_SIDE_CURSORS guards
    its querysets' cursors, not this one."""
    sql = _VALUES
    params: list[int | str] = [election_id, True, ProtocolStatus.PUBLISHED]
    if station_ids is not None:
        sql += f" AND p.station_id IN ({', '.join(['%s'] * len(station_ids))})"
        params += station_ids
    with snapshot(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH):  # bigint: int on both databases
            yield from rows


@contextlib.contextmanager
def snapshot() -> Iterator[None]:
    """A transaction in which every read sees one committed state of the database.

    On PostgreSQL its isolation level is REPEATABLE READ (the snapshot is taken at its first
    statement; psycopg begins it with ``BEGIN ISOLATION LEVEL REPEATABLE READ``), so that
    reads that follow one another (the log's size, then the tabulation) see no commit made
    between them. On SQLite a transaction sees one state already (WAL) from its first read:
    it is begun ``DEFERRED``, a reader's, not in the settings' ``IMMEDIATE`` mode, which would
    take the one writer's lock (waiting for the writes in progress, then holding every write
    back until it ends). Nothing may be written in it. Inside a transaction that is already
    open (a test's), it is a savepoint of that one, which sees what it sees.
    """
    if connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    connection.close_if_health_check_failed()  # a kept connection's check, before BEGIN
    connection.ensure_connection()
    if rawsql.vendor() != "postgresql":
        # (the attribute of Django's SQLite wrapper, set from the settings when it connects)
        mode = connection.transaction_mode  # type: ignore[attr-defined]
        connection.transaction_mode = "DEFERRED"  # type: ignore[attr-defined]
        try:
            with transaction.atomic():
                yield
        finally:
            connection.transaction_mode = mode  # type: ignore[attr-defined]
        return
    from psycopg import IsolationLevel

    raw = connection.connection
    previous = raw.isolation_level
    raw.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        with transaction.atomic():
            yield
    finally:
        if not raw.closed:
            raw.isolation_level = previous
