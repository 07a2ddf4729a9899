"""Group commit: the intake writes of concurrent requests of one process in one transaction.

Every accepted protocol or turnout report pays the same fixed price besides its own rows:
BEGIN, the chain's lock, the chain head, a ledger row, COMMIT and the wait for the WAL flush,
and the chain's lock makes those steps one queue for the whole system. When a worker's
threads are all busy, :func:`run` lets them share it. The request that finds nobody leading
leads: it runs its own write (alone, as without this module) while the requests that arrive
meanwhile queue; the first of them then leads the queue as one batch, in one transaction on
its own connection: it locks the batch's stations with one statement in key order, runs each
unit, writes the rows the units deferred (:func:`at_end`: Idempotency-Key answers, protocol
events) and their ledger entries (:func:`secki.ledger.chain.deferred`) with one statement
each, commits, waits for the flush once, and only then is every request of the batch
answered. Measured on 2 cores (bench/bench_protocols.py, bench/bench_turnout.py), batches
averaged 2 to 2.5 requests (4 threads per worker) and throughput rose by a quarter to a
third.

A unit of work must leave the transaction clean when it refuses (the intake actions write
nothing before their last refusal, and a refusal stored under an Idempotency-Key is a normal
answer). If any unit raises instead — a refusal that escapes, a database error, a deadlock
with another process's batch — leaves the transaction marked for rollback, or takes a
savepoint (rolling back to it would not take back its deferred rows), the whole batch is
rolled back and every request of it runs alone, in its own thread and transaction, as if
there were no batching: nothing of the batch was committed or answered, so no outcome
changes. A failure after the commit is reported to every request of the batch and never
retried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import models, transaction
from django.utils import translation

from secki import rawsql
from secki.ledger import chain

T = TypeVar("T")
Row = tuple[type[models.Model], int]

#: most units in one transaction (a worker has only a few threads; this bounds the wait)
MAX_BATCH = 32


class _Item:
    __slots__ = ("alone", "done", "error", "language", "lead", "locks", "result", "unit")

    def __init__(self, unit: Callable[[], Any], locks: Sequence[Row]) -> None:
        self.unit = unit
        self.locks = locks
        self.language = translation.get_language()
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.lead = False  # this request's thread runs the next batch
        self.alone = False  # run it in its own transaction


class _Spoiled(Exception):
    """A unit left the transaction marked for rollback, or used a savepoint."""


_lock = threading.Lock()
_queue: list[_Item] = []
_leading = False
#: batches run and units in them, since the process started (read by the tests)
stats = {"batches": 0, "grouped": 0, "alone": 0, "fallbacks": 0}


def run(unit: Callable[[], T], *, locks: Sequence[Row] = ()) -> T:
    """Run ``unit`` (database writes ending in the ledger) and return its result, possibly in
    one transaction with the units of other threads of this process.

    ``locks``: the rows (model, primary key) the unit will lock with
    :func:`secki.rawsql.lock_row`; a batch locks all of its units' rows first, with one
    statement and in a fixed order."""
    global _leading
    if getattr(_local, "inside", False):  # called from a unit: already in the transaction
        return unit()
    item = _Item(unit, locks)
    with _lock:
        _queue.append(item)
        lead = not _leading
        _leading = True
    if not lead:
        item.done.wait()
        lead = item.lead
    if lead:
        _lead()
    if item.alone:
        return _alone(unit)
    if item.error is not None:
        raise item.error
    result: T = item.result
    return result


def _alone(unit: Callable[[], T]) -> T:
    _count("alone")
    return unit()


def _count(name: str, n: int = 1) -> None:
    with _lock:
        stats[name] += n


def _lead() -> None:
    """Run one batch from the head of the queue (it starts with the leader's own unit), then
    pass the lead to the next queued request, if any."""
    global _leading
    with _lock:
        batch = _queue[:MAX_BATCH]
        del _queue[:MAX_BATCH]
    _local.inside = True
    try:
        if len(batch) == 1:  # the leader's own unit, with nobody waiting: as without batching
            try:
                batch[0].result = _alone(batch[0].unit)
            except Exception as exc:
                batch[0].error = exc
        else:
            _execute(batch)
    finally:
        _local.inside = False
        with _lock:
            if _queue:
                _queue[0].lead = True
                _queue[0].done.set()
            else:
                _leading = False
        for item in batch:
            item.done.set()


_local = threading.local()


def at_end(write: Callable[[list[Any]], None], row: Any) -> None:
    """``write([row])`` now; inside a batch, once at its end with the rows of every unit that
    asked (in order), still inside the transaction and before the ledger entries. For writes
    whose rows nothing reads back before the commit (Idempotency-Key answers, protocol
    events)."""
    pending: dict[Callable[[list[Any]], None], list[Any]] | None = getattr(_local, "at_end", None)
    if pending is None:
        write([row])
    else:
        pending.setdefault(write, []).append(row)


def _write_at_end() -> None:
    pending: dict[Callable[[list[Any]], None], list[Any]] = _local.at_end
    for write, rows in pending.items():
        write(rows)
    pending.clear()


def _execute(batch: list[_Item]) -> None:
    committed = False

    def mark() -> None:
        nonlocal committed
        committed = True

    try:
        with transaction.atomic():
            transaction.on_commit(mark)  # runs first of the batch's commit callbacks
            with (
                rawsql.lock_rows(row for item in batch for row in item.locks),
                chain.deferred(),
            ):
                _local.at_end = {}
                try:
                    conn = transaction.get_connection()
                    for item in batch:
                        savepoints = conn.savepoint_state
                        if item.language == translation.get_language():
                            item.result = item.unit()
                        else:
                            with translation.override(item.language):
                                item.result = item.unit()
                        # A rollback pending, or a savepoint taken (its rollback would not
                        # take back the unit's deferred writes): the batch is not committed.
                        if conn.needs_rollback or conn.savepoint_state != savepoints:
                            raise _Spoiled
                    _write_at_end()
                finally:
                    _local.at_end = None
    except Exception as exc:
        if committed:  # the batch is in; a later step (the wait for the flush) failed
            for item in batch:
                item.error = exc
            return
        _count("fallbacks")
        for item in batch:
            item.result = None
            item.alone = True
        return
    _count("batches")
    _count("grouped", len(batch))
