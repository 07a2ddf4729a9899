"""The log's hand-written SQL (docs/architecture.md, "Persistence"): the log's lock, where it
ends, a subject's last entry, and the inserts of entries, one by one on the intake's hot path
(:mod:`secki.rawsql`) or many at once (:mod:`secki.dbcopy`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from secki import rawsql
from secki.dbcopy import write_rows
from secki.ledger.drafts import Last
from secki.ledger.models import LedgerEntry, LogFile

LOCK_KEY = 0x5EC41  # advisory lock id on PostgreSQL
COLUMNS = [
    "seq",
    "election_id",
    "index",
    "kind",
    "subject",
    "version",
    "body",
    "leaf_hash",
    "at",
]
#: how many subjects one statement of :func:`lasts` asks for
CHUNK = 500


def _table() -> str:
    return LedgerEntry._meta.db_table


def _index() -> str:
    return rawsql.db().ops.quote_name("index")


def lock_log() -> None:
    """Take the log's lock for the rest of the transaction: a transaction-level advisory lock
    on PostgreSQL, nothing on SQLite (which serialises writers itself)."""
    if rawsql.vendor() != "postgresql":
        return
    with rawsql.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def head(election_id: int, subject: str | None = None) -> tuple[int, int, Last | None]:
    """The last ``seq`` of all logs (0 when empty), the next leaf index of the election's log
    and (``subject`` given) that subject's :func:`last` entry, in one statement."""
    table, index = _table(), _index()
    last = (
        f"SELECT {index}, leaf_hash, version, kind, body FROM {table} "  # noqa: S608 - a model's own table name
        f"WHERE election_id = %s AND subject = %s AND version IS NOT NULL "
        f"ORDER BY {index} DESC LIMIT 1"
    )
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT h.s, h.i, l.* FROM (SELECT (SELECT MAX(seq) FROM {table}) AS s, "  # noqa: S608 - a model's own table name
            f"(SELECT MAX({index}) FROM {table} WHERE election_id = %s) AS i) h "
            f"LEFT JOIN ({last}) l ON 1 = 1",
            [election_id, election_id, subject or ""],
        )
        row = cursor.fetchone()
    assert row is not None
    found = None if row[2] is None else Last(int(row[2]), row[3], int(row[4]), row[5], row[6])
    return int(row[0] or 0), (-1 if row[1] is None else int(row[1])) + 1, found


def next_index(election_id: int) -> int:
    """The next leaf index of the election's log."""
    return head(election_id)[1]


def last(election_id: int, subject: str) -> Last | None:
    """The subject's last entry that has a version (one read of the (election, subject,
    index) index), or None."""
    table, index = _table(), _index()
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"SELECT {index}, leaf_hash, version, kind, body FROM {table} "  # noqa: S608 - a model's own table name
            f"WHERE election_id = %s AND subject = %s AND version IS NOT NULL "
            f"ORDER BY {index} DESC LIMIT 1",
            [election_id, subject],
        )
        row = cursor.fetchone()
    return None if row is None else Last(int(row[0]), row[1], int(row[2]), row[3], row[4])


def lasts(election_id: int, subjects: Iterable[str]) -> dict[str, Last]:
    """:func:`last` of many subjects (a bulk write's), by subject, in a few statements."""
    table, index = _table(), _index()
    wanted = sorted(set(subjects))
    found: dict[str, Last] = {}
    with rawsql.cursor() as cursor:
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT {index}, leaf_hash, version, kind, body, subject FROM {table} "  # noqa: S608 - a model's own table name
                f"WHERE election_id = %s AND version IS NOT NULL AND subject IN ({marks})",
                [election_id, *chunk],
            )
            for row in cursor.fetchall():
                current = found.get(row[5])
                if current is None or current.index < int(row[0]):
                    found[row[5]] = Last(int(row[0]), row[1], int(row[2]), row[3], row[4])
    return found


def insert(**fields: Any) -> LedgerEntry:
    """Insert one entry (``fields`` as for ``LedgerEntry.objects.create``) and return it."""
    return rawsql.insert(LedgerEntry, **fields)


def insert_many(entries: Sequence[LedgerEntry]) -> None:
    """Insert unsaved entries with one statement."""
    rawsql.insert_many(LedgerEntry, entries)


def write_many(rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert many entries as rows in :data:`COLUMNS` order (COPY on PostgreSQL)."""
    write_rows(LedgerEntry, COLUMNS, rows)


def save_files(files: Sequence[LogFile]) -> None:
    """Store files the entries name; a file stored already (same SHA-256) is kept as it is."""
    LogFile.objects.bulk_create(files, ignore_conflicts=True)
