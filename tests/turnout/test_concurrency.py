"""Two reports for one station at the same moment: the second is validated against the first.

Both requests are made to wait on the station's row lock (the test holds it), so both read
the station's current reports only after the other may have written: a reading taken before
the wait would let a decrease (or a second version 1) through.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.ledger.chain import verify
from secki.turnout.actions import report_turnout
from secki.turnout.models import TurnoutReport
from tests.turnout.conftest import load_register

pytestmark = pytest.mark.django_db(transaction=True)


def race(election: Election, actor: Any, reports: list[tuple[str, int]]) -> list[str]:
    """Submit ``reports`` (time, voters) for station 1-1 in parallel threads while the station
    row is locked, then release it; return each thread's outcome (``ok`` or an error code)."""
    station = Station.objects.get(election=election, code="1-1")
    outcomes: list[str] = []
    started = threading.Barrier(len(reports) + 1)

    def submit(time: str, voters: int) -> None:
        try:
            started.wait()
            report_turnout(election, station, time, voters, actor=actor)
            outcomes.append("ok")
        except IntakeError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=r) for r in reports]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            Station.objects.select_for_update().filter(pk=station.pk).values_list("pk").get()
        for t in threads:
            t.start()
        started.wait()
        threading.Event().wait(0.5)  # both are now waiting for the lock (PostgreSQL)
    for t in threads:
        t.join()
    return sorted(outcomes)


def test_a_decrease_cannot_slip_in_beside_a_later_report(
    tmp_path: Path, django_user_model: Any
) -> None:
    election = load_register(tmp_path / "b")
    admin = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
    # 600 at 10:00 and 500 at 12:00 cannot both stand: whichever comes second is refused
    assert race(election, admin, [("10:00", 600), ("12:00", 500)]) == ["decreasing", "ok"]
    assert TurnoutReport.objects.filter(station__code="1-1").count() == 1
    assert verify().ok


def test_the_same_report_twice_is_stored_once(tmp_path: Path, django_user_model: Any) -> None:
    election = load_register(tmp_path / "b")
    admin = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
    assert race(election, admin, [("10:00", 150), ("10:00", 150)]) == ["duplicate", "ok"]
    assert TurnoutReport.objects.filter(station__code="1-1").count() == 1
