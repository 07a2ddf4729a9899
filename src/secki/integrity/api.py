"""Integrity API: live forensics, the public switch, PVT samples and counts, exit polls.

Reading needs what the pages need (staff and observers always; everybody when the CEC made
the election's integrity pages public, on published protocols only). PVT samples, counts
and exit polls are registered by observers of the election and CEC administrators.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from ninja import Router, Schema

from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import election_or_404
from secki.api.schemas import WRITE_ERRORS, ErrorOut
from secki.elections.models import Election
from secki.errors import IntakeError
from secki.integrity import actions, pvt
from secki.integrity.access import is_public, view_for
from secki.integrity.analysis import analysis_json, snapshot
from secki.integrity.data import natural_key
from secki.integrity.models import ExitPoll, PvtSample
from secki.stats._common import jsonable
from secki.stats.exit_polls import CAVEAT
from secki.stats.pvt import Z99

router = Router(tags=["integrity"])

READ_ERRORS: dict[int | tuple[int, ...], Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


def station_url(slug: str) -> Any:
    def url(code: str) -> str:
        return reverse("results:station", args=[slug, code])

    return url


@router.get("/{slug}/integrity", response={200: dict[str, Any], **READ_ERRORS})
def forensics(request: HttpRequest, slug: str, top: int = 50) -> dict[str, Any]:
    """The forensics suite on the counted protocols (published ones for the public):
    integer percentages, digit tests by constituency, fingerprint, Klimek fit, per-station
    risk with reasons, turnout-report signals, and what each can and cannot show. Computed in
    the background when results move: `computing` says a newer result is on its way,
    `computed_at` / `computed_at_ledger_head` date the one shown."""
    election = election_or_404(slug)
    view = view_for(user_from_request(request), election)
    snap = snapshot(election, public=view.public)
    body = analysis_json(snap, top=max(0, min(top, 1000)), station_url=station_url(slug))
    return {"election": election.slug, **body}


class SettingsIn(Schema):
    public: Any


@router.get("/{slug}/integrity/settings", response={200: dict[str, Any], **READ_ERRORS})
def get_settings(request: HttpRequest, slug: str) -> dict[str, Any]:
    """Whether the public sees the integrity pages."""
    election = election_or_404(slug)
    return {"election": election.slug, "public": is_public(election)}


@router.put("/{slug}/integrity/settings", response={200: dict[str, Any], **WRITE_ERRORS})
def put_settings(request: HttpRequest, slug: str, payload: SettingsIn) -> dict[str, Any]:
    """CEC administrators: `{"public": true}` shows the integrity pages (on published
    protocols) to everybody."""
    election = election_or_404(slug)
    row = actions.set_public(election, payload.public, actor=user_from_request(request))
    return {"election": election.slug, "public": row.public}


# -- PVT ------------------------------------------------------------------------------------


@router.get("/{slug}/pvt/sample-size", response={200: dict[str, Any], **READ_ERRORS})
def sample_size(request: HttpRequest, slug: str, margin: float | None = None) -> dict[str, Any]:
    """NDI sample sizes at 99 % for the register: voters and stations per margin of error."""
    election = election_or_404(slug)
    frame = pvt.frame_of(election)
    margins = (margin,) if margin else pvt.MARGINS
    if any(not 0 < m < 1 for m in margins):
        raise IntakeError("out_of_range", "margin must lie between 0 and 1", field="margin")
    return {
        "election": election.slug,
        "registered": frame.registered,
        "stations": frame.stations,
        "sizes": [asdict(s) for s in pvt.sample_sizes(frame, margins)],
    }


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
        from django.http import Http404

        raise Http404(f"no PVT sample {sample_id} in {election.slug}")
    return sample


@router.get("/{slug}/pvt", response={200: dict[str, Any], **READ_ERRORS})
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


class SampleIn(Schema):
    group: Any = None
    contact: Any = ""
    method: Any = "seed"
    seed: Any = None
    size: Any = None
    margin: Any = None
    stations: Any = None


@router.post("/{slug}/pvt", response={201: dict[str, Any], **WRITE_ERRORS})
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


@router.get("/{slug}/pvt/{sample_id}", response={200: dict[str, Any], **READ_ERRORS})
def sample_detail(request: HttpRequest, slug: str, sample_id: int) -> dict[str, Any]:
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


class CountIn(Schema):
    station: Any = None
    registered: Any = None
    participants: Any = None
    valid: Any = None
    votes: Any = None
    reason: Any = ""


@router.post("/{slug}/pvt/{sample_id}/counts", response={201: dict[str, Any], **WRITE_ERRORS})
def enter_count(request: HttpRequest, slug: str, sample_id: int, payload: CountIn) -> JsonResponse:
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


@router.get("/{slug}/exit-polls", response={200: dict[str, Any], **READ_ERRORS})
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


class ExitPollIn(Schema):
    organisation: Any = None
    stations: Any = None
    respondents: Any = None
    rho: Any = None
    design_effect: Any = None
    estimates: Any = None
    note: Any = ""


@router.post("/{slug}/exit-polls", response={201: dict[str, Any], **WRITE_ERRORS})
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
