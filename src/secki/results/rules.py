"""Who wins: the election's win rule as a strategy (spec/domain.md §5).

``absolute_majority``: elected with more than half of the base (valid votes, ballots cast or
participants, per election); otherwise a runoff between the top ``runoff_size`` candidates.
``plurality``: most votes wins. Either way the election is invalid when results were annulled
in more than ``invalid_station_share`` of the stations, and nothing is final while stations are
still to report.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from secki.elections.models import Candidate, Election, WinRule
from secki.protocols.models import Protocol, ProtocolStatus
from secki.results.tabulate import CandidateResult, UnitResult


@dataclass(frozen=True)
class ElectionOutcome:
    status: str  # "pending" | "winner" | "runoff" | "tie" | "invalid" | "no_votes"
    winner: Candidate | None
    runoff: list[Candidate]
    provisional: bool  # stations are still to report
    explanation: str


def _absolute_majority(
    election: Election, r: UnitResult, ranked: list[CandidateResult]
) -> ElectionOutcome:
    leader = ranked[0]
    provisional = r.totals.stations_reported < r.totals.stations_total
    if leader.votes * 2 > r.base:
        return ElectionOutcome(
            "winner",
            leader.candidate,
            [],
            provisional,
            f"{leader.candidate.name} has {leader.share} % of the "
            f"{election.get_majority_base_display().lower()}, more than half",
        )
    size = election.runoff_size
    if len(ranked) > size and ranked[size - 1].votes == ranked[size].votes:
        return ElectionOutcome(
            "tie",
            None,
            [],
            provisional,
            f"place {size} is tied: the runoff field cannot be decided by votes",
        )
    field = [c.candidate for c in ranked[:size]]
    return ElectionOutcome(
        "runoff",
        None,
        field,
        provisional,
        f"no candidate has more than half ({leader.candidate.name}: {leader.share} %); "
        f"runoff between {' and '.join(c.name for c in field)}",
    )


def _plurality(election: Election, r: UnitResult, ranked: list[CandidateResult]) -> ElectionOutcome:
    provisional = r.totals.stations_reported < r.totals.stations_total
    if len(ranked) > 1 and ranked[0].votes == ranked[1].votes:
        return ElectionOutcome("tie", None, [], provisional, "the two leading candidates are tied")
    return ElectionOutcome(
        "winner",
        ranked[0].candidate,
        [],
        provisional,
        f"{ranked[0].candidate.name} has the most votes",
    )


STRATEGIES = {WinRule.ABSOLUTE_MAJORITY: _absolute_majority, WinRule.PLURALITY: _plurality}


def annulled_share(election: Election) -> Decimal:
    total = election.stations.count()
    annulled = Protocol.objects.filter(
        election=election, is_current=True, status=ProtocolStatus.ANNULLED
    ).count()
    return Decimal(annulled) / Decimal(total) if total else Decimal(0)


def decide(
    election: Election, national: UnitResult, *, annulled: Decimal | None = None
) -> ElectionOutcome:
    """The outcome; ``annulled``: the share of annulled stations when already known (a
    published state's), else read from the database."""
    share = annulled_share(election) if annulled is None else annulled
    if share > election.invalid_station_share:
        return ElectionOutcome(
            "invalid",
            None,
            [],
            False,
            f"results were annulled in {share:.1%} of stations, more than "
            f"{election.invalid_station_share:.0%}: the election is invalid",
        )
    ranked = national.ranked
    if not ranked or ranked[0].votes == 0:
        return ElectionOutcome("no_votes", None, [], True, "no results yet")
    outcome = STRATEGIES[WinRule(election.win_rule)](election, national, ranked)
    if outcome.provisional and outcome.status in ("winner", "runoff"):
        return ElectionOutcome(
            "pending",
            outcome.winner,
            outcome.runoff,
            True,
            f"provisional ({national.totals.stations_reported:,} of "
            f"{national.totals.stations_total:,} stations): {outcome.explanation}",
        )
    return outcome
