"""Group commit: the intake writes of concurrent requests of one process in one transaction.

Every accepted protocol or turnout report pays the same fixed price besides its own rows:
BEGIN, the log's lock, where the log ends, a log row, COMMIT and the wait for the WAL flush,
and the log's lock makes those steps one queue for the whole system. When a worker's
threads are all busy, :func:`run` lets them share it. The request that finds nobody leading
leads: it runs its own write (alone, as without this module) while the requests that arrive
meanwhile queue; the first of them then leads the queue as one batch, in one transaction on
its own connection: it locks the batch's stations with one statement in key order, runs each
unit, writes the rows the units deferred (:func:`at_end`: Idempotency-Key answers, protocol
events), their ledger entries (:func:`secki.ledger.chain.deferred`) and then the rows deferred
after them (:func:`after_log`: Idempotency-Key records with their answers) with one statement
each, commits, waits for the flush once, and only then is every request of the batch
answered.

``SECKI_GROUP_COMMIT=0`` turns this off: :func:`run` then calls its unit at once, in the
request's own thread and transaction, as if this module did not exist (concurrent requests
are then ordered by the station's row lock alone, as across processes);
bench/bench_protocols.py compares the two.

A unit of work must leave the transaction clean when it refuses (the intake actions write
nothing before their last refusal, and a refusal stored under an Idempotency-Key is a normal
answer). If any unit raises instead — a refusal that escapes, a database error, a deadlock
with another process's batch — leaves the transaction marked for rollback, or takes a
savepoint (rolling back to it would not take back its deferred rows), the whole batch is
rolled back and the leader then runs its units one by one, each in its own transaction, as if
there were no batching: nothing of the batch was committed or answered, so no outcome
changes. A failure after the commit is reported to every request of the batch and never
retried.

Ordering contract: within a process, units are applied in the order in which they entered
:func:`run` (their place in the queue), on every path. Only one thread leads at a time; a
batch runs its units in queue order in one transaction, and when it falls back the leader
runs them alone in that same order before it passes the lead on. So two requests for the
same station that reach one worker are applied in the order they arrived (the second sees
the first), never in the order the scheduler happens to wake threads. Requests that reach
different processes are concurrent: the station's row lock decides their order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import translation

from secki import observability, rawsql
from secki.ledger import chain

T = TypeVar("T")
Row = tuple[type[models.Model], int]

#: most units in one transaction (a worker has only a few threads; this bounds the wait)
MAX_BATCH = 32


class _Item:
    __slots__ = ("done", "error", "language", "lead", "locks", "result", "unit")

    def __init__(self, unit: Callable[[], Any], locks: Sequence[Row]) -> None:
        self.unit = unit
        self.locks = locks
        self.language = translation.get_language()
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.lead = False  # this request's thread runs the next batch


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
    # Called from a unit (already in the transaction), or group commit is off.
    if getattr(_local, "inside", False) or not settings.SECKI_GROUP_COMMIT:
        return unit()
    item = _Item(unit, locks)
    with _lock:
        _queue.append(item)
        observability.GROUP_COMMIT_QUEUE.set(len(_queue))
        lead = not _leading
        _leading = True
    if not lead:
        item.done.wait()
        lead = item.lead
    if lead:
        _lead()
    if item.error is not None:
        raise item.error
    result: T = item.result
    return result


def _alone(item: _Item) -> None:
    """Run one unit in its own transaction (the unit opens it), in the leader's thread."""
    _count("alone")
    try:
        item.result = _call(item)
    except Exception as exc:
        item.error = exc


def _call(item: _Item) -> Any:
    """The unit's result, computed in its request's language."""
    if item.language == translation.get_language():
        return item.unit()
    with translation.override(item.language):
        return item.unit()


def _drop_if_broken() -> None:
    """A database error in the batch (or in the previous unit) may have left this thread's
    connection unusable (the server restarted): close it, so that the next unit reconnects
    instead of failing on it too."""
    if (
        connection.connection is not None
        and connection.errors_occurred
        and not connection.in_atomic_block
        and not connection.is_usable()
    ):
        connection.close()


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
        observability.GROUP_COMMIT_QUEUE.set(len(_queue))
    _local.inside = True
    try:
        if len(batch) == 1:  # the leader's own unit, with nobody waiting: as without batching
            _alone(batch[0])
        elif not _run_batch(batch):
            # Rolled back whole: the same units one by one, each in its own transaction, in
            # queue order (the ordering contract), before anyone else may lead.
            for item in batch:
                _drop_if_broken()
                _alone(item)
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


def after_log(write: Callable[[list[Any]], None], row: Any) -> None:
    """As :func:`at_end`, but inside a batch written after its ledger entries (their lock
    taken), the last write before the commit: for rows whose insert may wait for another
    transaction (an Idempotency-Key's record, on its unique index), so that a transaction
    waiting there holds every lock it will take, and none waits for it."""
    pending: dict[Callable[[list[Any]], None], list[Any]] | None = getattr(
        _local, "after_log", None
    )
    if pending is None:
        write([row])
    else:
        pending.setdefault(write, []).append(row)


def _write_at_end(name: str = "at_end") -> None:
    pending: dict[Callable[[list[Any]], None], list[Any]] = getattr(_local, name)
    for write, rows in pending.items():
        write(rows)
    pending.clear()


def _run_batch(batch: list[_Item]) -> bool:
    """Run the batch as one transaction. False when it was rolled back whole (nothing of it
    was committed and no result stands): its units must then run alone."""
    committed = False

    def mark() -> None:
        nonlocal committed
        committed = True

    try:
        with transaction.atomic():
            transaction.on_commit(mark)  # runs first of the batch's commit callbacks
            _local.at_end, _local.after_log = {}, {}
            try:
                with (
                    rawsql.lock_rows(row for item in batch for row in item.locks),
                    chain.deferred(),
                ):
                    conn = transaction.get_connection()
                    for item in batch:
                        savepoints = conn.savepoint_state
                        item.result = _call(item)
                        # A rollback pending, or a savepoint taken (its rollback would not
                        # take back the unit's deferred writes): the batch is not committed.
                        if conn.needs_rollback or conn.savepoint_state != savepoints:
                            raise _Spoiled
                    _write_at_end()
                _write_at_end("after_log")  # after the ledger's entries
            finally:
                _local.at_end = _local.after_log = None
    except Exception as exc:
        if committed:  # the batch is in; a later step (a commit callback) failed
            for item in batch:
                item.error = exc
            return True
        _count("fallbacks")
        for item in batch:
            item.result = None
        return False
    _count("batches")
    _count("grouped", len(batch))
    return True
