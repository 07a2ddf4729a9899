"""Append to and verify the hash chain."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from secki.elections.models import Election
from secki.ledger import store
from secki.ledger.models import GENESIS, LedgerEntry


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def digest(data: Any) -> str:
    """SHA-256 of canonical JSON: how payloads refer to large records (protocol values)."""
    return hashlib.sha256(canonical(data).encode()).hexdigest()


def _lock_chain() -> None:
    """Take the chain's lock for the rest of the transaction (:func:`store.lock_chain`).

    The transaction then commits synchronously (the server's default, which nothing here
    turns off): PostgreSQL returns from COMMIT only once the commit record is flushed, and
    releases the lock and makes the rows visible only after that. So no answer goes out, and
    no other writer builds on an entry, before the fact is durable. The lock is held through
    the flush, and :mod:`secki.groupcommit` shares one transaction among concurrent requests.
    """
    store.lock_chain()


def ledger_head() -> int:
    """The sequence number of the public ledger's last entry (0 while it is empty): the key
    every cache of figures is checked against, since every public fact moves it."""
    return int(LedgerEntry.objects.aggregate(m=Max("seq"))["m"] or 0)


def _body(seq: int, at: dt.datetime, kind: str, slug: str | None, payload: Any) -> str:
    return canonical(
        {"seq": seq, "at": at.isoformat(), "kind": kind, "election": slug, "payload": payload}
    )


def _require_atomic(name: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"ledger.{name} must be called inside transaction.atomic()")


def append(kind: str, payload: dict[str, Any], election: Election | None = None) -> LedgerEntry:
    """Append one entry. Must run inside the transaction that makes the fact true, so that a
    fact and its log entry commit together or not at all."""
    _require_atomic("append")
    _write_deferred()  # entries recorded earlier in this transaction come first
    _lock_chain()
    seq, prev = store.head()
    seq += 1
    at = timezone.now()
    body = _body(seq, at, kind, election.slug if election else None, payload)
    return store.insert(
        seq=seq,
        election=election,
        at=at,
        kind=kind,
        body=body,
        prev_hash=prev,
        hash=entry_hash(prev, body),
    )


# -- deferred entries (group commit) ------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    kind: str
    payload: dict[str, Any]
    election: Election | None
    at: dt.datetime


_local = threading.local()


def record(kind: str, payload: dict[str, Any], election: Election | None = None) -> None:
    """Log a fact, like :func:`append`, when the caller does not need the entry back.

    Inside :func:`deferred` the entry is only noted and written with the others at the end of
    the block (one lock, one head read, one insert for the whole block); otherwise it is
    appended at once."""
    _require_atomic("record")
    pending: list[_Pending] | None = getattr(_local, "pending", None)
    if pending is None:
        append(kind, payload, election)
    else:
        pending.append(_Pending(kind, payload, election, timezone.now()))


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block (inside a transaction), :func:`record` only notes its entries; they are
    appended in order when the block ends normally, and dropped when it raises (the transaction
    is then rolled back anyway). Used by :mod:`secki.groupcommit`: the writes of several
    requests share one transaction, and taking the chain's lock only at the end keeps a batch
    from holding it while it waits for a station's lock (which another process's batch may hold
    while waiting for the chain)."""
    _require_atomic("deferred")
    if getattr(_local, "pending", None) is not None:
        raise RuntimeError("ledger.deferred blocks do not nest")
    _local.pending = []
    try:
        yield
        _write_deferred()
    finally:
        _local.pending = None


def _write_deferred() -> None:
    pending: list[_Pending] | None = getattr(_local, "pending", None)
    if not pending:
        return
    _lock_chain()
    seq, prev = store.head()
    entries = []
    for item in pending:
        seq += 1
        slug = item.election.slug if item.election else None
        body = _body(seq, item.at, item.kind, slug, item.payload)
        digest_ = entry_hash(prev, body)
        entries.append(
            LedgerEntry(
                seq=seq,
                election=item.election,
                at=item.at,
                kind=item.kind,
                body=body,
                prev_hash=prev,
                hash=digest_,
            )
        )
        prev = digest_
    store.insert_many(entries)
    pending.clear()


def append_many(items: list[tuple[str, dict[str, Any]]], election: Election | None = None) -> int:
    """Append many entries at once (bulk import): the same chain as one-by-one appends."""
    if not items:
        return 0
    _require_atomic("append_many")
    _write_deferred()
    _lock_chain()
    seq, prev = store.head()
    at = timezone.now()
    slug = election.slug if election else None
    rows: list[tuple[Any, ...]] = []
    for kind, payload in items:
        seq += 1
        body = _body(seq, at, kind, slug, payload)
        digest_ = entry_hash(prev, body)
        rows.append((seq, election.pk if election else None, at, kind, body, prev, digest_))
        prev = digest_
    store.write_many(rows)
    return len(rows)


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head: str
    problem: str | None = None
    seq: int | None = None


def _entries(batch: int = 5000) -> Iterator[LedgerEntry]:
    last = 0
    while True:
        rows = list(LedgerEntry.objects.filter(seq__gt=last).order_by("seq")[:batch])
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify() -> Verification:
    """Walk the chain from the start; the first broken entry is named."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for entry in _entries():
        label = f"entry #{entry.seq} ({entry.kind}, {entry.at.isoformat()})"
        if entry.seq != expected_seq:
            return Verification(
                False,
                checked,
                prev,
                f"entry #{expected_seq} is missing (next is #{entry.seq})",
                expected_seq,
            )
        if entry.prev_hash != prev:
            return Verification(
                False, checked, prev, f"{label}: previous-hash link broken", entry.seq
            )
        if entry_hash(prev, entry.body) != entry.hash:
            return Verification(
                False,
                checked,
                prev,
                f"{label}: hash does not match its content (altered)",
                entry.seq,
            )
        try:
            body = json.loads(entry.body)
        except json.JSONDecodeError:
            return Verification(False, checked, prev, f"{label}: body is not JSON", entry.seq)
        if (
            body.get("seq") != entry.seq
            or body.get("kind") != entry.kind
            or dt.datetime.fromisoformat(body["at"]) != entry.at
        ):
            return Verification(
                False,
                checked,
                prev,
                f"{label}: columns disagree with the hashed body (altered)",
                entry.seq,
            )
        prev = entry.hash
        expected_seq += 1
        checked += 1
    return Verification(True, checked, prev)
