"""Audit tests: simulated elections imported through the real bundle import (one per module,
rolled back at the module's end: the ``sim`` fixture imports the module's ``SIMULATION``), the
people of an audit (two board members, assigned by the CEC administrator to the
constituencies of each round they count), and the paper the boards count — the simulator's
protocols before fraud injection (``sim.clean``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from secki.accounts.models import Membership, Role
from secki.audits import actions
from secki.audits.models import Audit, BoardAssignment, Round, RoundKind, Task
from secki.simulator import SimulationConfig
from secki.simulator.model import SimulatedElection
from tests.integrity.conftest import Imported, fresh_caches, import_simulated, module_transaction

__all__ = ["Imported", "fresh_caches", "import_simulated", "module_transaction"]

SEED = "31415926535897932384"
WITNESSES = ["Aysel Mammadova (observer)", "Rashad Aliyev (party agent)"]


@pytest.fixture(autouse=True)
def no_caches() -> None:
    from secki.results import tabulate

    tabulate._cache.clear()


@pytest.fixture(scope="module")
def sim(
    request: Any, django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Imported]:
    """The module's ``SIMULATION`` (a :class:`SimulationConfig`) imported once for its tests."""
    config: SimulationConfig = request.module.SIMULATION
    with module_transaction(django_db_blocker):
        yield import_simulated(tmp_path_factory.mktemp(config.slug), config)


@dataclass
class Boards:
    first: Any
    second: Any
    admin: Any  # the CEC administrator who assigns them

    def assign(self, round_: Round) -> None:
        """Assign both members to every constituency of ``round_`` they are not assigned to."""
        groups = set(round_.tasks.values_list("row__constituency", flat=True))
        for group in sorted(groups):
            for member in (self.first, self.second):
                if not BoardAssignment.objects.filter(
                    round=round_, constituency=group, member=member
                ).exists():
                    actions.assign_board(
                        round_, actor=self.admin, constituency=group, member=member.username
                    )


def make_boards(imported: Imported) -> Boards:
    """Two members of an election-wide audit board."""
    users = get_user_model().objects
    out = []
    for name in ("board-a", "board-b"):
        username = f"{name}-{imported.election.slug}"
        user = users.filter(username=username).first()
        if user is None:
            user = users.create_user(username=username, password="pw")
            Membership.objects.create(user=user, election=imported.election, role=Role.AUDIT_BOARD)
        out.append(user)
    return Boards(out[0], out[1], imported.people["cec"].user)


class Paper:
    """What the ballot boxes hold: the simulated protocols before fraud injection."""

    def __init__(self, sim: SimulatedElection) -> None:
        codes = sim.station_codes()
        clean = sim.clean
        self.index = {c: i for i, c in enumerate(codes)}
        self.votes = clean.votes
        self.invalid = clean["L15a"] + clean["L15b"]
        self.candidates = [f"C{n}" for n in range(1, clean.votes.shape[1] + 1)]

    def station_count(self, code: str) -> dict[str, int]:
        i = self.index[code]
        out = {c: int(self.votes[i, j]) for j, c in enumerate(self.candidates)}
        out["invalid"] = int(self.invalid[i])
        return out

    def ballot(self, code: str, number: int) -> str:
        """Ballot ``number`` of the box: the candidates' ballots in order, then the invalid
        ones; past the last ballot nothing (a ballot that is not there)."""
        i = self.index[code]
        k = number - 1
        for j, c in enumerate(self.candidates):
            if k < int(self.votes[i, j]):
                return c
            k -= int(self.votes[i, j])
        return ""


def count_round(audit: Audit, paper: Paper, boards: Boards) -> None:
    """Both board members enter every open task of the audit's last round from the paper."""
    round_ = audit.rounds.order_by("-number").first()
    assert round_ is not None
    ballots = round_.kind == RoundKind.SAMPLE and audit.kind == "bravo"
    boards.assign(round_)
    for task in Task.objects.filter(round=round_, agreed__isnull=True).select_related(
        "row__station", "round__audit"
    ):
        code = task.row.station.code
        if ballots:
            data: dict[str, Any] = {str(b): paper.ballot(code, b) for b in task.ballots}
        else:
            data = paper.station_count(code)
        assert actions.enter_count(task, data, actor=boards.first) == "first"
        assert actions.enter_count(task, data, actor=boards.second) == "agreed"
    audit.refresh_from_db()


def run_audit(audit: Audit, paper: Paper, boards: Boards, cec: Any, *, limit: int = 10) -> Audit:
    """Start rounds and count them until the audit is finished."""
    for _ in range(limit):
        if audit.finished:
            break
        actions.start_round(audit, actor=cec)
        count_round(audit, paper, boards)
    return audit
