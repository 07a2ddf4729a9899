"""Who wins: the election's win rule as a strategy (spec/domain.md §5).

``absolute_majority``: elected with more than half of the base (valid votes, ballots cast or
participants, per election); otherwise a runoff between the top ``runoff_size`` candidates.
``plurality``: most votes wins. ``proportional``: seats among the lists (the candidates) by
D'Hondt, Sainte-Laguë or largest remainder with the Hare quota (:mod:`secki.stats.seats`), on
the national totals (``seats``) or in each district (every unit with its own ``seats``), lists
below the ``threshold`` (a share of the base, national or the district's) getting none; ties by
the published rule of :mod:`secki.stats.seats` (more votes, then the lower official ballot
number). ``referendum``: option 1 is *yes*, option 2 *no*; approved when *yes* has more than
half of the votes for the two and at least ``approval_quorum`` of the registered voters.
Whatever the rule, the election is invalid when results were annulled in more than
``invalid_station_share`` of the stations, or once every station is finished when turnout
(participants over the registered voters of the counted stations, as the pages show it) is
below ``min_turnout`` (for a referendum: its turnout quorum).

**When the rules can decide.** A station is *finished* when its current protocol is counted or
annulled (an annulment is the commission's decision: the station is excluded from the totals,
and from nothing else, spec/domain.md §5). While any station is not finished the outcome is
``pending`` and states no verdict: no winner, no runoff field, only the count so far — one
station's votes, or most of them, say nothing of who is elected. The one verdict that may come
earlier is ``invalid``: annulments are decisions, so once their share of all stations is above
``invalid_station_share`` no later count can undo it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction

from secki.elections.models import Candidate, Election, SeatScope, Unit, WinRule
from secki.protocol_schema import Contest
from secki.protocols.models import Protocol, ProtocolStatus
from secki.results.tabulate import CandidateResult, UnitResult, contest_result
from secki.stats.seats import Party, allocate, qualifies


@dataclass(frozen=True)
class SeatResult:
    """One list's seats (nationally, or in one district)."""

    candidate: Candidate
    votes: int
    seats: int
    qualified: bool  # at or above the threshold


@dataclass(frozen=True)
class TieDecision:
    """A seat the published tie rule decided: more lists had an equal claim to it than seats
    were left; it went to ``winner`` (more votes, then the lower official ballot number)."""

    unit: Unit | None  # the district; None for a national allocation
    seat: int  # the seat's number in the allocation, 1…
    tied: list[Candidate]
    winner: Candidate


@dataclass(frozen=True)
class DistrictSeats:
    unit: Unit
    seats: int
    lists: list[SeatResult]


@dataclass(frozen=True)
class ElectionOutcome:
    #: "pending" | "winner" | "runoff" | "tie" | "invalid" | "no_votes" | "seats" |
    #: "approved" | "rejected"
    status: str
    winner: Candidate | None
    runoff: list[Candidate]
    provisional: bool  # stations are still to report (neither counted nor annulled)
    explanation: str
    leader: Candidate | None = None  # most votes so far (a fact, not a verdict)
    annulled: int = 0  # stations excluded by annulment
    #: why an election is invalid: "annulled" (too many stations) or "turnout" (below minimum)
    reason: str = ""
    #: proportional: every list's seats in ballot order (summed over the districts)
    seats: list[SeatResult] = field(default_factory=list)
    #: proportional per district: each district's allocation
    districts: list[DistrictSeats] = field(default_factory=list)
    #: seats the tie rule decided
    ties: list[TieDecision] = field(default_factory=list)
    #: referendum: the votes for yes and for no
    yes: int = 0
    no: int = 0


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


def _allocation(
    election: Election,
    r: UnitResult,
    seats: int,
    eligible: set[int] | None,
) -> tuple[list[SeatResult], list[TieDecision]]:
    """Allocate ``seats`` on ``r``'s votes; ``eligible``: the candidates that passed a
    national threshold (None: the threshold applies to ``r`` itself)."""
    lists = [c for c in r.candidates if eligible is None or c.candidate.id in eligible]
    parties = [Party(c.candidate.id, c.votes, c.candidate.official_number) for c in lists]
    valid = max(r.base, sum(c.votes for c in r.candidates))
    threshold = Fraction(election.threshold) if eligible is None else Fraction(0)
    result = allocate(parties, seats, election.seat_method, threshold=threshold, valid=valid)
    by_id = {c.candidate.id: c.candidate for c in r.candidates}
    district = r.unit if r.unit is not None and r.unit.parent_id is not None else None
    ties = [
        TieDecision(district, seat, [by_id[k] for k in tied], by_id[winner])
        for seat, tied, winner in result.ties
    ]
    rows = [
        SeatResult(
            c.candidate,
            c.votes,
            result.seats.get(c.candidate.id, 0),
            c.candidate.id in result.qualified
            or (eligible is not None and c.candidate.id in eligible),
        )
        for c in r.candidates
    ]
    return rows, ties


def _proportional(
    election: Election,
    r: UnitResult,
    districts: Sequence[UnitResult],
    provisional: bool,
) -> ElectionOutcome:
    share = Fraction(election.threshold)
    valid = max(r.base, sum(c.votes for c in r.candidates))
    national_pass = {
        c.candidate.id for c in r.candidates if c.votes > 0 and qualifies(c.votes, valid, share)
    }
    if election.seat_scope == SeatScope.NATIONAL:
        rows, ties = _allocation(election, r, election.seats, None)
        allocated: list[DistrictSeats] = []
    else:
        eligible = national_pass if election.threshold_scope == SeatScope.NATIONAL else None
        totals: dict[int, int] = {c.candidate.id: 0 for c in r.candidates}
        allocated = []
        ties = []
        for d in districts:
            assert d.unit is not None and d.unit.seats is not None
            lists, district_ties = _allocation(election, d, d.unit.seats, eligible)
            allocated.append(DistrictSeats(d.unit, d.unit.seats, lists))
            ties += district_ties
            for row in lists:
                totals[row.candidate.id] += row.seats
        qualified_anywhere = {
            row.candidate.id for d in allocated for row in d.lists if row.qualified
        }
        rows = [
            SeatResult(
                c.candidate,
                c.votes,
                totals[c.candidate.id],
                c.candidate.id in qualified_anywhere,
            )
            for c in r.candidates
        ]
    total = sum(row.seats for row in rows)
    winners = sorted((row for row in rows if row.seats), key=lambda x: -x.seats)
    text = ", ".join(f"{row.candidate.name} {row.seats}" for row in winners) or "no list"
    return ElectionOutcome(
        "seats",
        None,
        [],
        provisional,
        f"{total} seats by {election.get_seat_method_display()}: {text}",
        seats=sorted(rows, key=lambda x: x.candidate.official_number),
        districts=allocated,
        ties=ties,
    )


def _referendum(election: Election, r: UnitResult, provisional: bool) -> ElectionOutcome:
    by_number = {c.candidate.number: c.votes for c in r.candidates}
    yes, no = by_number.get(1, 0), by_number.get(2, 0)
    registered = r.totals.registered_reported
    needed = Fraction(election.approval_quorum) * registered
    if yes <= no:
        return ElectionOutcome(
            "rejected",
            None,
            [],
            provisional,
            f"rejected: yes {yes:,}, no {no:,} (yes needs more than half)",
            yes=yes,
            no=no,
        )
    if yes < needed:
        return ElectionOutcome(
            "rejected",
            None,
            [],
            provisional,
            f"rejected: yes {yes:,} is a majority but below the approval quorum of "
            f"{election.approval_quorum:.1%} of {registered:,} registered voters",
            yes=yes,
            no=no,
        )
    return ElectionOutcome(
        "approved", None, [], provisional, f"approved: yes {yes:,}, no {no:,}", yes=yes, no=no
    )


STRATEGIES = {WinRule.ABSOLUTE_MAJORITY: _absolute_majority, WinRule.PLURALITY: _plurality}


def below_min_turnout(election: Election, r: UnitResult) -> bool:
    """Turnout (participants over the registered voters of the counted stations) is under the
    election's minimum, compared exactly."""
    if election.min_turnout <= 0:
        return False
    registered = r.totals.registered_reported
    return Fraction(r.participants) < Fraction(election.min_turnout) * registered


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
    election: Election,
    national: UnitResult,
    *,
    annulled: int | None = None,
    districts: Sequence[UnitResult] = (),
) -> ElectionOutcome:
    """The outcome; ``annulled``: the count of annulled stations when already known (a
    published state's), else read from the database; ``districts``: the results of the units
    with seats, in register order (a per-district proportional allocation)."""
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
            reason="annulled",
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
    if below_min_turnout(election, national):
        return ElectionOutcome(
            "invalid",
            None,
            [],
            False,
            f"turnout {national.turnout} % is below the minimum of {election.min_turnout:.1%}: "
            "the election is invalid",
            annulled=annulled,
            reason="turnout",
        )
    rule = WinRule(election.win_rule)
    if rule == WinRule.PROPORTIONAL:
        outcome = _proportional(election, national, districts, False)
    elif rule == WinRule.REFERENDUM:
        outcome = _referendum(election, national, False)
    else:
        outcome = STRATEGIES[rule](election, national, ranked, False)
    return replace(outcome, annulled=annulled)


@dataclass(frozen=True)
class ContestOutcome:
    """One contest of a protocol with more than one: its figures and its outcome."""

    contest: Contest
    result: UnitResult
    outcome: ElectionOutcome


def contest_rules(election: Election, contest: Contest) -> Election:
    """``election`` with the contest's own win rule (an unsaved copy: the election's annulment
    share and minimum turnout stay; the base is the contest's valid ballots; seats and the
    threshold are national)."""
    ruled = copy.copy(election)
    rule = contest.rule
    ruled.win_rule = rule["rule"]
    ruled.majority_base = "valid"
    if rule["rule"] == WinRule.PROPORTIONAL:
        ruled.seat_method = rule["method"]
        ruled.seats = rule["seats"]
        ruled.threshold = Decimal(str(rule["threshold"]))
        ruled.seat_scope = SeatScope.NATIONAL
        ruled.threshold_scope = SeatScope.NATIONAL
    elif rule["rule"] == WinRule.ABSOLUTE_MAJORITY:
        ruled.runoff_size = rule["runoff_size"]
    return ruled


def decide_contests(
    election: Election, national: UnitResult, *, annulled: int | None = None
) -> list[ContestOutcome]:
    """Each contest's outcome (empty for an election with a single contest), by its own rule
    on its own candidates and valid ballots; no verdict before every station is finished,
    as for :func:`decide`."""
    contests = election.protocol_schema().contests
    if contests and annulled is None:
        annulled = annulled_count(election)
    out = []
    for contest in contests:
        result = contest_result(national, contest)
        outcome = decide(contest_rules(election, contest), result, annulled=annulled)
        out.append(ContestOutcome(contest, result, outcome))
    return out
