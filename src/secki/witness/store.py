"""The witness's state (docs/architecture.md, "Persistence"): its own SQLite file, with the
latest checkpoint it cosigned per origin and the log-signed submissions it refused.

Every statement of the witness is here; :mod:`secki.witness.server` calls these functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    origin TEXT PRIMARY KEY,
    origin_hash TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    old_size INTEGER NOT NULL,
    note TEXT NOT NULL,
    reason TEXT NOT NULL,
    refused_at INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class State:
    """What the witness last cosigned for an origin: size 0 and no root when nothing."""

    size: int
    root: bytes | None


NOTHING = State(0, None)


def origin_hash(origin: str) -> str:
    """Hex SHA-256 of the origin: the name of its monitoring path."""
    return hashlib.sha256(origin.encode()).hexdigest()


class Store:
    """The state file ``path`` (created with its tables if missing). Connections are opened
    per call in autocommit mode, with ``synchronous=FULL`` (a cosigned state survives a
    crash)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connection() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        return db

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            yield db
        finally:
            db.close()

    def read(self, origin: str) -> State:
        with self._connection() as db:
            row = db.execute(
                "SELECT size, root FROM checkpoints WHERE origin = ?", (origin,)
            ).fetchone()
        return NOTHING if row is None else State(int(row[0]), bytes(row[1]))

    def replace(
        self, origin: str, seen: State, size: int, root: bytes, note: str, at: int
    ) -> int | None:
        """Replace the state ``seen`` by (size, root, note) in one transaction (compare and
        store are one atomic step, §4.3); if the state is no longer ``seen``, leave it and
        return its size."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT size, root FROM checkpoints WHERE origin = ?", (origin,)
            ).fetchone()
            now = NOTHING if row is None else State(int(row[0]), bytes(row[1]))
            if now != seen:
                db.execute("ROLLBACK")
                return now.size
            if row is None:
                db.execute(
                    "INSERT INTO checkpoints (origin, origin_hash, size, root, note, cosigned_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (origin, origin_hash(origin), size, root, note, at),
                )
            else:
                changed = db.execute(
                    "UPDATE checkpoints SET size = ?, root = ?, note = ?, cosigned_at = ?"
                    " WHERE origin = ? AND size = ? AND root = ?",
                    (size, root, note, at, origin, seen.size, seen.root),
                ).rowcount
                if changed != 1:
                    raise sqlite3.IntegrityError(f"the state of {origin} changed under a lock")
            db.execute("COMMIT")
            return None
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def keep_refusal(self, origin: str, old_size: int, note: str, reason: str, at: int) -> None:
        with self._connection() as db:
            db.execute(
                "INSERT INTO refusals (origin, old_size, note, reason, refused_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (origin, old_size, note, reason, at),
            )

    def latest_note(self, hashed_origin: str) -> str | None:
        """The latest cosigned checkpoint note of the origin whose hex H(origin) is given."""
        with self._connection() as db:
            row = db.execute(
                "SELECT note FROM checkpoints WHERE origin_hash = ?", (hashed_origin,)
            ).fetchone()
        return None if row is None else str(row[0])

    def refusals(self) -> list[tuple[str, str, str]]:
        with self._connection() as db:
            rows = db.execute("SELECT origin, reason, note FROM refusals ORDER BY id").fetchall()
        return [(str(o), str(r), str(n)) for o, r, n in rows]
