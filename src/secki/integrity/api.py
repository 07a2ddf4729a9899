"""Integrity API: live forensics, the public switch, PVT samples and counts, exit polls.

Reading needs what the pages need (staff and observers always; everybody when the CEC made
the election's integrity pages public, on published protocols only). PVT samples, counts
and exit polls are registered by observers of the election and CEC administrators.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from ninja import Path, Query, Router
from pydantic import Field

from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import election_or_404
from secki.api.schemas import INTEGRAL, READ_ERRORS, WRITE_ERRORS, In, Out
from secki.elections.models import Election
from secki.integrity import actions, pvt
from secki.integrity.access import is_public, view_for
from secki.integrity.analysis import analysis_json, snapshot
from secki.integrity.models import ExitPoll, PvtSample
from secki.integrity.station_arrays import natural_key
from secki.stats._common import jsonable
from secki.stats.exit_polls import CAVEAT
from secki.stats.pvt import Z99

router = Router(tags=["integrity"])

#: a count in a request (the limit of :func:`secki.integrity.actions.parse_count`)
Count = Annotated[int, Field(ge=0, le=actions.MAX_COUNT), INTEGRAL]
#: a float that is null where the statistic is undefined (NaN or infinite)
Stat = float | None


def station_url(slug: str) -> Any:
    def url(code: str) -> str:
        return reverse("portal:station", args=[slug, code])

    return url


# -- response schemas of the forensics suite (secki.integrity.analysis.analysis_json) --------


class ExplanationOut(Out):
    title: str
    shows: str
    cannot: str


class LeaderOut(Out):
    number: int
    name: str
    party: str


class StationsAnalysedOut(Out):
    analysed: int
    total: int


class FlagsOut(Out):
    integer_percentages: bool
    high_high: bool
    alpha: float
    high_high_threshold: float


class IntegerStatisticOut(Out):
    name: str
    observed: int
    null_mean: Stat
    null_sd: Stat
    null_p999: Stat
    exact_mean: Stat
    exact_sd: Stat
    anomaly: Stat
    pvalue: Stat


class IntegerGroupOut(Out):
    group: str
    name: str
    stations: int
    included: int
    either: IntegerStatisticOut
    leader: IntegerStatisticOut
    turnout: IntegerStatisticOut


class IntegerTestOut(Out):
    stations: int
    included: int
    #: reason → stations left out for it
    excluded: dict[str, int]
    replicates: int
    statistic: float
    pvalue: Stat
    either: IntegerStatisticOut
    leader: IntegerStatisticOut
    turnout: IntegerStatisticOut
    groups: list[IntegerGroupOut]
    groups_flagged: list[str]
    method: str
    citation: str


class AnalysisErrorOut(Out):
    """An analysis that could not run on these protocols, and why."""

    error: str | None


class DigitResultOut(Out):
    stations: int
    second_digit_n: int
    second_digit_mean: Stat
    second_digit_mean_ci: list[Stat]
    second_digit_chi2: Stat
    second_digit_pvalue: Stat
    second_digit_counts: list[int]
    last_digit_n: int
    last_digit_mean: Stat
    last_digit_chi2: Stat
    last_digit_pvalue: Stat
    last_digit_counts: list[int]
    last_two_equal: Stat
    last_two_adjacent: Stat
    c05s: Stat
    p05s: Stat
    skew: Stat
    kurtosis: Stat
    turnout_n: int
    confidence: float
    expected_second_digit_mean: float
    method: str
    citation: str


class DigitsOut(Out):
    counts: str
    all: DigitResultOut
    #: constituency → its tests
    groups: dict[str, DigitResultOut]


class DigitSignalOut(Out):
    counts: str
    group: str
    test: str
    pvalue: float


class FingerprintOut(Out):
    stations: int
    high_high: int
    high_high_share: Stat
    turnout: Stat
    leader_share: Stat
    bins: int
    #: non-empty cells: [turnout bin, share bin, stations]
    cells: list[list[int]]
    method: str
    citation: str


class KlimekFitOut(Out):
    f_i: Stat
    f_e: Stat
    f_i_interval: list[Stat]
    f_e_interval: list[Stat]
    turnout_mean: Stat
    turnout_sd: Stat
    share_mean: Stat
    share_sd: Stat
    theta: Stat
    alpha: Stat
    loglik: Stat
    stations: int
    confidence: float
    bootstrap: int
    theta_at_grid_edge: bool
    #: parameters at a bound and other reasons to distrust the fit (English)
    warnings: list[str]
    theta_grid: list[float]
    method: str
    citation: str


class RiskRowOut(Out):
    rank: int
    station: str
    name: str
    constituency: str
    constituency_name: str
    score: float
    signals: list[str]
    reasons: list[str]
    turnout_flags: list[str]
    registered: int
    participants: int
    cast: int
    leader_votes: int
    url: str | None


class RiskOut(Out):
    signals: dict[str, int]
    weights: dict[str, float]
    stations_with_signals: int
    top: list[RiskRowOut]
    method: str
    citation: str


class TurnoutSignalsOut(Out):
    counts: dict[str, int]
    stations: int


class ForensicsOut(Out):
    """What :func:`forensics` answers: the state of the computation, then (once a result
    exists) every analysis; an analysis that could not run is ``{"error": …}``."""

    election: str
    status: Literal["ready", "computing", "failed"]
    computing: bool
    error: str | None
    ledger_head: int
    stale: bool
    caveat: str
    explanations: dict[str, ExplanationOut]
    published_only: bool | None = None
    computed_at: str | None = None
    computed_at_ledger_head: int | None = None
    seconds: float | None = None
    seed: int | None = None
    replicates: int | None = None
    fit_bootstrap: int | None = None
    #: role (registered, participants, cast, valid, invalid) → the line or expression used
    roles: dict[str, str] | None = None
    stations: StationsAnalysedOut | None = None
    leader: LeaderOut | None = None
    flags: FlagsOut | None = None
    integer_test: IntegerTestOut | AnalysisErrorOut | None = None
    digits: dict[str, DigitsOut] | None = None
    digit_signals: list[DigitSignalOut] | None = None
    fingerprint: FingerprintOut | None = None
    klimek_fit: KlimekFitOut | AnalysisErrorOut | None = None
    risk: RiskOut | None = None
    turnout_signals: TurnoutSignalsOut | None = None


@router.get("/{slug}/integrity", response={200: ForensicsOut, **READ_ERRORS})
def forensics(
    request: HttpRequest, slug: str, top: Annotated[int, Query(ge=0, le=1000)] = 50
) -> dict[str, Any]:
    """The forensics suite on the counted protocols (published ones for the public):
    integer percentages, digit tests by constituency, fingerprint, Klimek fit, per-station
    risk with reasons (the `top` riskiest, 0…1000), turnout-report signals, and what each can
    and cannot show. Computed in the background when results move: `computing` says a newer
    result is on its way, `computed_at` / `computed_at_ledger_head` date the one shown."""
    election = election_or_404(slug)
    view = view_for(user_from_request(request), election)
    snap = snapshot(election, public=view.public)
    body = analysis_json(snap, top=top, station_url=station_url(slug))
    return {"election": election.slug, **body}


# -- the public switch --------------------------------------------------------------------


class SettingsIn(In):
    public: bool


class SettingsOut(Out):
    election: str
    public: bool


@router.get("/{slug}/integrity/settings", response={200: SettingsOut, **READ_ERRORS})
def get_settings(request: HttpRequest, slug: str) -> dict[str, Any]:
    """Whether the public sees the integrity pages."""
    election = election_or_404(slug)
    return {"election": election.slug, "public": is_public(election)}


@router.put("/{slug}/integrity/settings", response={200: SettingsOut, **WRITE_ERRORS})
def put_settings(request: HttpRequest, slug: str, payload: SettingsIn) -> dict[str, Any]:
    """CEC administrators: `{"public": true}` shows the integrity pages (on published
    protocols) to everybody."""
    election = election_or_404(slug)
    row = actions.set_public(election, payload.public, actor=user_from_request(request))
    return {"election": election.slug, "public": row.public}


# -- PVT ------------------------------------------------------------------------------------


class SampleSizeOut(Out):
    voters: int
    stations: int | None
    margin: float
    z: float
    population: int
    citation: str


class SampleSizesOut(Out):
    election: str
    registered: int
    stations: int
    sizes: list[SampleSizeOut]


@router.get("/{slug}/pvt/sample-size", response={200: SampleSizesOut, **READ_ERRORS})
def sample_size(
    request: HttpRequest,
    slug: str,
    margin: Annotated[float | None, Query(gt=0, lt=1, allow_inf_nan=False)] = None,
) -> dict[str, Any]:
    """NDI sample sizes at 99 % for the register: voters and stations per margin of error
    (`margin` between 0 and 1, exclusive; default: the usual margins)."""
    election = election_or_404(slug)
    frame = pvt.frame_of(election)
    margins = (margin,) if margin is not None else pvt.MARGINS
    return {
        "election": election.slug,
        "registered": frame.registered,
        "stations": frame.stations,
        "sizes": [asdict(s) for s in pvt.sample_sizes(frame, margins)],
    }


class RatioEstimateOut(Out):
    name: str
    estimate: Stat
    se: Stat
    se_linearised: Stat
    se_bootstrap: Stat
    z: Stat
    interval: list[Stat]
    margin: Stat


class OfficialOut(Out):
    shares: dict[str, Stat]
    stations_reported: int
    stations_total: int
    closed: bool
    #: stations whose results were annulled (finished: excluded by decision)
    stations_annulled: int
    complete: bool


class VerdictOut(Out):
    consistent: bool
    z: dict[str, Stat]
    #: [name, "higher" or "lower" (official vs PVT), z] for every |z| above the critical value
    discrepancies: list[tuple[str, str, Stat]]
    critical: float
    text: str
    citation: str


class SampleBase(Out):
    id: int
    group: str
    contact: str
    method: str
    seed: str | None
    margin: float | None
    digest: str
    created_at: str
    #: stratum → sampled stations
    allocation: dict[str, int]
    #: stratum → stations of the register
    frame: dict[str, int]


class SampleEstimateOut(SampleBase):
    sampled: int
    reported: int
    estimate_error: str | None
    notes: list[str]
    #: stratum → [sampled stations reported, stations of the register]
    strata_used: dict[str, list[int]]
    estimates: dict[str, RatioEstimateOut]
    z: float
    official: OfficialOut | None
    verdict: VerdictOut | None


class SamplesOut(Out):
    election: str
    samples: list[SampleEstimateOut]


class RegisteredSampleOut(SampleBase):
    #: the sample's station codes
    stations: list[str]


class SampleStationOut(Out):
    station: str
    stratum: str
    ticket: float | None
    reported: bool


class SampleDetailOut(SampleEstimateOut):
    stations: list[SampleStationOut]


def sample_json(sample: PvtSample, result: pvt.PvtResult | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": sample.pk,
        "group": sample.group.name,
        "contact": sample.group.contact,
        "method": sample.method,
        "seed": sample.seed or None,
        "margin": sample.margin,
        "digest": sample.digest,
        "created_at": sample.created_at.isoformat(),
        "allocation": sample.allocation,
        "frame": sample.frame,
    }
    if result is None:
        return out
    names = {c.code: c.name for c in result.candidates}
    out.update(
        {
            "sampled": result.sampled,
            "reported": result.reported,
            "estimate_error": result.error,
            "notes": result.notes,
            "strata_used": {h: list(v) for h, v in result.strata.items()},
            "estimates": {
                k: {"name": names.get(k, k), **asdict(e)}
                for est in (result.shares, result.turnout)
                if est is not None
                for k, e in est.estimates.items()
            },
            "z": Z99,
            "official": None
            if result.official is None
            else {
                **asdict(result.official),
                "complete": result.official.complete,
            },
            "verdict": None if result.verdict is None else asdict(result.verdict),
        }
    )
    return dict(jsonable(out))


def _sample_or_404(election: Election, sample_id: int) -> PvtSample:
    sample = (
        PvtSample.objects.filter(election=election, pk=sample_id).select_related("group").first()
    )
    if sample is None:
        raise Http404(f"no PVT sample {sample_id} in {election.slug}")
    return sample


@router.get("/{slug}/pvt", response={200: SamplesOut, **READ_ERRORS})
def samples(request: HttpRequest, slug: str) -> dict[str, Any]:
    """Every registered PVT sample with its current estimate and verdict."""
    election = election_or_404(slug)
    view_for(user_from_request(request), election)
    return {
        "election": election.slug,
        "samples": [
            sample_json(s, pvt.estimate(s))
            for s in PvtSample.objects.filter(election=election).select_related("group")
        ],
    }


class SampleIn(In):
    """``method`` "seed" needs ``seed`` and ``size`` or ``margin``; "import" needs
    ``stations`` (a rule between fields: 422 when it is broken)."""

    group: Annotated[str, Field(max_length=200)]
    contact: Annotated[str, Field(max_length=300)] = ""
    method: Literal["seed", "import"] = "seed"
    seed: Annotated[str, Field(max_length=200)] | None = None
    size: Count | None = None
    margin: Annotated[float, Field(ge=0.0005, le=0.5)] | None = None
    #: station codes, as a list or as text separated by commas, spaces or new lines
    stations: list[Annotated[str, Field(max_length=64)]] | str | None = None


#: a database id in a path (larger ones name nothing, and the databases refuse them)
SampleId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("/{slug}/pvt", response={201: RegisteredSampleOut, **WRITE_ERRORS})
def register_sample(request: HttpRequest, slug: str, payload: SampleIn) -> JsonResponse:
    """Register an observer group's PVT sample: `{"group", "contact", "method": "seed",
    "seed", "size" | "margin"}` draws it (stratified by constituency, SHA-256 tickets of the
    seed), `{"method": "import", "stations": [codes]}` imports it. The seed and the digest of
    the station list go into the public ledger."""
    user = user_from_request(request)
    election = election_or_404(slug)

    def work() -> Answer:
        sample = actions.register_sample(
            election,
            actor=user,
            group=payload.group,
            contact=payload.contact,
            method=payload.method,
            seed=payload.seed,
            size=payload.size,
            margin=payload.margin,
            codes=payload.stations,
        )
        body = sample_json(sample)
        body["stations"] = sorted(
            sample.stations.values_list("station__code", flat=True), key=natural_key
        )
        return 201, body

    return respond(request, user, work)


@router.get("/{slug}/pvt/{sample_id}", response={200: SampleDetailOut, **READ_ERRORS})
def sample_detail(request: HttpRequest, slug: str, sample_id: SampleId) -> dict[str, Any]:
    """One sample: its stations (with their tickets and whether counts are in), the
    estimate with its 99 % margin, and the verdict against the official results."""
    election = election_or_404(slug)
    view_for(user_from_request(request), election)
    sample = _sample_or_404(election, sample_id)
    result = pvt.estimate(sample)
    body = sample_json(sample, result)
    body["stations"] = [
        {
            "station": code,
            "stratum": stratum,
            "ticket": t,
            "reported": code in result.counts,
        }
        for code, stratum, t in sample.stations.values_list("station__code", "stratum", "ticket")
    ]
    return body


class CountIn(In):
    station: Annotated[str, Field(max_length=64)]
    registered: Count
    participants: Count
    valid: Count
    #: candidate ("C1", or its number) → votes
    votes: dict[str, Count]
    reason: Annotated[str, Field(max_length=500)] = ""


class CountOut(Out):
    sample: int
    station: str
    version: int
    registered: int
    participants: int
    valid: int
    votes: dict[str, int]
    reason: str
    entered_at: str


@router.post("/{slug}/pvt/{sample_id}/counts", response={(200, 201): CountOut, **WRITE_ERRORS})
def enter_count(
    request: HttpRequest, slug: str, sample_id: SampleId, payload: CountIn
) -> JsonResponse:
    """An observer's counts of one sampled station: `registered`, `participants` (received a
    ballot), `valid`, `votes` `{"C1": n, …}` for every candidate (they must add up to
    `valid`). Sending different numbers again is a correction and needs a `reason`; the same
    numbers again change nothing (200)."""
    user = user_from_request(request)
    election = election_or_404(slug)
    sample = _sample_or_404(election, sample_id)

    def work() -> Answer:
        outcome = actions.enter_count(
            sample,
            actor=user,
            station=payload.station,
            registered=payload.registered,
            participants=payload.participants,
            valid=payload.valid,
            votes=payload.votes,
            reason=payload.reason,
        )
        c = outcome.count
        return (201 if outcome.created else 200), {
            "sample": sample.pk,
            "station": c.station.code,
            "version": c.version,
            "registered": c.registered,
            "participants": c.participants,
            "valid": c.valid,
            "votes": c.votes,
            "reason": c.reason,
            "entered_at": c.entered_at.isoformat(),
        }

    return respond(request, user, work)


# -- exit polls -----------------------------------------------------------------------------


def exit_poll_json(poll: ExitPoll, rows: list[pvt.ExitPollRow]) -> dict[str, Any]:
    out = {
        "id": poll.pk,
        "organisation": poll.organisation,
        "stations": poll.stations,
        "respondents": poll.respondents,
        "rho": poll.rho,
        "design_effect": poll.design_effect,
        "rho_used": pvt.rho_of(poll),
        "note": poll.note,
        "created_at": poll.created_at.isoformat(),
        "estimates": poll.estimates,
        "comparison": [
            {"candidate": r.candidate.code, "name": r.candidate.name, **asdict(r.result)}
            for r in rows
        ],
    }
    return dict(jsonable(out))


class ComparisonOut(Out):
    candidate: str
    name: str
    estimate: Stat
    respondents: int
    stations: int
    rho: Stat
    deff: Stat
    se: Stat
    z_critical: float
    interval: list[Stat]
    official: Stat
    z: Stat
    consistent: bool | None
    caveat: str
    method: str
    citation: str


class ExitPollOut(Out):
    id: int
    organisation: str
    stations: int
    respondents: int
    rho: float | None
    design_effect: float | None
    rho_used: Stat
    note: str
    created_at: str
    #: candidate → share of the valid votes (0…1)
    estimates: dict[str, float]
    comparison: list[ComparisonOut]


class ExitPollsOut(Out):
    election: str
    caveat: str
    official_complete: bool
    exit_polls: list[ExitPollOut]


@router.get("/{slug}/exit-polls", response={200: ExitPollsOut, **READ_ERRORS})
def exit_polls(request: HttpRequest, slug: str) -> dict[str, Any]:
    """Registered exit polls, each compared with the official share of the valid votes:
    design effect, SE, 99 % interval, z. Sampling error only: exit polls also carry
    non-response and selection bias."""
    election = election_or_404(slug)
    view_for(user_from_request(request), election)
    candidates = pvt.candidates_of(election)
    official = pvt.official_of(election, candidates)
    return {
        "election": election.slug,
        "caveat": CAVEAT,
        "official_complete": official.complete,
        "exit_polls": [
            exit_poll_json(p, pvt.compare_exit_poll(p, candidates, official))
            for p in ExitPoll.objects.filter(election=election)
        ],
    }


class ExitPollIn(In):
    """Exactly one of ``rho`` and ``design_effect`` (a rule between fields: 422 when it is
    broken)."""

    organisation: Annotated[str, Field(max_length=200)]
    stations: Annotated[int, Field(ge=1, le=actions.MAX_COUNT), INTEGRAL]
    respondents: Annotated[int, Field(ge=1, le=actions.MAX_COUNT), INTEGRAL]
    rho: Annotated[float, Field(ge=0, le=1)] | None = None
    design_effect: Annotated[float, Field(ge=1, allow_inf_nan=False)] | None = None
    #: candidate ("C1", or its number) → share of the valid votes, 0…1
    estimates: dict[str, Annotated[float, Field(ge=0, le=1)]]
    note: Annotated[str, Field(max_length=500)] = ""


@router.post("/{slug}/exit-polls", response={201: ExitPollOut, **WRITE_ERRORS})
def register_exit_poll(request: HttpRequest, slug: str, payload: ExitPollIn) -> JsonResponse:
    """Register an exit poll: `organisation`, sampled `stations`, `respondents`, `rho` or
    `design_effect`, `estimates` `{"C1": 0.61, …}` (shares of the valid votes, 0…1)."""
    user = user_from_request(request)
    election = election_or_404(slug)

    def work() -> Answer:
        poll = actions.register_exit_poll(
            election,
            actor=user,
            organisation=payload.organisation,
            stations=payload.stations,
            respondents=payload.respondents,
            rho=payload.rho,
            design_effect=payload.design_effect,
            estimates=payload.estimates,
            note=payload.note,
        )
        candidates = pvt.candidates_of(election)
        official = pvt.official_of(election, candidates)
        return 201, exit_poll_json(poll, pvt.compare_exit_poll(poll, candidates, official))

    return respond(request, user, work)
