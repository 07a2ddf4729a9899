"""PVT samples (drawn from a public seed), estimates and verdicts; exit-poll comparisons.

**Drawing.** The frame is the complete register of the election's stations, stratified by
constituency (:func:`secki.integrity.station_arrays.station_groups`). ``n`` stations are
allocated to the constituencies in proportion to their number of stations (largest
remainders), at least two per constituency (all of it when it has fewer), and drawn with
:func:`secki.stats.stratified_sample`: in each constituency, the stations with the smallest
SHA-256 tickets ``SHA-256("{seed},{station code},1")``. Anyone with the seed and the register
can redo the draw.

**Estimating.** :func:`secki.stats.pvt_estimate` on the entered counts: the leader's (every
candidate's) share of the valid votes, and the turnout (voters who received a ballot over
registered voters), each with the linearised SE and the 99 % margin (z = 2.58). While counts
are still coming in, constituencies with fewer than two reported stations are *collapsed*
into one stratum (or, if that is still too small, into the largest constituency), which the
page says; with every sampled station in, the estimate is the stratified one.

**Verdict.** Once the official (published) results cover every station, or the election is
closed, :func:`secki.stats.pvt_verdict` compares them: consistent when every |z| <= 2.58.

**Exit polls.** :func:`secki.stats.exit_poll` per candidate: the Kish design effect from ρ
(or ρ from a stated design effect: ρ = (deff − 1)/(m − 1)), SE, 99 % interval, z against
the official share of the valid votes — sampling error only.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from secki.elections.models import Election, ElectionStatus, Station
from secki.integrity.models import ExitPoll, PvtCount, PvtSample
from secki.integrity.station_arrays import CandidateInfo, station_groups
from secki.results.rules import annulled_count
from secki.results.tabulate import tabulation
from secki.stats import (
    ExitPollResult,
    PvtEstimate,
    PvtVerdict,
    SampleSize,
    exit_poll,
    ndi_sample_size,
    proportional_allocation,
    pvt_estimate,
    pvt_verdict,
    stratified_sample,
    ticket,
)
from secki.stats.pvt import Z99

MARGINS = (0.005, 0.01, 0.02, 0.03)
COLLAPSED = "(collapsed)"
TURNOUT = "turnout"


@dataclass(frozen=True)
class Frame:
    codes: list[str]
    strata: list[str]
    sizes: dict[str, int]
    names: dict[str, str]
    registered: int

    @property
    def stations(self) -> int:
        return len(self.codes)


def frame_of(election: Election) -> Frame:
    """Every station of the register with its constituency (register order)."""
    groups = station_groups(election)
    rows = list(
        Station.objects.filter(election=election)
        .order_by("position", "id")
        .values_list("id", "code", "registered")
    )
    strata = [groups[r[0]].code for r in rows]
    return Frame(
        codes=[r[1] for r in rows],
        strata=strata,
        sizes=dict(Counter(strata)),
        names={u.code: u.name for u in groups.values()},
        registered=sum(r[2] for r in rows),
    )


def sample_sizes(frame: Frame, margins: tuple[float, ...] = MARGINS) -> list[SampleSize]:
    """NDI sample sizes (99 %) for the frame's registered voters."""
    if frame.stations == 0 or frame.registered == 0:
        return []
    per_station = frame.registered / frame.stations
    return [
        ndi_sample_size(frame.registered, m, z=Z99, voters_per_station=per_station) for m in margins
    ]


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of ``n`` stations, at least two per stratum (capped at N_h)."""
    base = proportional_allocation(sizes, n)
    return {h: min(sizes[h], max(2, base[h])) for h in sorted(sizes)}


def draw(frame: Frame, n: int, seed: str) -> tuple[dict[str, int], dict[str, list[str]]]:
    """(allocation, stratum → sampled codes) for ``n`` stations from ``seed``."""
    allocation = allocate(frame.sizes, n)
    picked = stratified_sample(frame.codes, frame.strata, allocation, seed=seed)
    return allocation, {h: [str(c) for c in codes] for h, codes in picked.items()}


def codes_digest(codes: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(codes)).encode("utf-8")).hexdigest()


def station_ticket(seed: str, code: str) -> float:
    return ticket(seed, code, 1)


# -- official results ----------------------------------------------------------------------


@dataclass(frozen=True)
class Official:
    """The published totals as shares: candidates of the valid votes, turnout."""

    shares: dict[str, float]
    stations_reported: int
    stations_total: int
    closed: bool
    stations_annulled: int = 0  # finished too: excluded by the commission's decision

    @property
    def complete(self) -> bool:
        return self.closed or (
            self.stations_total > 0
            and self.stations_reported + self.stations_annulled >= self.stations_total
        )


def official_of(election: Election, candidates: list[CandidateInfo]) -> Official:
    tab = tabulation(election, public=True)
    totals = tab.totals[tab.root.id]
    lines = totals.lines
    valid = int(tab.schema.role("valid", lines))
    registered = int(tab.schema.role("registered", lines))
    participants = int(tab.schema.role("participants", lines))
    shares: dict[str, float] = {}
    if valid > 0:
        shares = {c.code: lines.get(c.code, 0) / valid for c in candidates}
    if registered > 0:
        shares[TURNOUT] = participants / registered
    return Official(
        shares=shares,
        stations_reported=totals.stations_reported,
        stations_total=totals.stations_total,
        closed=election.status == ElectionStatus.CLOSED,
        stations_annulled=annulled_count(election),
    )


def candidates_of(election: Election) -> list[CandidateInfo]:
    return [CandidateInfo.of(c) for c in election.candidates.order_by("number")]


# -- PVT estimate ---------------------------------------------------------------------------


@dataclass
class PvtResult:
    sample: PvtSample
    candidates: list[CandidateInfo]
    counts: dict[str, PvtCount]
    sampled: int
    strata: dict[str, tuple[int, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    shares: PvtEstimate | None = None
    turnout: PvtEstimate | None = None
    official: Official | None = None
    verdict: PvtVerdict | None = None
    error: str | None = None

    @property
    def reported(self) -> int:
        return len(self.counts)


def estimation_strata(
    labels: list[str], frame: dict[str, int]
) -> tuple[list[str], dict[str, int], list[str]]:
    """Labels and frame sizes for the estimate, collapsing strata with < 2 reported."""
    reported = Counter(labels)
    small = sorted(h for h in frame if reported[h] < 2)
    if not small:
        return labels, dict(frame), []
    kept = {h: n for h, n in frame.items() if h not in small}
    pool = sum(reported[h] for h in small)
    pool_size = sum(frame[h] for h in small)
    names = ", ".join(small[:8]) + (" …" if len(small) > 8 else "")
    if pool >= 2:
        target = COLLAPSED
        kept[COLLAPSED] = pool_size
        note = (
            f"{len(small)} constituencies with fewer than two reported stations ({names}) "
            f"are estimated together as one stratum of {pool_size} stations"
        )
    elif kept:
        target = max(kept, key=lambda h: (kept[h], h))
        kept[target] += pool_size
        note = (
            f"{len(small)} constituencies with fewer than two reported stations ({names}) "
            f"are estimated with constituency {target}"
        )
    else:
        raise ValueError("at least two sampled stations must be reported for an estimate")
    return [target if h in small else h for h in labels], kept, [note]


def estimate(sample: PvtSample, *, official: bool = True) -> PvtResult:
    """The sample's current counts → estimates, and the verdict once the official results
    are complete."""
    candidates = candidates_of(sample.election)
    strata_of = dict(sample.stations.values_list("station__code", "stratum"))
    counts = {
        c.station.code: c
        for c in PvtCount.objects.filter(sample=sample, is_current=True).select_related("station")
    }
    result = PvtResult(sample, candidates, counts, sampled=len(strata_of))
    if official:
        result.official = official_of(sample.election, candidates)
    order = sorted(counts)
    if len(order) < 2:
        result.error = "at least two sampled stations must be reported for an estimate"
        return result
    labels = [strata_of[c] for c in order]
    try:
        labels, sizes, notes = estimation_strata(
            labels, {k: int(v) for k, v in sample.frame.items()}
        )
        result.notes = notes
        valid = [counts[c].valid for c in order]
        votes = {
            cand.code: [int(counts[c].votes.get(cand.code, 0)) for c in order]
            for cand in candidates
        }
        result.shares = pvt_estimate(valid, votes, stratum_sizes=sizes, strata=labels, z=Z99)
        result.turnout = pvt_estimate(
            [counts[c].registered for c in order],
            {TURNOUT: [counts[c].participants for c in order]},
            stratum_sizes=sizes,
            strata=labels,
            z=Z99,
        )
    except ValueError as exc:
        result.error = str(exc)
        return result
    result.strata = result.shares.strata
    off = result.official
    if off is not None and off.complete and off.shares:
        ests = {**result.shares.estimates, **result.turnout.estimates}
        result.verdict = pvt_verdict(ests, {k: v for k, v in off.shares.items() if k in ests})
    return result


# -- exit polls -----------------------------------------------------------------------------


def rho_of(poll: ExitPoll) -> float:
    """ρ as registered, or from the stated design effect: ρ = (deff − 1)/(m − 1)."""
    if poll.rho is not None:
        return float(poll.rho)
    m = poll.respondents / poll.stations
    if poll.design_effect is None or m <= 1:
        return 0.0
    return (float(poll.design_effect) - 1.0) / (m - 1.0)


@dataclass(frozen=True)
class ExitPollRow:
    candidate: CandidateInfo
    result: ExitPollResult


def compare_exit_poll(
    poll: ExitPoll, candidates: list[CandidateInfo], official: Official | None
) -> list[ExitPollRow]:
    rho = rho_of(poll)
    shares = official.shares if official is not None and official.complete else {}
    rows = []
    for cand in candidates:
        if cand.code not in poll.estimates:
            continue
        rows.append(
            ExitPollRow(
                cand,
                exit_poll(
                    float(poll.estimates[cand.code]),
                    respondents=poll.respondents,
                    stations=poll.stations,
                    rho=rho,
                    official=shares.get(cand.code),
                    z_critical=Z99,
                ),
            )
        )
    return rows
