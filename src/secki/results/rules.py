"""Who wins: the election's win rule as a strategy (spec/domain.md §5).

``absolute_majority``: elected with more than half of the base (valid votes, ballots cast or
participants, per election); otherwise a runoff between the top ``runoff_size`` candidates.
``plurality``: most votes wins. Either way the election is invalid when results were annulled
in more than ``invalid_station_share`` of the stations.

**When the rules can decide.** A station is *finished* when its current protocol is counted or
annulled (an annulment is the commission's decision: the station is excluded from the totals,
and from nothing else, spec/domain.md §5). While any station is not finished the outcome is
``pending`` and states no verdict: no winner, no runoff field, only the count so far — one
station's votes, or most of them, say nothing of who is elected. The one verdict that may come
earlier is ``invalid``: annulments are decisions, so once their share of all stations is above
``invalid_station_share`` no later count can undo it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from secki.elections.models import Candidate, Election, WinRule
from secki.protocols.models import Protocol, ProtocolStatus
from secki.results.tabulate import CandidateResult, UnitResult


@dataclass(frozen=True)
class ElectionOutcome:
    status: str  # "pending" | "winner" | "runoff" | "tie" | "invalid" | "no_votes"
    winner: Candidate | None
    runoff: list[Candidate]
    provisional: bool  # stations are still to report (neither counted nor annulled)
    explanation: str
    leader: Candidate | None = None  # most votes so far (a fact, not a verdict)
    annulled: int = 0  # stations excluded by annulment


def _absolute_majority(
    election: Election, r: UnitResult, ranked: list[CandidateResult], provisional: bool
) -> ElectionOutcome:
    leader = ranked[0]
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


def _plurality(
    election: Election, r: UnitResult, ranked: list[CandidateResult], provisional: bool
) -> ElectionOutcome:
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


def annulled_count(election: Election) -> int:
    """Stations whose current protocol is annulled (excluded by the commission's decision)."""
    return Protocol.objects.filter(
        election=election, is_current=True, status=ProtocolStatus.ANNULLED
    ).count()


def annulled_share(election: Election) -> Decimal:
    total = election.stations.count()
    return Decimal(annulled_count(election)) / Decimal(total) if total else Decimal(0)


def finished(national: UnitResult, annulled: int) -> bool:
    """Every station is counted or annulled: the rules can decide."""
    t = national.totals
    return t.stations_reported + annulled >= t.stations_total


def decide(
    election: Election, national: UnitResult, *, annulled: int | None = None
) -> ElectionOutcome:
    """The outcome; ``annulled``: the count of annulled stations when already known (a
    published state's), else read from the database."""
    total = national.totals.stations_total
    if annulled is None:
        annulled = annulled_count(election)
    share = Decimal(annulled) / Decimal(total) if total else Decimal(0)
    if share > election.invalid_station_share:
        return ElectionOutcome(
            "invalid",
            None,
            [],
            False,
            f"results were annulled in {share:.1%} of stations, more than "
            f"{election.invalid_station_share:.0%}: the election is invalid",
            annulled=annulled,
        )
    provisional = not finished(national, annulled)
    ranked = national.ranked
    if not ranked or ranked[0].votes == 0:
        return ElectionOutcome(
            "no_votes", None, [], provisional, "no results yet", annulled=annulled
        )
    if provisional:
        t = national.totals
        return ElectionOutcome(
            "pending",
            None,
            [],
            True,
            f"provisional ({t.stations_reported:,} of {t.stations_total:,} stations counted, "
            f"{annulled:,} annulled): no verdict until every station is counted or annulled; "
            f"most votes so far: {ranked[0].candidate.name}",
            leader=ranked[0].candidate,
            annulled=annulled,
        )
    outcome = STRATEGIES[WinRule(election.win_rule)](election, national, ranked, False)
    return replace(outcome, annulled=annulled)
