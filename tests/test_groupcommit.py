"""Group commit (secki.groupcommit): concurrent writes of one process in one transaction.

Each test makes a batch form deterministically: the first request leads and runs alone, and
holds the lead until the others have queued behind it; they then run as one batch.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from secki import groupcommit, rawsql
from secki.api.idempotency import respond
from secki.api.models import IdempotencyRecord
from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.ledger.chain import verify
from secki.ledger.models import LedgerEntry
from secki.turnout.actions import report_turnout
from secki.turnout.models import TurnoutReport
from tests.logcheck import check_log
from tests.turnout.conftest import load_register

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def run_batched(
    first: Callable[[], Any], followers: list[Callable[[], Any]]
) -> list[tuple[str, Any]]:
    """Run the unit ``first`` as the leader, alone, holding the lead until every follower has
    queued behind it (in list order); then the followers run as one batch. A follower is a
    callable that calls ``groupcommit.run`` once (directly or through ``respond``). Each runs
    in its own thread. Returns ("ok", result) or ("error", exception) per call, leader first."""
    outcomes: list[tuple[str, Any]] = [("missing", None)] * (1 + len(followers))
    release = threading.Event()
    leading = threading.Event()

    def lead() -> Any:
        leading.set()
        assert release.wait(10)
        return first()

    def call(index: int, target: Callable[[], Any]) -> None:
        try:
            outcomes[index] = ("ok", target())
        except Exception as exc:
            outcomes[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(0, lambda: groupcommit.run(lead)))]
    threads[0].start()
    assert leading.wait(10)
    for index, follower in enumerate(followers, start=1):
        thread = threading.Thread(target=call, args=(index, follower))
        threads.append(thread)
        thread.start()
        _wait_for(functools.partial(queued, index))
    release.set()
    for thread in threads:
        thread.join(30)
    return outcomes


def batch(units: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """``units[0]`` leads alone, ``units[1:]`` run as one batch."""
    return run_batched(units[0], [functools.partial(groupcommit.run, u) for u in units[1:]])


def queued(count: int) -> bool:
    return len(groupcommit._queue) == count


@pytest.fixture
def setup(tmp_path: Path, django_user_model: Any) -> tuple[Election, Any]:
    election = load_register(tmp_path / "b")
    admin = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
    return election, admin


def reporter(
    election: Election, actor: Any, code: str, voters: int, reason: str = ""
) -> Callable[[], int]:
    station = Station.objects.select_related("unit").get(election=election, code=code)

    def unit() -> int:
        return report_turnout(election, station, "10:00", voters, actor=actor, reason=reason).voters

    return unit


def test_queued_writes_commit_together_with_one_ledger_segment(setup: Any) -> None:
    election, admin = setup
    before = dict(groupcommit.stats)
    codes = ["1-1", "1-2", "2-1", "2-2"]
    outcomes = batch([reporter(election, admin, c, 100 + i) for i, c in enumerate(codes)])
    assert outcomes == [("ok", 100), ("ok", 101), ("ok", 102), ("ok", 103)]
    assert groupcommit.stats["batches"] - before["batches"] == 1
    assert groupcommit.stats["grouped"] - before["grouped"] == 3
    assert groupcommit.stats["fallbacks"] == before["fallbacks"]
    stored = dict(TurnoutReport.objects.values_list("station__code", "voters"))
    assert stored == {"1-1": 100, "1-2": 101, "2-1": 102, "2-2": 103}
    entries = [json.loads(body)["station"] for body in turnout_bodies()]
    assert entries[-4:] == codes  # the batch's entries follow the leader's, in queue order
    assert verify().ok
    check_log(election)


def turnout_bodies() -> list[str]:
    return list(
        LedgerEntry.objects.filter(kind="turnout.reported")
        .order_by("seq")
        .values_list("body", flat=True)
    )


def test_a_report_and_its_correction_in_one_batch_make_one_chain(setup: Any) -> None:
    """Two drafts for one station in one batch: the correction's entry names the report's,
    which is not in the database yet when the batch's entries are built."""
    election, admin = setup
    outcomes = batch(
        [
            reporter(election, admin, "2-2", 50),
            reporter(election, admin, "1-1", 300),
            reporter(election, admin, "1-1", 310, reason="miscounted at the door"),
        ]
    )
    assert outcomes == [("ok", 50), ("ok", 300), ("ok", 310)]
    rows = list(LedgerEntry.objects.filter(subject="turnout:1-1@10:00").order_by("index"))
    first, correction = (json.loads(r.body) for r in rows)
    assert (first["version"], first["prev"], first["voters"]) == (1, None, 300)
    assert (correction["version"], correction["voters"]) == (2, 310)
    assert correction["prev"] == {"index": rows[0].index, "leaf_hash": rows[0].leaf_hash}
    assert correction["reason"] == "miscounted at the door"
    assert rows[1].version == 2 and rows[1].index == rows[0].index + 1
    check_log(election)


def test_two_reports_of_one_station_in_one_batch_see_each_other(setup: Any) -> None:
    election, admin = setup
    outcomes = batch(
        [
            reporter(election, admin, "2-2", 50),
            reporter(election, admin, "1-1", 300),
            reporter(election, admin, "1-1", 300),  # the same report again, same transaction
        ]
    )
    assert outcomes[:2] == [("ok", 50), ("ok", 300)]
    kind, error = outcomes[2]
    assert kind == "error" and isinstance(error, IntakeError) and error.code == "duplicate"
    assert TurnoutReport.objects.filter(station__code="1-1").count() == 1
    assert verify().ok


def test_a_batch_that_falls_back_applies_its_units_in_arrival_order(setup: Any) -> None:
    """The ordering contract: rolled back whole, a batch's units run alone in queue order, each
    in its own transaction (before the lead passes), so a later report of a station sees the
    earlier one on this path too."""
    election, admin = setup
    before = dict(groupcommit.stats)
    ran: list[str] = []

    def logged(name: str, unit: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            ran.append(name)
            return unit()

        return run

    outcomes = batch(
        [
            logged("lead", reporter(election, admin, "2-2", 50)),
            logged("a", reporter(election, admin, "1-1", 300)),
            logged("b", reporter(election, admin, "1-2", 9_999)),  # refused: the batch falls back
            logged("c", reporter(election, admin, "1-1", 200)),  # below 300 at the same hour
            logged("d", reporter(election, admin, "1-1", 300)),  # the first report again
        ]
    )
    assert groupcommit.stats["fallbacks"] - before["fallbacks"] == 1
    # the batch ran a..d (rolled back at b), then alone: a, b, c, d in that order
    assert ran == ["lead", "a", "b", "a", "b", "c", "d"]
    assert outcomes[:2] == [("ok", 50), ("ok", 300)]
    refusals = [o[1].code if o[0] == "error" else o for o in outcomes[2:]]
    # c after a: a lower count at the same hour is a correction without a reason; d repeats a
    assert refusals == ["above_registered", "reason_required", "duplicate"]
    assert dict(TurnoutReport.objects.values_list("station__code", "voters")) == {
        "2-2": 50,
        "1-1": 300,
    }
    assert verify().ok


def test_a_unit_that_raises_sends_the_whole_batch_back_to_run_alone(setup: Any) -> None:
    election, admin = setup
    before = dict(groupcommit.stats)
    entries = LedgerEntry.objects.count()
    outcomes = batch(
        [
            reporter(election, admin, "2-2", 50),
            reporter(election, admin, "1-1", 300),
            reporter(election, admin, "1-2", 9_999),  # above registered: refused, raises
            reporter(election, admin, "2-1", 400),
        ]
    )
    assert [o[0] for o in outcomes] == ["ok", "ok", "error", "ok"]
    assert isinstance(outcomes[2][1], IntakeError)
    assert outcomes[2][1].code == "above_registered"
    assert groupcommit.stats["fallbacks"] - before["fallbacks"] == 1
    assert groupcommit.stats["batches"] == before["batches"]
    stored = dict(TurnoutReport.objects.values_list("station__code", "voters"))
    assert stored == {"2-2": 50, "1-1": 300, "2-1": 400}  # each exactly once
    assert LedgerEntry.objects.count() - entries == 3
    assert verify().ok


def test_a_unit_that_spoils_the_transaction_quietly_is_not_committed_as_a_batch(
    setup: Any,
) -> None:
    election, admin = setup
    before = dict(groupcommit.stats)
    good = reporter(election, admin, "1-1", 300)

    def spoiler() -> int:
        with transaction.atomic(savepoint=False):
            result = reporter(election, admin, "1-2", 200)()
            transaction.set_rollback(True)  # without raising: alone, its block rolls back
        return result

    outcomes = batch([reporter(election, admin, "2-2", 50), good, spoiler])
    assert groupcommit.stats["fallbacks"] - before["fallbacks"] == 1
    assert outcomes[1] == ("ok", 300)
    # alone, the spoiler's own atomic block rolled its report back: nothing was stored for it
    # and the other unit of the batch was stored once
    stored = dict(TurnoutReport.objects.values_list("station__code", "voters"))
    assert stored == {"2-2": 50, "1-1": 300}
    assert verify().ok


def test_a_failure_after_the_commit_is_reported_not_retried(setup: Any) -> None:
    election, admin = setup

    def boom() -> None:
        raise RuntimeError("after commit")

    def with_callback() -> int:
        transaction.on_commit(boom)
        return reporter(election, admin, "1-2", 200)()

    outcomes = batch(
        [reporter(election, admin, "2-2", 50), reporter(election, admin, "1-1", 300), with_callback]
    )
    assert outcomes[0] == ("ok", 50)
    for kind, error in outcomes[1:]:
        assert kind == "error" and str(error) == "after commit"
    stored = dict(TurnoutReport.objects.values_list("station__code", "voters"))
    assert stored == {"2-2": 50, "1-1": 300, "1-2": 200}  # committed once, never run again
    assert verify().ok


@pytest.mark.parametrize("read_first", [False, True])
def test_the_same_idempotency_key_twice_in_one_batch_is_one_write(
    setup: Any, read_first: bool
) -> None:
    """Claimed before the work, or (``read_first``: the key's record read with the token,
    none found) stored with its answer after the log's entries: the second is the first answer
    replayed, and the second's work is not stored (the batch runs again alone)."""
    election, admin = setup
    factory = RequestFactory()
    before = dict(groupcommit.stats)

    def request(key: str) -> Any:
        made = factory.post(
            "/api/v1/x", data=b'{"n": 1}', content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
        )
        if read_first:  # as secki.api.lookups.caller_election_station leaves it
            made._secki_key_read = (key, None)
        return made

    def call(key: str, code: str, voters: int) -> Callable[[], Any]:
        def work() -> tuple[int, dict[str, Any]]:
            return 201, {"voters": reporter(election, admin, code, voters)()}

        def unit() -> Any:  # respond() calls groupcommit.run
            response = respond(request(key), admin, work, grouped=True)
            return (
                response.status_code,
                json.loads(response.content),
                response.has_header("Idempotent-Replayed"),
            )

        return unit

    outcomes = run_batched(
        reporter(election, admin, "2-2", 50), [call("k", "1-1", 300), call("k", "1-1", 300)]
    )
    answers: list[Any] = [o[1] for o in outcomes]
    assert answers[1] == (201, {"voters": 300}, False)
    assert answers[2] == (201, {"voters": 300}, True)  # the first answer, replayed
    assert TurnoutReport.objects.filter(station__code="1-1").count() == 1
    assert IdempotencyRecord.objects.get(key="k").status == 201
    # the second unit's key was found taken at the batch's end: the batch ran again alone
    assert groupcommit.stats["fallbacks"] - before["fallbacks"] == (1 if read_first else 0)
    assert verify().ok


def test_a_lone_request_runs_alone(setup: Any) -> None:
    election, admin = setup
    before = dict(groupcommit.stats)
    assert groupcommit.run(reporter(election, admin, "1-1", 10)) == 10
    assert groupcommit.stats["alone"] - before["alone"] == 1
    assert groupcommit.stats["batches"] == before["batches"]


def test_a_unit_that_takes_a_savepoint_runs_alone(setup: Any) -> None:
    """Rolling back to a savepoint would not take back a unit's deferred ledger entries."""
    election, admin = setup
    before = dict(groupcommit.stats)

    def with_savepoint() -> int:
        with transaction.atomic():  # nested in the batch's transaction: a savepoint
            return reporter(election, admin, "1-2", 200)()

    outcomes = batch(
        [
            reporter(election, admin, "2-2", 50),
            reporter(election, admin, "1-1", 300),
            with_savepoint,
        ]
    )
    assert outcomes == [("ok", 50), ("ok", 300), ("ok", 200)]
    assert groupcommit.stats["fallbacks"] - before["fallbacks"] == 1
    assert TurnoutReport.objects.count() == 3
    assert verify().ok


def test_a_batch_locks_its_stations_first_in_one_go(setup: Any) -> None:
    election, admin = setup
    stations = {s.code: s.pk for s in Station.objects.filter(election=election)}
    seen: list[bool] = []

    def locked_elsewhere(pk: int) -> bool:
        """Whether another connection finds the station row locked (PostgreSQL)."""
        result: list[bool] = []

        def probe() -> None:
            try:
                with transaction.atomic():
                    Station.objects.select_for_update(nowait=True).filter(pk=pk).exists()
                result.append(False)
            except DatabaseError:
                result.append(True)
            finally:
                connection.close()

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join(10)
        return result[0]

    def first() -> int:
        # in the batch's transaction, before its own unit ran: 2-1 is already locked
        if connection.vendor == "postgresql":
            seen.append(locked_elsewhere(stations["2-1"]))
        return reporter(election, admin, "1-1", 300)()

    outcomes = run_batched(
        reporter(election, admin, "2-2", 50),
        [
            functools.partial(groupcommit.run, first, locks=[(Station, stations["1-1"])]),
            functools.partial(
                groupcommit.run,
                reporter(election, admin, "2-1", 400),
                locks=[(Station, stations["2-1"])],
            ),
        ],
    )
    assert outcomes == [("ok", 50), ("ok", 300), ("ok", 400)]
    assert seen == ([True] if connection.vendor == "postgresql" else [])
    assert not rawsql._held()
    if connection.vendor == "postgresql":
        assert not locked_elsewhere(stations["2-1"])
    assert verify().ok


def test_switched_off_a_request_runs_at_once_in_its_own_transaction(
    setup: Any, settings: Any
) -> None:
    """SECKI_GROUP_COMMIT=0: a request does not queue behind another that is still running (as
    it would, on, behind the leader), and nothing is batched."""
    settings.SECKI_GROUP_COMMIT = False
    election, admin = setup
    before = dict(groupcommit.stats)
    inside, release = threading.Event(), threading.Event()
    second = reporter(election, admin, "1-2", 101)

    def held() -> int:
        inside.set()
        assert release.wait(10)
        return reporter(election, admin, "1-1", 100)()

    results: dict[str, Any] = {}
    done = threading.Event()

    def call(name: str, unit: Callable[[], int], finished: threading.Event | None) -> None:
        try:
            results[name] = groupcommit.run(unit)
        finally:
            connection.close()
            if finished is not None:
                finished.set()

    first = threading.Thread(target=call, args=("first", held, None))
    first.start()
    assert inside.wait(10)
    other = threading.Thread(target=call, args=("second", second, done))
    other.start()
    finished_while_held = done.wait(10)
    release.set()
    first.join(30)
    other.join(30)
    assert finished_while_held
    assert results == {"first": 100, "second": 101}
    assert groupcommit.stats == before
    assert not groupcommit._queue
    assert verify().ok
