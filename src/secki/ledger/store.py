"""The log's hand-written SQL (docs/architecture.md, "Persistence"): the log's lock, where it
ends, a subject's last entry, and the inserts of entries, one by one on the intake's hot path
(:mod:`secki.rawsql`) or many at once (:mod:`secki.dbcopy`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, NamedTuple

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


class Ends(NamedTuple):
    """Where the logs end, for a writer holding the log's lock (:func:`ends`)."""

    seq: int  #: the last ``seq`` of all logs (0 when empty)
    size: int  #: the election's log's size: the next leaf index
    lasts: dict[str, Last]  #: the subjects' :func:`last` entries (those that have one)


def ends(election_id: int, subjects: Collection[str] = ()) -> Ends:
    """:func:`head` of the election and :func:`lasts` of up to :data:`CHUNK` subjects, with
    one statement: the row of the last ``seq`` (one read of its unique index) and every
    versioned entry of the subjects (one range of the (election, subject, index) index
    each).

    The election's next index comes from that last row when it is the election's: the log's
    lock orders every write, each one taking the next ``seq`` and its election's next index,
    so an election's entries run in the same order by both (and the unique (election, index)
    constraint refuses a row that would break it). When the last row is another election's,
    a second statement reads the election's last index."""
    table, index = _table(), _index()
    wanted = sorted(set(subjects))
    if len(wanted) > CHUNK:
        raise ValueError(f"ends() takes at most {CHUNK} subjects, not {len(wanted)}")
    sql = (
        f"SELECT 0, h.seq, h.election_id, h.{index}, NULL, NULL, NULL, NULL "  # noqa: S608 - a model's own table name
        f"FROM (SELECT seq, election_id, {index} FROM {table} ORDER BY seq DESC LIMIT 1) h"
    )
    params: list[Any] = []
    if wanted:
        marks = ", ".join(["%s"] * len(wanted))
        sql += (
            f" UNION ALL SELECT 1, {index}, version, NULL, leaf_hash, kind, body, subject "  # noqa: S608 - a model's own table name
            f"FROM {table} WHERE election_id = %s AND version IS NOT NULL "
            f"AND subject IN ({marks})"
        )
        params = [election_id, *wanted]
    with rawsql.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    seq, next_index_ = 0, 0
    found: dict[str, Last] = {}
    other_election = False
    for row in rows:
        if row[0] == 0:
            seq = int(row[1])
            if int(row[2]) == election_id:
                next_index_ = int(row[3]) + 1
            else:
                other_election = True
            continue
        current = found.get(row[7])
        if current is None or current.index < int(row[1]):
            found[row[7]] = Last(int(row[1]), row[4], int(row[2]), row[5], row[6])
    if other_election:
        next_index_ = next_index(election_id)
    return Ends(seq, next_index_, found)


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


def insert_rows(rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert entries given as rows in :data:`COLUMNS` order with one statement (a
    group-commit batch's)."""
    rawsql.insert_rows(LedgerEntry, rows)


def write_many(rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert many entries as rows in :data:`COLUMNS` order (COPY on PostgreSQL)."""
    write_rows(LedgerEntry, COLUMNS, rows)


def save_files(files: Sequence[LogFile]) -> None:
    """Store files the entries name; a file stored already (same SHA-256) is kept as it is.

    On PostgreSQL each file's bytes go as one binary parameter bound on the server: a
    national register's ``stations.csv`` is hundreds of megabytes, which a query text with
    its bytes escaped inline (Django's client-side binding) would hold several times over."""
    if rawsql.vendor() != "postgresql":
        LogFile.objects.bulk_create(files, ignore_conflicts=True)
        return
    table = LogFile._meta.db_table
    with rawsql.cursor() as cursor:
        for file in files:
            cursor.execute(
                f"INSERT INTO {table} (sha256, name, content, created_at) "  # noqa: S608 - a model's own table name
                "VALUES (%s, %s, %b, %s) ON CONFLICT (sha256) DO NOTHING",
                [file.sha256, file.name, file.content, file.created_at],
            )
