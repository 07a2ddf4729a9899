"""The ledger's hand-written SQL (docs/architecture.md, "Persistence"): the chain's lock, its
head, and the inserts of entries, one by one on the intake's hot path (:mod:`secki.rawsql`)
or many at once (:mod:`secki.dbcopy`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from secki import rawsql
from secki.dbcopy import write_rows
from secki.ledger.models import GENESIS, LedgerEntry

LOCK_KEY = 0x5EC41  # advisory lock id on PostgreSQL
COLUMNS = ["seq", "election_id", "at", "kind", "body", "prev_hash", "hash"]


def lock_chain() -> None:
    """Take the chain's lock for the rest of the transaction: a transaction-level advisory
    lock on PostgreSQL, nothing on SQLite (which serialises writers itself)."""
    if rawsql.vendor() != "postgresql":
        return
    with rawsql.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def head() -> tuple[int, str]:
    """(seq, hash) of the last entry, or (0, GENESIS)."""
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT seq, hash FROM {LedgerEntry._meta.db_table} ORDER BY seq DESC LIMIT 1"  # noqa: S608 - a model's own table name
        )
        row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def insert(**fields: Any) -> LedgerEntry:
    """Insert one entry (``fields`` as for ``LedgerEntry.objects.create``) and return it."""
    return rawsql.insert(LedgerEntry, **fields)


def insert_many(entries: list[LedgerEntry]) -> None:
    """Insert unsaved entries with one statement."""
    rawsql.insert_many(LedgerEntry, entries)


def write_many(rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert many entries as rows in :data:`COLUMNS` order (COPY on PostgreSQL)."""
    write_rows(LedgerEntry, COLUMNS, rows)
