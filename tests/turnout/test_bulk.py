"""Bulk turnout files: the same validation as single reports, all rows or none."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from secki.accounts.access import AccessDenied
from secki.elections.models import Election
from secki.errors import IntakeError
from secki.ledger.chain import verify
from secki.ledger.models import LedgerEntry
from secki.turnout import bulk
from secki.turnout.actions import report_turnout
from secki.turnout.bulk import accept_csv
from secki.turnout.models import TurnoutReport
from tests.logcheck import bodies, check_log
from tests.turnout.conftest import People, counts, station

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["by code", "whole election"])
def lookup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test twice: a file's stations read by their codes (a small file), and read and
    locked by election (what a file naming more than WHOLE_ELECTION stations does)."""
    if request.param == "whole election":
        monkeypatch.setattr(bulk, "WHOLE_ELECTION", 0)


GOOD = (
    b"station,time,voters\n"
    b"1-1,10:00,150\n1-1,12:00,400\n1-2,10:00,90\n2-1,10:00,200\n2-2,12:00,100\n"
)


def test_a_file_is_stored_like_single_reports(election: Election, people: People) -> None:
    outcome = accept_csv(election, GOOD, actor=people.cec)
    assert (outcome.reported, outcome.corrected) == (5, 0)
    current = dict(
        TurnoutReport.objects.filter(is_current=True, time="10:00").values_list(
            "station__code", "voters"
        )
    )
    assert current == {"1-1": 150, "1-2": 90, "2-1": 200}
    kinds = list(LedgerEntry.objects.order_by("seq").values_list("kind", flat=True))
    assert kinds[-5:] == ["turnout.reported"] * 5
    last = LedgerEntry.objects.order_by("-seq").first()
    assert last is not None
    body = json.loads(last.body)
    assert (body["station"], body["time"], body["voters"]) == ("2-2", "12:00", 100)
    assert (body["version"], body["prev"]) == (1, None)
    assert verify().ok
    check_log(election)
    assert set(TurnoutReport.objects.values_list("source", flat=True)) == {"bulk"}


def test_corrections_need_a_reason_column(election: Election, people: People) -> None:
    report_turnout(election, station(election, "1-1"), "10:00", 150, actor=people.cec)
    outcome = accept_csv(
        election,
        b"station,time,voters,reason\n1-1,10:00,155,recount of the list\n1-1,12:00,400,\n",
        actor=people.cec,
    )
    assert (outcome.reported, outcome.corrected) == (1, 1)
    versions = list(
        TurnoutReport.objects.filter(station__code="1-1", time="10:00")
        .order_by("version")
        .values_list("version", "voters", "is_current", "reason")
    )
    assert versions == [(1, 150, False, ""), (2, 155, True, "recount of the list")]
    corrections = [b for b in bodies(election, "turnout.") if b["version"] == 2]
    assert len(corrections) == 1 and corrections[0]["reason"] == "recount of the list"
    check_log(election)


def test_one_bad_row_refuses_the_whole_file_and_names_every_bad_line(
    election: Election, people: People
) -> None:
    report_turnout(election, station(election, "2-1"), "10:00", 200, actor=people.cec)
    stored = counts()
    content = (
        b"station,time,voters\n"
        b"1-1,10:00,150\n"  # 2 fine
        b"9-9,10:00,10\n"  # 3 unknown station
        b"1-1,11:00,10\n"  # 4 unknown time
        b"1-2,10:00,900\n"  # 5 above 800 + 5 %
        b"1-1,12:00,100\n"  # 6 below line 2's 150 at 10:00
        b"1-1,10:00,150\n"  # 7 the same station and time again
        b"2-1,10:00,210\n"  # 8 changes a stored report without a reason
        b"2-2,10:00,abc\n"  # 9 not a number
        b"2-2,12:00,-4\n"  # 10 negative
        b"2-1,10:00,200\n"  # 11 the stored number again (and line 8's station/time)
    )
    with pytest.raises(IntakeError) as caught:
        accept_csv(election, content, actor=people.cec)
    assert caught.value.code == "invalid_file"
    assert caught.value.message.startswith("nothing was accepted: line 3: ")
    found = [(d["line"], d["code"]) for d in caught.value.details]
    assert found == [
        (3, "unknown_station"),
        (4, "unknown_time"),
        (5, "above_registered"),
        (6, "decreasing"),
        (7, "duplicate_row"),
        (8, "reason_required"),
        (9, "invalid_value"),
        (10, "negative_value"),
        (11, "duplicate"),
    ]
    assert counts() == stored


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"station,voters\n1-1,10\n", "missing column 'time'"),
        (b"station,time,voters,extra\n1-1,10:00,10,x\n", "unknown column 'extra'"),
        (b"station,time,voters,voters\n1-1,10:00,10,10\n", "appears twice"),
        (b"station,time,voters\n", "no rows"),
        (b"station,time,voters\n1-1,10:00\n", "line 2: 2 fields"),
        (b"\xff\xfestation", "not UTF-8"),
    ],
)
def test_a_malformed_file_is_refused(
    election: Election, people: People, content: bytes, fragment: str
) -> None:
    stored = counts()
    with pytest.raises(IntakeError) as caught:
        accept_csv(election, content, actor=people.cec)
    assert caught.value.code == "invalid_file"
    assert fragment in caught.value.message
    assert counts() == stored


def test_a_file_is_checked_against_the_uploaders_territory(
    election: Election, people: People
) -> None:
    stored = counts()
    with pytest.raises(AccessDenied) as caught:
        accept_csv(election, GOOD, actor=people.north)  # constituency 1 only; GOOD has 2-1
    assert caught.value.code == "forbidden_territory"
    assert counts() == stored
    own = b"station,time,voters\n1-1,10:00,150\n1-2,10:00,90\n"
    assert accept_csv(election, own, actor=people.north).total == 2


def test_the_statements_do_not_grow_with_the_rows(
    election: Election, people: People, django_assert_max_num_queries: Any
) -> None:
    """Validating and storing a file reads the stations and their reports in a fixed number
    of statements (a national file has a million rows)."""
    one = b"station,time,voters\n1-1,10:00,150\n"
    with CaptureQueriesContext(connection) as small:
        accept_csv(election, one, actor=people.cec)
    many = (
        b"station,time,voters,reason\n1-1,10:00,151,recount\n1-1,12:00,400,\n"
        b"1-2,10:00,90,\n1-2,12:00,95,\n2-1,10:00,200,\n2-2,12:00,100,\n2-2,15:00,120,\n"
    )
    with django_assert_max_num_queries(len(small.captured_queries) + 2):
        outcome = accept_csv(election, many, actor=people.cec)
    assert (outcome.reported, outcome.corrected) == (6, 1)
    check_log(election)
