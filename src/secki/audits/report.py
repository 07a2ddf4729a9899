"""What the public audit page, the report and its CSV/JSON show (no pages here)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Count
from django.utils.translation import gettext as _

from secki.audits import actions, manifest, sampling
from secki.audits.models import Audit, AuditKind, BoardAssignment, Draw, RoundKind, Task
from secki.elections.models import Election
from secki.stats.bravo import bravo_sample_size
from secki.stats.macro import macro_initial_sample_size

RISK_LIMITS = (0.01, 0.05, 0.10, 0.20)


@dataclass(frozen=True)
class Expected:
    risk_limit: float
    stations: int | None  # MACRO draws
    ballots: int | None  # BRAVO draws


def calculator(election: Election) -> tuple[dict[str, int], list[Expected]]:
    """The expected first-round work for several risk limits, from the published results."""
    rep = manifest.reported(election)
    totals = rep.totals()
    if not rep.codes or len(rep.candidates) < 2:
        return totals, []
    winners = manifest.winners_of(totals, 1)
    if any(totals[w] <= totals[c] for w in winners for c in rep.candidates if c not in winners):
        return totals, []
    big_u = float(manifest.error_bounds(rep, winners).sum())
    ballots = int(rep.ballots.sum())
    out = []
    for alpha in RISK_LIMITS:
        stations = macro_initial_sample_size(big_u, alpha=alpha) if big_u > 1 else None
        try:
            polled: int | None = bravo_sample_size(totals, alpha=alpha, total_ballots=ballots).asn
        except ValueError:
            polled = None
        out.append(Expected(alpha, stations, polled))
    return totals, out


def summary(audit: Audit) -> dict[str, Any]:
    """Everything the report shows, as plain JSON values."""
    ceremony = getattr(audit, "ceremony", None)
    rounds = []
    for r in audit.rounds.all():
        tasks = list(r.tasks.all())
        rounds.append(
            {
                "number": r.number,
                "kind": r.kind,
                "size": r.size,
                "first_draw": r.first_draw,
                "stations": len(tasks),
                "counted": sum(1 for t in tasks if t.agreed is not None),
                "risk": r.risk,
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "figures": r.figures,
            }
        )
    return {
        "audit": audit.pk,
        "election": audit.election.slug,
        "contest": audit.contest,
        "type": audit.kind,
        "risk_limit": audit.risk_limit,
        "status": audit.status,
        "log_size": audit.log_size,
        "manifest_sha256": audit.manifest_sha256,
        "stations": audit.manifest.count(),
        "ballots": audit.ballots,
        "reported": audit.reported,
        "reported_winners": audit.reported_winners,
        "total_error_bound": audit.total_error_bound,
        "rule": sampling.RULE,
        "seed": ceremony.seed if ceremony else None,
        "witnesses": ceremony.witnesses if ceremony else [],
        "seed_entered_at": ceremony.held_at.isoformat() if ceremony else None,
        "rounds": rounds,
        "draws": [
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
        ],
        "discrepancies": actions.discrepancies(audit),
    }


def draws_csv(audit: Audit) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["draw", "round", "ticket", "station", "ballot", "audited"])
    agreed: dict[tuple[int, int], Any] = {}
    for t in Task.objects.filter(round__audit=audit, round__kind=RoundKind.SAMPLE):
        agreed[(t.round_id, t.row_id)] = t.agreed
    counted: dict[int, Any] = {}
    for (_round, row_id), value in agreed.items():
        if value is not None:
            counted.setdefault(row_id, {}).update(value)
    for d in (
        Draw.objects.filter(audit=audit).select_related("row__station", "round").order_by("number")
    ):
        value = counted.get(d.row_id)
        if value is None:
            shown = ""
        elif audit.kind == AuditKind.BRAVO:
            shown = value.get(str(d.ballot)) or "none"
        else:
            shown = " ".join(f"{k}={v}" for k, v in value.items())
        writer.writerow(
            [d.number, d.round.number, d.ticket, d.row.station.code, d.ballot or "", shown]
        )
    return out.getvalue().encode("utf-8")


def progress(audit: Audit) -> list[dict[str, Any]]:
    """Per constituency: the current round's stations and how many are agreed."""
    round_ = audit.rounds.order_by("-number").first()
    if round_ is None:
        return []
    groups: dict[str, dict[str, Any]] = {}
    for t in round_.tasks.select_related("row__station"):
        g = groups.setdefault(
            t.row.constituency, {"constituency": t.row.constituency, "tasks": [], "agreed": 0}
        )
        g["tasks"].append(t)
        g["agreed"] += t.agreed is not None
    return [groups[k] for k in sorted(groups, key=lambda c: (len(c), c))]


def _constituency_order(code: str) -> tuple[int, str]:
    return (len(code), code)


def progress_table(audit: Audit, *, members: bool = False) -> list[dict[str, Any]]:
    """Per constituency, each round and the total: stations sampled, counted once (one entry
    waiting for the second), reconciled (two matching entries) and discrepancies (reconciled
    stations whose hand count differs from the reported protocol; ``None`` for ballot
    polling's sampled ballots, which have no station total to compare). ``members``: add the
    user names of the board members assigned to each round (for the staff pages)."""
    rounds = list(audit.rounds.order_by("number"))
    kinds = {r.pk: r for r in rounds}
    candidates = list(audit.reported)
    cells: dict[str, dict[int, dict[str, Any]]] = {}
    for task in (
        Task.objects.filter(round__audit=audit)
        .select_related("row")
        .annotate(entry_count=Count("entries"))
    ):
        r = kinds[task.round_id]
        comparable = not (r.kind == RoundKind.SAMPLE and audit.kind == AuditKind.BRAVO)
        cell = cells.setdefault(task.row.constituency, {}).setdefault(
            r.number,
            {
                "round": r.number,
                "sampled": 0,
                "counted_once": 0,
                "reconciled": 0,
                "discrepancies": 0 if comparable else None,
            },
        )
        cell["sampled"] += 1
        if task.agreed is not None:
            cell["reconciled"] += 1
            if comparable and any(
                int(task.agreed.get(c, 0)) != int(task.row.votes.get(c, 0)) for c in candidates
            ):
                cell["discrepancies"] += 1
        elif task.entry_count % 2 == 1:
            cell["counted_once"] += 1
    assigned: dict[tuple[str, int], list[str]] = {}
    if members:
        for a in BoardAssignment.objects.filter(round__audit=audit).select_related(
            "member", "round"
        ):
            assigned.setdefault((a.constituency, a.round.number), []).append(
                a.member.get_username()
            )
    out = []
    for code in sorted(cells, key=_constituency_order):
        per_round = [cells[code][n] for n in sorted(cells[code])]
        if members:
            for cell in per_round:
                cell["members"] = sorted(assigned.get((code, cell["round"]), []))
        known = [c["discrepancies"] for c in per_round if c["discrepancies"] is not None]
        total = {
            "sampled": sum(c["sampled"] for c in per_round),
            "counted_once": sum(c["counted_once"] for c in per_round),
            "reconciled": sum(c["reconciled"] for c in per_round),
            "discrepancies": sum(known) if known else None,
        }
        out.append({"constituency": code, "rounds": per_round, "total": total})
    return out


def report_json(audit: Audit) -> bytes:
    """The report's figures as published at ``report.json`` (the bytes the report's SHA-256
    is taken of)."""
    body = json.dumps(summary(audit), ensure_ascii=False, indent=1, sort_keys=True)
    return body.encode("utf-8")


def report_rounds(audit: Audit, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each round of the report: its sample (draws, stations and ballots drawn), the
    discrepancies found in it (reported vs audited per candidate), the measured risk and the
    decision it led to."""
    by_round: dict[int, list[dict[str, Any]]] = {}
    for d in data["discrepancies"]:
        by_round.setdefault(int(d["round"]), []).append(d)
    ballots_drawn: dict[int, int] = {}
    for d in data["draws"]:
        if d["ballot"] is not None:
            ballots_drawn[int(d["round"])] = ballots_drawn.get(int(d["round"]), 0) + 1
    out = []
    for r in data["rounds"]:
        figures: dict[str, Any] = r["figures"] or {}
        out.append(
            {
                **r,
                "ballots_drawn": ballots_drawn.get(r["number"]),
                "discrepancies": by_round.get(r["number"], []),
                "outcome": figures.get("status"),
                "next_size": figures.get("next_size"),
                "escalate": bool(figures.get("escalate")),
            }
        )
    return out


def status_sentence(status: str) -> str:
    """What an audit's status (or the status a round left) means, in words."""
    texts = {
        "confirmed": _("The hand counts confirm the reported outcome within the risk limit."),
        "confirmed_full": _("A full hand count confirms the reported outcome."),
        "overturned": _("A full hand count gives another outcome than the one reported."),
        "full_count": _(
            "The sample did not confirm the outcome: every station is being counted by hand."
        ),
        "counting": _("A round is being counted."),
        "seeded": _("Waiting for the next round."),
    }
    return texts.get(status, _("Waiting for the seed ceremony."))
