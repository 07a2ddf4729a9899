"""Who may do what in an audit (only CEC administrators set up, enter the seed and start
rounds; only audit board members whose territory holds the station enter counts, two
different ones, blind) and bad input per field: a clear error naming it, nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from secki.accounts.access import AccessDenied
from secki.accounts.models import AuditRecord, Membership, Role
from secki.audits import actions
from secki.audits.models import Audit, BoardAssignment, CountEntry, Round, SeedCeremony
from secki.errors import IntakeError
from secki.ledger.models import LedgerEntry
from secki.simulator import SimulationConfig
from tests.audits.conftest import (
    SEED,
    WITNESSES,
    Imported,
    Paper,
    make_boards,
)

pytestmark = pytest.mark.django_db


SIMULATION = SimulationConfig(
    stations=60,
    seed=9,
    candidates=2,
    shares=(0.6, 0.4),
    constituencies=4,
    slug="audit-access",
)


def stored(election: Any) -> tuple[int, int, int, int, int, int]:
    return (
        Audit.objects.filter(election=election).count(),
        SeedCeremony.objects.filter(audit__election=election).count(),
        Round.objects.filter(audit__election=election).count(),
        CountEntry.objects.filter(task__round__audit__election=election).count(),
        LedgerEntry.objects.filter(election=election, kind__startswith="audit.").count(),
        AuditRecord.objects.filter(election=election, action__startswith="audit.").count(),
    )


@pytest.mark.parametrize("who", ["con1", "st11", "supervisor", "observer", "outsider"])
def test_only_the_administrator_sets_up_seeds_and_starts_rounds(sim: Imported, who: str) -> None:
    cec = sim.people["cec"].user
    other = sim.people[who].user
    before = stored(sim.election)
    with pytest.raises(AccessDenied):
        actions.create_audit(sim.election, actor=other, kind="macro", risk_limit="0.05")
    with pytest.raises(AccessDenied):
        actions.create_audit(sim.election, actor=None, kind="macro", risk_limit="0.05")
    assert stored(sim.election) == before
    audit = actions.create_audit(sim.election, actor=cec, kind="macro", risk_limit="0.05")
    with pytest.raises(AccessDenied):
        actions.enter_seed(audit, actor=other, seed=SEED, witnesses=WITNESSES)
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    boards = make_boards(sim)
    for user in (other, boards.first):
        with pytest.raises(AccessDenied):
            actions.start_round(audit, actor=user)
    assert not audit.rounds.exists()
    actions.start_round(audit, actor=cec)
    assert audit.rounds.count() == 1


def test_only_audit_boards_enter_counts_in_their_territory(sim: Imported) -> None:
    cec = sim.people["cec"].user
    audit = actions.create_audit(sim.election, actor=cec, kind="macro", risk_limit="0.05")
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    round_ = actions.start_round(audit, actor=cec)
    task = round_.tasks.select_related("row__station", "round__audit").first()
    assert task is not None
    count = Paper(sim.sim).station_count(task.row.station.code)
    before = stored(sim.election)
    for who in ("cec", "con1", "st11", "supervisor", "observer", "outsider"):
        with pytest.raises(AccessDenied) as denied:
            actions.enter_count(task, count, actor=sim.people[who].user)
        assert denied.value.code == "forbidden_role"
    superuser = get_user_model().objects.create_superuser("root-audit", password="pw")
    with pytest.raises(AccessDenied):
        actions.enter_count(task, count, actor=superuser)
    with pytest.raises(AccessDenied) as anonymous:
        actions.enter_count(task, count, actor=None)
    assert anonymous.value.code == "not_authenticated"
    # a board of another constituency
    elsewhere = next(
        u for u in sim.election.units.all() if not task.row.station.unit_path.startswith(u.path)
    )
    far = get_user_model().objects.create_user("board-far", password="pw")
    Membership.objects.create(
        user=far, election=sim.election, role=Role.AUDIT_BOARD, unit=elsewhere
    )
    with pytest.raises(AccessDenied) as outside:
        actions.enter_count(task, count, actor=far)
    assert outside.value.code == "forbidden_territory"
    assert stored(sim.election) == before
    # a board member of the right territory who is not assigned to the round's constituency
    boards = make_boards(sim)
    with pytest.raises(AccessDenied) as unassigned:
        actions.enter_count(task, count, actor=boards.first)
    assert unassigned.value.code == "not_assigned"
    assert stored(sim.election) == before
    boards.assign(round_)
    assert actions.enter_count(task, count, actor=boards.first) == "first"
    with pytest.raises(IntakeError) as same:
        actions.enter_count(task, count, actor=boards.first)
    assert same.value.code == "same_person"
    changed = dict(count, C1=count["C1"] + 1)
    assert actions.enter_count(task, changed, actor=boards.second) == "mismatch"
    task.refresh_from_db()
    assert task.agreed is None and task.entries.count() == 2
    # counted again: two fresh entries, kept beside the differing pair
    assert actions.enter_count(task, count, actor=boards.second) == "first"
    assert actions.enter_count(task, count, actor=boards.first) == "agreed"
    task.refresh_from_db()
    assert task.agreed == count and task.entries.count() == 4
    with pytest.raises(IntakeError) as done:
        actions.enter_count(task, count, actor=boards.first)
    assert done.value.code == "already_agreed"


SETUP_CASES = [
    ({"kind": "lottery"}, "kind"),
    ({"risk_limit": "abc"}, "risk_limit"),
    ({"risk_limit": "0"}, "risk_limit"),
    ({"risk_limit": "60 %"}, "risk_limit"),
    ({"risk_limit": True}, "risk_limit"),
    ({"contest": "x" * 201}, "contest"),
    ({"contest": "bad\x00"}, "contest"),
    ({"max_rounds": "0"}, "max_rounds"),
    ({"max_rounds": "three"}, "max_rounds"),
]


@pytest.mark.parametrize(("change", "field"), SETUP_CASES)
def test_bad_setup_names_the_field_and_stores_nothing(
    sim: Imported, change: dict[str, Any], field: str
) -> None:
    body: dict[str, Any] = {"kind": "macro", "risk_limit": "0.05", "contest": "President"}
    body.update(change)
    before = stored(sim.election)
    with pytest.raises(IntakeError) as refused:
        actions.create_audit(sim.election, actor=sim.people["cec"].user, **body)
    assert refused.value.field == field, refused.value.message
    assert stored(sim.election) == before


@pytest.mark.parametrize(
    ("seed", "witnesses", "field"),
    [
        ("1234", WITNESSES, "seed"),
        ("12345678901234567890x", WITNESSES, "seed"),
        (12345678901234567890, WITNESSES, "seed"),
        (SEED, ["only one"], "witnesses"),
        (SEED, "", "witnesses"),
        (SEED, [1, 2], "witnesses"),
        (SEED, ["a" * 201, "b"], "witnesses"),
    ],
)
def test_bad_seed_names_the_field_and_stores_nothing(
    sim: Imported, seed: Any, witnesses: Any, field: str
) -> None:
    cec = sim.people["cec"].user
    audit = actions.create_audit(sim.election, actor=cec, kind="bravo", risk_limit="0.05")
    before = stored(sim.election)
    with pytest.raises(IntakeError) as refused:
        actions.enter_seed(audit, actor=cec, seed=seed, witnesses=witnesses)
    assert refused.value.field == field
    assert stored(sim.election) == before
    audit.refresh_from_db()
    assert audit.status == "setup"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"C1": ""}, "votes.C1"),
        ({"C1": "-3"}, "votes.C1"),
        ({"C1": "1.5"}, "votes.C1"),
        ({"C2": 10_000_001}, "votes.C2"),
        ({"invalid": None}, "invalid"),
        ({"C9": 1}, "C9"),
    ],
)
def test_bad_station_count_names_the_field_and_stores_nothing(
    sim: Imported, change: dict[str, Any], field: str
) -> None:
    cec = sim.people["cec"].user
    audit = actions.create_audit(sim.election, actor=cec, kind="macro", risk_limit="0.05")
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    task = (
        actions.start_round(audit, actor=cec)
        .tasks.select_related("row__station", "round__audit")
        .first()
    )
    assert task is not None
    count: dict[str, Any] = Paper(sim.sim).station_count(task.row.station.code)
    count.update(change)
    boards = make_boards(sim)
    boards.assign(task.round)
    before = stored(sim.election)
    with pytest.raises(IntakeError) as refused:
        actions.enter_count(task, count, actor=boards.first)
    assert refused.value.field == field
    assert stored(sim.election) == before


def test_bad_ballot_entry_names_the_ballot(sim: Imported) -> None:
    cec = sim.people["cec"].user
    audit = actions.create_audit(sim.election, actor=cec, kind="bravo", risk_limit="0.1")
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    task = (
        actions.start_round(audit, actor=cec)
        .tasks.select_related("row__station", "round__audit")
        .first()
    )
    assert task is not None and task.ballots
    boards = make_boards(sim)
    boards.assign(task.round)
    good = {str(b): "C1" for b in task.ballots}
    first = str(task.ballots[0])
    for data, field in [
        ({k: v for k, v in good.items() if k != first}, f"ballot.{first}"),
        (dict(good, **{first: "C7"}), f"ballot.{first}"),
        (dict(good, **{"999999": "C1"}), "ballot.999999"),
    ]:
        with pytest.raises(IntakeError) as refused:
            actions.enter_count(task, data, actor=boards.first)
        assert refused.value.field == field
    assert not CountEntry.objects.filter(task=task).exists()
    assert actions.enter_count(task, dict(good, **{first: ""}), actor=boards.first) == "first"


def test_only_the_administrator_assigns_board_members_to_a_round(sim: Imported) -> None:
    """Only CEC administrators assign; only audit board members whose territory reaches the
    constituency are assigned; only the assigned members count there; bad input names the
    field and stores nothing."""
    cec = sim.people["cec"].user
    audit = actions.create_audit(sim.election, actor=cec, kind="macro", risk_limit="0.05")
    actions.enter_seed(audit, actor=cec, seed=SEED, witnesses=WITNESSES)
    round_ = actions.start_round(audit, actor=cec)
    task = round_.tasks.select_related("row__station", "round__audit").first()
    assert task is not None
    group = task.row.constituency
    boards = make_boards(sim)
    before = (stored(sim.election), BoardAssignment.objects.count())
    for who in ("con1", "st11", "supervisor", "observer", "outsider"):
        with pytest.raises(AccessDenied):
            actions.assign_board(
                round_, actor=sim.people[who].user, constituency=group, member=boards.first.username
            )
    with pytest.raises(AccessDenied):
        actions.assign_board(round_, actor=boards.first, constituency=group, member="board-a")
    elsewhere = next(
        u
        for u in sim.election.units.filter(kind="constituency")
        if not task.row.station.unit_path.startswith(u.path)
    )
    far = get_user_model().objects.create_user("board-far-2", password="pw")
    Membership.objects.create(
        user=far, election=sim.election, role=Role.AUDIT_BOARD, unit=elsewhere
    )
    for constituency, member, field, code in [
        ("", boards.first.username, "constituency", "missing_value"),
        ("no-such-unit", boards.first.username, "constituency", "unknown_constituency"),
        (group, "", "member", "missing_value"),
        (group, "nobody-here", "member", "unknown_member"),
        (group, sim.people["observer"].user.username, "member", "not_a_board_member"),
        (group, far.username, "member", "outside_territory"),
        (group, "bad\x00name", "member", "invalid_text"),
    ]:
        with pytest.raises(IntakeError) as refused:
            actions.assign_board(round_, actor=cec, constituency=constituency, member=member)
        assert (refused.value.field, refused.value.code) == (field, code), refused.value.message
    assert (stored(sim.election), BoardAssignment.objects.count()) == before
    assignment = actions.assign_board(
        round_, actor=cec, constituency=group, member=boards.first.username
    )
    with pytest.raises(IntakeError) as twice:
        actions.assign_board(round_, actor=cec, constituency=group, member=boards.first.username)
    assert twice.value.code == "already_assigned"
    record = AuditRecord.objects.filter(action="audit.board_assigned").latest("id")
    assert record.after == {"round": 1, "constituency": group, "member": boards.first.username}
    count = Paper(sim.sim).station_count(task.row.station.code)
    assert actions.enter_count(task, count, actor=boards.first) == "first"
    # the second member is not assigned: refused, nothing stored
    entries = CountEntry.objects.count()
    with pytest.raises(AccessDenied) as refused_count:
        actions.enter_count(task, count, actor=boards.second)
    assert refused_count.value.code == "not_assigned"
    assert CountEntry.objects.count() == entries
    # withdrawn: the first member can no longer count; the entry stays
    with pytest.raises(AccessDenied):
        actions.unassign_board(assignment, actor=boards.second)
    actions.unassign_board(assignment, actor=cec)
    assert AuditRecord.objects.filter(action="audit.board_unassigned").exists()
    with pytest.raises(AccessDenied):
        actions.enter_count(task, count, actor=boards.first)
    assert CountEntry.objects.filter(task=task).count() == 1
