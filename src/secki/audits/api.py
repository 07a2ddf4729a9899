"""The public audit API: an election's audits, one audit with its rounds, measured risk,
discrepancies and progress per constituency, and its sample in the form the standalone
reproducer consumes (``secki audit-sample --seed SEED --manifest manifest.csv --draws N
--first F``: the seed, the manifest's bytes and, per round, ``first_draw`` and ``size``).

Everything here is public (the audit's facts are logged publicly as they happen)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.urls import reverse
from ninja import Router

from secki.api.lookups import election_or_404
from secki.api.schemas import Out, errors
from secki.audits import actions, report, sampling
from secki.audits.models import Audit, Draw
from secki.elections.models import Election

router = Router(tags=["audits"])


class AuditBriefOut(Out):
    id: int
    contest: str
    #: ``macro`` (batch comparison by station) or ``bravo`` (ballot polling)
    type: str
    risk_limit: float
    status: str
    finished: bool
    rounds: int
    url: str


class AuditListOut(Out):
    election: str
    audits: list[AuditBriefOut]


class SeedOut(Out):
    seed: str
    witnesses: list[str]
    held_at: str


class FiguresOut(Out):
    """The figures of a round's measurement (:mod:`secki.audits.risk`); which keys are set
    depends on the method (MACRO, BRAVO, the full hand count)."""

    method: str
    #: the audit's status the round left
    status: str
    #: draws measured so far (over every round)
    draws: int | None = None
    #: MACRO: the P-value, the largest taint, whether a taint reached 1, draws with a taint
    pvalue: float | None = None
    max_taint: float | None = None
    taint_at_least_1: bool | None = None
    discrepant_draws: int | None = None
    #: BRAVO: ln T per "winner>loser" pair, and the risk 1/T of the worst pair
    log_statistics: dict[str, float] | None = None
    risk: float | None = None
    #: the next round's size when another sample round follows; escalation to a full count
    next_size: int | None = None
    escalate: bool | None = None
    #: full hand count: the totals, their winners, whether they confirm the reported ones
    audited: dict[str, int] | None = None
    winners: list[str] | None = None
    confirmed: bool | None = None


class RoundOut(Out):
    number: int
    #: ``sample`` or ``full`` (the full hand count)
    kind: str
    #: draws of the round (a full hand count: every station of the manifest)
    size: int
    first_draw: int
    stations: int
    counted: int
    #: measured risk after the round (MACRO P-value, BRAVO 1/T); null while it is counted
    risk: float | None
    finished_at: str | None
    #: the audit's status the round left (``confirmed``, ``seeded``, ``full_count`` …)
    outcome: str | None
    next_size: int | None
    escalate: bool
    #: the figures of the measurement (method, P-value or test statistics, taints …)
    figures: FiguresOut | None


class DiscrepancyOut(Out):
    round: int
    station: str
    #: candidate ("C1" …) → votes
    reported: dict[str, int]
    audited: dict[str, int]
    #: audited − reported per candidate
    difference: dict[str, int]


class ProgressCellOut(Out):
    sampled: int
    counted_once: int
    reconciled: int
    #: null for ballot polling's sampled ballots (no station total to compare)
    discrepancies: int | None


class ProgressRoundOut(ProgressCellOut):
    round: int


class ProgressOut(Out):
    constituency: str
    rounds: list[ProgressRoundOut]
    total: ProgressCellOut


class AuditOut(Out):
    id: int
    election: str
    contest: str
    type: str
    risk_limit: float
    status: str
    finished: bool
    #: the reported results it audits: the election's log size when it was set up
    log_size: int
    reported: dict[str, int]
    reported_winners: list[str]
    stations: int
    ballots: int
    total_error_bound: float | None
    manifest_sha256: str
    seed: SeedOut | None
    rounds: list[RoundOut]
    discrepancies: list[DiscrepancyOut]
    progress: list[ProgressOut]
    report_url: str
    pdf_url: str


class DrawOut(Out):
    draw: int
    round: int
    #: SHA-256("{seed},draw,{draw}"), 64 hex digits
    ticket: str
    station: str
    #: ballot polling: the ballot's number in its station's box (from 1)
    ballot: int | None


class SampleRoundOut(Out):
    round: int
    #: ``--first`` of ``secki audit-sample``
    first_draw: int
    #: ``--draws`` of ``secki audit-sample``
    size: int


class SampleOut(Out):
    audit: int
    #: ``--seed``; null before the seed ceremony
    seed: str | None
    rule: str
    manifest_sha256: str
    manifest_url: str
    #: the manifest file's text (UTF-8), byte for byte what ``manifest_url`` serves
    manifest_csv: str
    rounds: list[SampleRoundOut]
    draws: list[DrawOut]


def _audit(slug: str, audit_id: int) -> tuple[Election, Audit]:
    election = election_or_404(slug)
    audit = Audit.objects.filter(pk=audit_id, election=election).first()
    if audit is None:
        raise Http404(f"no audit {audit_id} of {slug!r}")
    return election, audit


def _url(name: str, election: Election, audit: Audit) -> str:
    return reverse(name, args=[election.slug, audit.pk])


@router.get("/{slug}/audits", response={200: AuditListOut, **errors(404)})
def audit_list(request: HttpRequest, slug: str) -> dict[str, Any]:
    """The election's risk-limiting audits, newest first."""
    election = election_or_404(slug)
    audits = []
    for a in Audit.objects.filter(election=election).order_by("-id"):
        audits.append(
            {
                "id": a.pk,
                "contest": a.contest,
                "type": a.kind,
                "risk_limit": a.risk_limit,
                "status": a.status,
                "finished": a.finished,
                "rounds": a.rounds.count(),
                "url": _url("portal:audit", election, a),
            }
        )
    return {"election": election.slug, "audits": audits}


@router.get("/{slug}/audits/{int:audit_id}", response={200: AuditOut, **errors(404)})
def audit_detail(request: HttpRequest, slug: str, audit_id: int) -> dict[str, Any]:
    """One audit: set-up, seed ceremony, every round with its measured risk, the stations
    whose hand count differs from the reported protocol, the progress per constituency."""
    election, audit = _audit(slug, audit_id)
    data = report.summary(audit)
    ceremony = getattr(audit, "ceremony", None)
    rounds = []
    for r in data["rounds"]:
        figures: dict[str, Any] = r["figures"] or {}
        rounds.append(
            {
                "number": r["number"],
                "kind": r["kind"],
                "size": r["size"],
                "first_draw": r["first_draw"],
                "stations": r["stations"],
                "counted": r["counted"],
                "risk": r["risk"],
                "finished_at": r["finished_at"],
                "outcome": figures.get("status"),
                "next_size": figures.get("next_size"),
                "escalate": bool(figures.get("escalate")),
                "figures": r["figures"],
            }
        )
    return {
        "id": audit.pk,
        "election": election.slug,
        "contest": audit.contest,
        "type": audit.kind,
        "risk_limit": audit.risk_limit,
        "status": audit.status,
        "finished": audit.finished,
        "log_size": audit.log_size,
        "reported": audit.reported,
        "reported_winners": audit.reported_winners,
        "stations": data["stations"],
        "ballots": audit.ballots,
        "total_error_bound": audit.total_error_bound,
        "manifest_sha256": audit.manifest_sha256,
        "seed": {
            "seed": ceremony.seed,
            "witnesses": ceremony.witnesses,
            "held_at": ceremony.held_at.isoformat(),
        }
        if ceremony
        else None,
        "rounds": rounds,
        "discrepancies": data["discrepancies"],
        "progress": report.progress_table(audit),
        "report_url": _url("portal:audit_report", election, audit),
        "pdf_url": _url("portal:audit_pdf", election, audit),
    }


@router.get("/{slug}/audits/{int:audit_id}/sample", response={200: SampleOut, **errors(404)})
def audit_sample(request: HttpRequest, slug: str, audit_id: int) -> dict[str, Any]:
    """The sample as published: the seed, the rule, the manifest (its text and SHA-256) and
    every draw; each round's ``first_draw`` and ``size`` are the ``--first`` and ``--draws``
    with which ``secki audit-sample`` redoes it from the seed and the manifest alone."""
    election, audit = _audit(slug, audit_id)
    ceremony = getattr(audit, "ceremony", None)
    draws = [
        {
            "draw": d.number,
            "round": d.round.number,
            "ticket": d.ticket,
            "station": d.row.station.code,
            "ballot": d.ballot,
        }
        for d in Draw.objects.filter(audit=audit)
        .select_related("row__station", "round")
        .order_by("number")
    ]
    return {
        "audit": audit.pk,
        "seed": ceremony.seed if ceremony else None,
        "rule": sampling.RULE,
        "manifest_sha256": audit.manifest_sha256,
        "manifest_url": _url("portal:audit_manifest", election, audit),
        "manifest_csv": actions.manifest_bytes(audit).decode("utf-8"),
        "rounds": [
            {"round": r.number, "first_draw": r.first_draw, "size": r.size}
            for r in audit.rounds.filter(kind="sample").order_by("number")
        ],
        "draws": draws,
    }
