"""Every validation rule of a turnout report: the error code, and nothing stored."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from secki.accounts.access import AccessDenied
from secki.elections.models import Election, ElectionStatus
from secki.errors import IntakeError
from secki.ledger.chain import verify
from secki.ledger.models import LedgerEntry
from secki.tlog.entries import format_time
from secki.turnout.actions import deadline, is_late, parse_voters, report_turnout
from secki.turnout.models import TurnoutReport
from tests.logcheck import check_log
from tests.turnout.conftest import People, counts, load_register, station

pytestmark = pytest.mark.django_db


def at(election: Election, hhmm: str, minutes: int = 0) -> dt.datetime:
    return dt.datetime.combine(
        election.date, dt.time.fromisoformat(hhmm), tzinfo=election.tz
    ) + dt.timedelta(minutes=minutes)


def report(
    election: Election, code: str, time: str, voters: int, actor: Any, **kw: Any
) -> TurnoutReport:
    kw.setdefault("received_at", at(election, time, 5))
    return report_turnout(election, station(election, code), time, voters, actor=actor, **kw)


def test_a_report_is_stored_and_logged(election: Election, people: People) -> None:
    saved = report(election, "1-1", "10:00", 150, people.clerk, source="form")
    assert (saved.voters, saved.version, saved.is_current, saved.late) == (150, 1, True, False)
    assert saved.created_by == people.clerk and saved.source == "form" and saved.reason == ""
    stored = TurnoutReport.objects.get(pk=saved.pk)
    assert (stored.station.code, stored.time, stored.voters, stored.version) == (
        "1-1",
        "10:00",
        150,
        1,
    )
    assert stored.received_at == at(election, "10:00", 5) and stored.created_by == people.clerk
    assert (stored.is_current, stored.late, stored.source) == (True, False, "form")
    entry = LedgerEntry.objects.order_by("-seq").first()
    assert entry is not None and entry.kind == "turnout.reported"
    assert (entry.subject, entry.version) == ("turnout:1-1@10:00", 1)
    assert json.loads(entry.body) == {
        "kind": "turnout.reported",
        "election": election.slug,
        "station": "1-1",
        "time": "10:00",
        "voters": 150,
        "version": 1,
        "prev": None,
        "reported_at": format_time(at(election, "10:00", 5)),
    }
    assert verify().ok
    check_log(election)


def test_a_correction_is_a_new_version_with_its_reason(election: Election, people: People) -> None:
    first = report(election, "1-1", "10:00", 150, people.clerk)
    second = report(election, "1-1", "10:00", 160, people.clerk, reason="typo on the phone")
    first.refresh_from_db()
    assert not first.is_current and first.voters == 150
    assert (second.version, second.is_current, second.reason) == (2, True, "typo on the phone")
    first_entry, entry = LedgerEntry.objects.filter(subject="turnout:1-1@10:00").order_by("index")
    body = json.loads(entry.body)
    assert entry.kind == "turnout.reported" and (body["version"], body["voters"]) == (2, 160)
    assert body["prev"] == {"index": first_entry.index, "leaf_hash": first_entry.leaf_hash}
    assert body["reason"] == "typo on the phone"
    check_log(election)
    assert TurnoutReport.objects.filter(station__code="1-1", time="10:00").count() == 2


def test_the_allowance_is_the_ceiling(election: Election, people: People) -> None:
    # 1,000 registered + 5 % additional lists = 1,050 is allowed
    assert report(election, "1-1", "10:00", 1050, people.clerk).voters == 1050


# (reports made first, the refused report, expected code)
REFUSALS = [
    ("unknown_time", [], ("1-1", "11:00", 100, {})),
    ("unknown_time_format", [], ("1-1", "10", 100, {})),
    ("negative_value", [], ("1-1", "10:00", -1, {})),
    ("above_registered", [], ("1-1", "10:00", 1051, {})),
    ("decreasing", [("1-1", "10:00", 150)], ("1-1", "12:00", 149, {})),
    ("decreasing_later", [("1-1", "12:00", 400)], ("1-1", "10:00", 401, {})),
    ("decreasing_final", [("1-1", "10:00", 150), ("1-1", "19:00", 700)], ("1-1", "15:00", 100, {})),
    ("duplicate", [("1-1", "10:00", 150)], ("1-1", "10:00", 150, {})),
    ("duplicate_with_reason", [("1-1", "10:00", 150)], ("1-1", "10:00", 150, {"reason": "again"})),
    ("reason_required", [("1-1", "10:00", 150)], ("1-1", "10:00", 151, {})),
    ("reason_blank", [("1-1", "10:00", 150)], ("1-1", "10:00", 151, {"reason": "   "})),
    ("reason_too_long", [("1-1", "10:00", 150)], ("1-1", "10:00", 151, {"reason": "x" * 501})),
]
CODES = {
    "unknown_time_format": "unknown_time",
    "decreasing_later": "decreasing",
    "decreasing_final": "decreasing",
    "duplicate_with_reason": "duplicate",
    "reason_blank": "reason_required",
}
STATUS = {
    "duplicate": 409,
    "duplicate_with_reason": 409,
    "reason_required": 409,
    "reason_blank": 409,
}


@pytest.mark.parametrize(("case", "before", "attempt"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_reports_store_nothing(
    election: Election,
    people: People,
    case: str,
    before: list[tuple[str, str, int]],
    attempt: tuple[str, str, int, dict[str, Any]],
) -> None:
    for code, time, voters in before:
        report(election, code, time, voters, people.cec)
    stored = counts()
    code, time, voters, kw = attempt
    with pytest.raises(IntakeError) as caught:
        report_turnout(
            election,
            station(election, code),
            time,
            voters,
            actor=people.cec,
            received_at=at(election, "10:00"),
            **kw,
        )
    assert caught.value.code == CODES.get(case, case)
    assert caught.value.status == STATUS.get(case, 422)
    assert counts() == stored
    assert TurnoutReport.objects.filter(is_current=True).count() == len(before)


def test_a_closed_election_takes_no_reports(election: Election, people: People) -> None:
    election.status = ElectionStatus.CLOSED
    election.save()
    stored = counts()
    with pytest.raises(IntakeError) as caught:
        report(election, "1-1", "10:00", 150, people.cec)
    assert (caught.value.code, caught.value.status) == ("election_closed", 409)
    assert counts() == stored
    assert TurnoutReport.objects.count() == 0


def test_a_station_of_another_election_is_refused(
    election: Election, people: People, tmp_path: Path
) -> None:
    other = load_register(tmp_path / "other", slug="otherland-2024")
    stored = counts()
    with pytest.raises(IntakeError) as caught:
        report_turnout(election, station(other, "1-1"), "10:00", 150, actor=people.cec)
    assert caught.value.code == "other_election"
    assert counts() == stored


@pytest.mark.parametrize(
    ("who", "code", "expected"),
    [
        ("outsider", "1-1", "forbidden_role"),
        ("observer", "1-1", "forbidden_role"),
        ("clerk", "1-2", "forbidden_territory"),
        ("north", "2-1", "forbidden_territory"),
    ],
)
def test_role_and_territory(
    election: Election, people: People, who: str, code: str, expected: str
) -> None:
    stored = counts()
    with pytest.raises(AccessDenied) as caught:
        report(election, code, "10:00", 100, getattr(people, who))
    assert caught.value.code == expected
    assert counts() == stored


def test_anonymous_is_refused(election: Election) -> None:
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(AccessDenied) as caught:
        report(election, "1-1", "10:00", 100, AnonymousUser())
    assert caught.value.code == "not_authenticated"
    assert TurnoutReport.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("abc", "invalid_value"),
        ("1.5", "invalid_value"),
        (1.5, "invalid_value"),
        (True, "invalid_value"),
        (None, "invalid_value"),
        ("", "invalid_value"),
        ("1,234", "invalid_value"),
        ("²", "invalid_value"),
        ("1" * 5000, "value_too_large"),  # far above any count, and never converted
        ("-3", "negative_value"),
        (-3, "negative_value"),
    ],
)
def test_voters_must_be_a_whole_number(raw: Any, code: str) -> None:
    with pytest.raises(IntakeError) as caught:
        parse_voters(raw)
    assert (caught.value.code, caught.value.field) == (code, "voters")


def test_parse_voters_accepts_plain_numbers() -> None:
    assert parse_voters(" 431 ") == 431
    assert parse_voters(0) == 0
    assert parse_voters("0") == 0


def test_late_reports_are_accepted_and_marked(election: Election, people: People) -> None:
    on_time = report(election, "1-1", "10:00", 150, people.clerk, received_at=at(election, "11:59"))
    late = report(election, "1-1", "12:00", 400, people.clerk, received_at=at(election, "15:01"))
    assert (on_time.late, late.late) == (False, True)
    entry = LedgerEntry.objects.order_by("-seq").first()
    assert entry is not None  # the log says when it arrived
    assert json.loads(entry.body)["reported_at"] == format_time(at(election, "15:01"))


def test_the_last_report_time_is_late_an_hour_after_polls_close(election: Election) -> None:
    assert election.polls_close == dt.time(19, 0)
    assert deadline(election, "19:00") == at(election, "20:00")
    assert not is_late(election, "19:00", at(election, "19:14"))
    assert is_late(election, "19:00", at(election, "20:01"))
    assert deadline(election, "17:00") == at(election, "19:00")


def test_allowance_is_configurable(election: Election, people: People) -> None:
    election.turnout_allowance = Decimal("0")
    election.save()
    with pytest.raises(IntakeError) as caught:
        report(election, "1-1", "10:00", 1001, people.clerk)
    assert caught.value.code == "above_registered"
    assert report(election, "1-1", "10:00", 1000, people.clerk).voters == 1000
