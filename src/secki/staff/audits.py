"""The officials' audit pages: set-up (CEC administrators), the seed ceremony and the rounds,
retrieval lists per constituency, and the audit boards' blind entry of a station's count on a
phone. Every write goes through :mod:`secki.audits.actions`; a refusal is shown beside the
form with the values kept."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from secki.accounts.access import AccessDenied, Permission, can
from secki.accounts.models import Membership, Role
from secki.accounts.users import account_of
from secki.audits import actions, report
from secki.audits.models import Audit, AuditKind, BoardAssignment, RoundKind, Task
from secki.errors import IntakeError
from secki.staff.common import election_or_404, refuse, staff_view

SETUP_FIELDS = ("kind", "risk_limit", "contest", "max_rounds")


def _audit(slug: str, audit_id: int) -> Audit:
    return get_object_or_404(
        Audit.objects.select_related("election"), pk=audit_id, election__slug=slug
    )


def _whole(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 12 else 0


@staff_view
def index(request: HttpRequest, slug: str) -> HttpResponse:
    """The election's audits; the set-up form for CEC administrators."""
    election = election_or_404(slug)
    manage = can(request.user, election, Permission.MANAGE_ELECTION)
    if not manage and not actions.is_board(request.user, election):
        raise AccessDenied(
            "forbidden_role", _("audits are run by CEC administrators and audit boards")
        )
    form = {"kind": "macro", "risk_limit": "5 %", "contest": election.name, "max_rounds": "3"}
    context: dict[str, Any] = {
        "election": election,
        "audits": Audit.objects.filter(election=election).order_by("-id"),
        "manage": manage,
        "form": form,
        "kinds": AuditKind.choices,
    }
    if request.method == "POST":
        form.update({k: request.POST.get(k, "") for k in SETUP_FIELDS})
        try:
            audit = actions.create_audit(
                election,
                actor=request.user,
                kind=form["kind"],
                risk_limit=form["risk_limit"],
                contest=form["contest"],
                max_rounds=form["max_rounds"],
                request=request,
            )
        except (IntakeError, AccessDenied) as exc:
            return refuse(request, "staff/audits/index.html", context, exc)
        messages.success(request, _("Audit set up; its manifest is fixed and published."))
        return redirect("audits:audit", slug=slug, audit_id=audit.pk)
    return render(request, "staff/audits/index.html", context)


def _audit_context(request: HttpRequest, audit: Audit) -> dict[str, Any]:
    election = audit.election
    round_ = audit.rounds.order_by("-number").first()
    board = actions.is_board(request.user, election)
    manage = can(request.user, election, Permission.MANAGE_ELECTION)
    me = account_of(request.user)
    mine: set[str] = set()
    assignments: list[BoardAssignment] = []
    if round_ is not None:
        assignments = list(BoardAssignment.objects.filter(round=round_).select_related("member"))
        mine = {a.constituency for a in assignments if me is not None and a.member_id == me.pk}
    return {
        "progress_table": report.progress_table(audit, members=manage or board),
        "assignments": assignments,
        "mine": mine,
        "members": sorted(
            Membership.objects.filter(election=election, role=Role.AUDIT_BOARD)
            .values_list("user__username", flat=True)
            .distinct()
        )
        if manage
        else [],
        "assign_form": {"constituency": "", "member": ""},
        "election": election,
        "audit": audit,
        "ceremony": getattr(audit, "ceremony", None),
        "round": round_,
        "rounds": list(audit.rounds.all()),
        "progress": report.progress(audit),
        "manage": manage,
        "board": board,
        "next_size": actions.next_round_size(audit)
        if audit.status in ("seeded",) and hasattr(audit, "ceremony")
        else None,
        "form": {"seed": "", "witnesses": ""},
    }


@staff_view
def audit_page(request: HttpRequest, slug: str, audit_id: int) -> HttpResponse:
    """Seed ceremony, rounds, retrieval lists per constituency and the board's work."""
    audit = _audit(slug, audit_id)
    context = _audit_context(request, audit)
    if not context["manage"] and not context["board"]:
        raise AccessDenied(
            "forbidden_role", _("audits are run by CEC administrators and audit boards")
        )
    if request.method == "POST":
        step = request.POST.get("step")
        try:
            if step == "seed":
                context["form"] = {k: request.POST.get(k, "") for k in ("seed", "witnesses")}
                actions.enter_seed(
                    audit,
                    actor=request.user,
                    seed=context["form"]["seed"],
                    witnesses=context["form"]["witnesses"],
                    request=request,
                )
                messages.success(request, _("Seed recorded; it is a public fact now."))
            elif step == "round":
                round_ = actions.start_round(audit, actor=request.user, request=request)
                messages.success(request, _("Round %(number)s drawn.") % {"number": round_.number})
            elif step == "assign":
                context["assign_form"] = {
                    k: request.POST.get(k, "") for k in ("constituency", "member")
                }
                current = context["round"]
                if current is None:
                    raise IntakeError("no_round", _("no round has been drawn yet"), field="round")
                actions.assign_board(
                    current,
                    actor=request.user,
                    constituency=context["assign_form"]["constituency"],
                    member=context["assign_form"]["member"],
                    request=request,
                )
                messages.success(request, _("Board member assigned."))
            elif step == "unassign":
                assignment = BoardAssignment.objects.filter(
                    pk=_whole(request.POST.get("assignment")), round__audit=audit
                ).first()
                if assignment is None:
                    raise IntakeError(
                        "invalid_value", _("assignment: not found"), field="assignment"
                    )
                actions.unassign_board(assignment, actor=request.user, request=request)
                messages.success(request, _("Assignment withdrawn."))
            else:
                raise IntakeError("invalid_value", _("step: unknown"), field="step")
        except (IntakeError, AccessDenied) as exc:
            return refuse(request, "staff/audits/audit.html", context, exc)
        return redirect("audits:audit", slug=slug, audit_id=audit.pk)
    return render(request, "staff/audits/audit.html", context)


@staff_view
def count(request: HttpRequest, slug: str, audit_id: int, task_id: int) -> HttpResponse:
    """A board member's blind entry of one station of the current round."""
    audit = _audit(slug, audit_id)
    task = get_object_or_404(
        Task.objects.select_related("row__station", "round__audit__election"),
        pk=task_id,
        round__audit=audit,
    )
    actions.authorize_counter(request.user, task)
    ballots = task.round.kind == RoundKind.SAMPLE and audit.kind == AuditKind.BRAVO
    candidates = list(audit.reported)
    if ballots:
        values: dict[str, str] = {str(b): "" for b in task.ballots}
    else:
        values = dict.fromkeys([*candidates, actions.INVALID], "")
    context: dict[str, Any] = {
        "election": audit.election,
        "audit": audit,
        "task": task,
        "ballots": ballots,
        "candidates": candidates,
        "values": values,
    }
    if task.agreed is not None:
        raise Http404(_("this station's count is already agreed"))
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in values}
        context["values"] = values
        try:
            outcome = actions.enter_count(task, values, actor=request.user, request=request)
        except (IntakeError, AccessDenied) as exc:
            return refuse(request, "staff/audits/count.html", context, exc)
        texts = {
            "first": _("Entry saved. A second member of the board enters the same count."),
            "agreed": _("Both entries agree: the station's count is recorded."),
            "mismatch": _("The two entries differ: count the station again (two new entries)."),
        }
        messages.success(request, texts[outcome])
        return redirect("audits:audit", slug=slug, audit_id=audit.pk)
    return render(request, "staff/audits/count.html", context)
