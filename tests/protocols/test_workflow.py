"""The protocol state machine through the actions: double entry, reconciliation, amendment,
annulment, publication; history and the public log."""

from __future__ import annotations

from pathlib import Path

import pytest

from secki.errors import IntakeError
from secki.ledger.chain import verify
from secki.ledger.models import LedgerEntry
from secki.protocols import actions
from secki.protocols.models import Protocol, ProtocolEvent
from secki.results.rules import decide
from secki.results.tabulate import Tabulation
from tests.factories import write_small_bundle
from tests.logcheck import bodies, check_log
from tests.personas import make_personas
from tests.protocols.test_api import register_only
from tests.protocols.test_permissions import data

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    election = register_only(write_small_bundle(tmp_path))
    return election, make_personas(election)


def test_double_entry_equal_entries_are_accepted(setup) -> None:  # type: ignore[no-untyped-def]
    election, people = setup
    election.double_entry = True
    election.save()
    station = election.stations.get(code="1-1")
    first = actions.submit_protocol(election, station, data("1-1"), actor=people["st11"].user)
    assert first.protocol.status == "first_entry"
    assert Tabulation(election).result().totals.stations_reported == 0
    with pytest.raises(IntakeError) as same:
        actions.submit_protocol(election, station, data("1-1"), actor=people["st11"].user)
    assert same.value.code == "same_operator"
    second = actions.submit_protocol(election, station, data("1-1"), actor=people["con1"].user)
    assert second.protocol.pk == first.protocol.pk
    assert second.protocol.status == "published"
    assert Tabulation(election).result().totals.stations_reported == 1
    assert list(
        ProtocolEvent.objects.filter(protocol=second.protocol).values_list("kind", flat=True)
    ) == ["entry", "entry", "accepted"]
    # the first entry is a public fact without values; the second makes the protocol public
    logged = bodies(election, "protocol.")
    assert [(b["kind"], b.get("status")) for b in logged] == [
        ("protocol.status", "first_entry"),
        ("protocol.accepted", None),
    ]
    assert logged[1]["lines"] == data("1-1").values() and logged[1]["version"] == 1
    check_log(election)


def test_double_entry_differences_go_to_the_supervisor(setup) -> None:  # type: ignore[no-untyped-def]
    election, people = setup
    election.double_entry = True
    election.save()
    station = election.stations.get(code="1-1")
    actions.submit_protocol(election, station, data("1-1"), actor=people["st11"].user)
    outcome = actions.submit_protocol(
        election, station, data("1-1", L2=5), actor=people["con1"].user
    )
    assert outcome.protocol.status == "quarantined"
    assert outcome.protocol.quarantine_reason == "entries differ on L2"
    with pytest.raises(IntakeError) as busy:
        actions.submit_protocol(election, station, data("1-1"), actor=people["cec"].user)
    assert busy.value.code == "in_reconciliation"
    with pytest.raises(IntakeError) as no_reason:
        actions.resolve_protocol(
            outcome.protocol, data("1-1"), actor=people["supervisor"].user, reason=" "
        )
    assert no_reason.value.code == "reason_required"
    resolved = actions.resolve_protocol(
        outcome.protocol,
        data("1-1"),
        actor=people["supervisor"].user,
        reason="the paper says 3 in line 2",
    )
    assert resolved.protocol.status == "published"
    assert Tabulation(election).result().totals.lines["L2"] == 3
    assert ProtocolEvent.objects.filter(kind="resolved", reason__contains="paper").exists()
    assert [(b["kind"], b.get("status")) for b in bodies(election, "protocol.")] == [
        ("protocol.status", "first_entry"),
        ("protocol.status", "quarantined"),
        ("protocol.accepted", None),
    ]
    check_log(election)


def test_double_entry_hard_failure_is_quarantined_not_refused(setup) -> None:  # type: ignore[no-untyped-def]
    election, people = setup
    election.double_entry = True
    election.save()
    station = election.stations.get(code="1-1")
    bad = data("1-1", L14=1)
    actions.submit_protocol(election, station, bad, actor=people["st11"].user)
    outcome = actions.submit_protocol(election, station, bad, actor=people["con1"].user)
    assert outcome.protocol.status == "quarantined"
    assert "AZ-5" in outcome.protocol.quarantine_reason


def test_amend_and_annul_keep_every_version_and_leave_the_totals(setup) -> None:  # type: ignore[no-untyped-def]
    election, people = setup
    station = election.stations.get(code="1-1")
    actions.submit_protocol(election, station, data("1-1"), actor=people["cec"].user)
    for code in ("1-2", "2-1", "2-2"):
        actions.submit_protocol(
            election, election.stations.get(code=code), data(code), actor=people["cec"].user
        )
    before = Tabulation(election).result().totals.lines["L2"]
    with pytest.raises(IntakeError) as no_reason:
        actions.amend_protocol(station, data("1-1", L2=7), actor=people["con1"].user, reason="")
    assert no_reason.value.code == "reason_required"
    amended = actions.amend_protocol(
        station, data("1-1", L2=7), actor=people["con1"].user, reason="line 2 misread"
    )
    assert amended.protocol.version == 2
    assert Tabulation(election).result().totals.lines["L2"] == before + 4
    annulled = actions.annul_protocol(
        station, actor=people["cec"].user, decision_ref="CEC decision 41/7", reason="stuffing"
    )
    assert annulled.status == "annulled" and annulled.version == 3
    tab = Tabulation(election)
    assert tab.result().totals.stations_reported == 3
    assert tab.result().totals.lines["C1"] == 300 + 450 + 80
    versions = list(
        Protocol.objects.filter(station=station)
        .order_by("version")
        .values_list("version", "status", "is_current")
    )
    assert versions == [(1, "published", False), (2, "published", False), (3, "annulled", True)]
    with pytest.raises(IntakeError) as closed:
        actions.submit_protocol(election, station, data("1-1"), actor=people["cec"].user)
    assert closed.value.code == "annulled"
    logged = bodies(election, "protocol.")
    assert [b["kind"] for b in logged] == ["protocol.accepted"] * 4 + [
        "protocol.amended",
        "protocol.annulled",
    ]
    accepted, amendment, annulment = logged[0], logged[4], logged[5]
    assert amendment["version"] == 2 and amendment["lines"]["L2"] == 7
    assert amendment["reason"] == "line 2 misread"
    first = LedgerEntry.objects.get(
        election=election, kind="protocol.accepted", body__contains='"1-1"'
    )
    assert amendment["prev"] == {"index": first.index, "leaf_hash": first.leaf_hash}
    assert accepted["lines"] == data("1-1").values()
    assert annulment["version"] == 3
    assert annulment["prev"]["index"] == LedgerEntry.objects.get(kind="protocol.amended").index
    assert (annulment["decision"], annulment["reason"]) == ("CEC decision 41/7", "stuffing")
    assert "lines" not in annulment
    tally = check_log(election)
    assert "1-1" not in tally.stations and tally.stations_counted == 3
    assert verify().ok


def test_unpublished_protocols_count_for_staff_not_for_the_public(setup) -> None:  # type: ignore[no-untyped-def]
    election, people = setup
    election.auto_publish = False
    election.save()
    station = election.stations.get(code="1-1")
    outcome = actions.submit_protocol(election, station, data("1-1"), actor=people["cec"].user)
    assert outcome.protocol.status == "accepted"
    assert Tabulation(election, public=True).result().totals.stations_reported == 0
    assert Tabulation(election).result().totals.stations_reported == 1
    assert [b["kind"] for b in bodies(election, "protocol.")] == [
        "protocol.status"
    ]  # no values yet
    check_log(election)
    actions.publish_protocol(outcome.protocol, actor=people["supervisor"].user)
    assert Tabulation(election, public=True).result().totals.stations_reported == 1
    assert [b["kind"] for b in bodies(election, "protocol.")] == [
        "protocol.status",
        "protocol.accepted",
    ]
    check_log(election)
    # an amendment awaiting publication takes the station out of the public totals, and out
    # of the log's (an annulment that says why); its publication counts it again
    amended = actions.amend_protocol(
        station, data("1-1", L2=7), actor=people["cec"].user, reason="line 2 misread"
    )
    assert Tabulation(election, public=True).result().totals.stations_reported == 0
    withdrawn = bodies(election, "protocol.")[-1]
    assert withdrawn["kind"] == "protocol.annulled"
    assert withdrawn["reason"] == "superseded by version 2, accepted and not public"
    check_log(election)
    actions.publish_protocol(amended.protocol, actor=people["supervisor"].user)
    republished = bodies(election, "protocol.")[-1]
    assert republished["kind"] == "protocol.accepted" and republished["lines"]["L2"] == 7
    check_log(election)
    assert verify().ok


def test_win_rules(setup) -> None:  # type: ignore[no-untyped-def]
    election, people = setup
    for code in ("1-1", "1-2", "2-1"):
        actions.submit_protocol(
            election, election.stations.get(code=code), data(code), actor=people["cec"].user
        )
    national = Tabulation(election).result()
    outcome = decide(election, national)
    assert outcome.status == "pending" and outcome.provisional
    actions.submit_protocol(
        election, election.stations.get(code="2-2"), data("2-2"), actor=people["cec"].user
    )
    national = Tabulation(election).result()
    # A: 1330 of 2195 valid votes = 60.59 % > 50 %
    outcome = decide(election, national)
    assert outcome.status == "winner" and outcome.winner is not None
    assert outcome.winner.number == 1
    election.majority_base = "cast"  # valid + invalid = 2225: still a majority
    assert decide(election, Tabulation(election).result()).status == "winner"
    # make it a runoff: A 500 → 0 at 1-1 by amendment (830 of 1695 valid = 48.97 %)
    actions.amend_protocol(
        election.stations.get(code="1-1"),
        data("1-1", C1=0, L14=180, L13=175),
        actor=people["cec"].user,
        reason="recount",
    )
    election.majority_base = "valid"
    outcome = decide(election, Tabulation(election).result())
    assert outcome.status == "runoff"
    assert [c.number for c in outcome.runoff] == [1, 2]
    election.win_rule = "plurality"
    assert decide(election, Tabulation(election).result()).status == "winner"
    election.win_rule = "absolute_majority"
    for code in ("1-1", "1-2"):
        actions.annul_protocol(
            election.stations.get(code=code),
            actor=people["cec"].user,
            decision_ref=f"decision {code}",
        )
    assert decide(election, Tabulation(election).result()).status == "invalid"  # 2/4 > 2/5
    check_log(election)
