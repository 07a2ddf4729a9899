"""Officials' home page and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from secki.accounts import actions
from secki.accounts.access import Permission, can
from secki.accounts.models import ApiToken, Membership, Role
from secki.accounts.users import User
from secki.elections.models import Election, ElectionStatus
from secki.elections.names import local
from secki.errors import IntakeError
from secki.protocols.models import Protocol, ProtocolStatus
from secki.staff.common import account, has_role, refuse, staff_view, territory


@dataclass
class Desk:
    """One election on the dashboard: the user's roles there and the pages they may use."""

    election: Election
    roles: list[str] = field(default_factory=list)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (url, label, note)


def desk(user: User, election: Election, roles: list[str]) -> Desk:
    """Every task the user's roles allow in ``election``, each a link (the pages check the
    role and territory again); an observer is offered nothing that changes a result."""
    d = Desk(election, roles)
    slug = election.slug
    is_open = election.status == ElectionStatus.OPEN

    def may(permission: Permission) -> bool:
        return has_role(user, election, permission)

    if may(Permission.ENTER_PROTOCOL) and is_open:
        note = (
            _("double entry: a second operator keys each protocol") if election.double_entry else ""
        )
        d.links.append((reverse("staff:enter", args=[slug]), _("Enter a protocol"), note))
        if not election.double_entry:
            d.links.append(
                (reverse("staff:upload", args=[slug]), _("Upload a protocols.csv file"), "")
            )
    if may(Permission.REPORT_TURNOUT) and is_open:
        d.links.append((reverse("turnout:index"), _("Report turnout"), ""))
    if may(Permission.RECONCILE):
        waiting = Protocol.objects.filter(
            election=election,
            is_current=True,
            status=ProtocolStatus.QUARANTINED,
            station__in=territory(user, election, Permission.RECONCILE),
        ).count()
        d.links.append(
            (
                reverse("staff:reconcile", args=[slug]),
                _("Reconciliation queue"),
                _("%(n)s waiting") % {"n": waiting},
            )
        )
    if may(Permission.VIEW_UNPUBLISHED):
        changes = [
            label
            for permission, label in (
                (Permission.AMEND_PROTOCOL, _("amend")),
                (Permission.ANNUL_PROTOCOL, _("annul")),
                (Permission.PUBLISH, _("publish")),
            )
            if is_open and may(permission)
        ]
        note = ", ".join([*changes, _("history")])
        d.links.append((reverse("staff:stations", args=[slug]), _("Stations and protocols"), note))
    whole = can(user, election, Permission.VIEW_UNPUBLISHED)  # the election-wide pages
    if whole:
        d.links.append((reverse("turnout:overview", args=[slug]), _("Turnout overview"), ""))
    if may(Permission.REPORT_TURNOUT):
        d.links.append(
            (reverse("turnout:missing", args=[slug]), _("Stations missing a turnout report"), "")
        )
    if may(Permission.VIEW_UNPUBLISHED):
        d.links.append((reverse("turnout:anomalies", args=[slug]), _("Turnout anomalies"), ""))
    if whole:
        d.links.append(
            (
                reverse("integrity:overview", args=[slug]),
                _("Integrity"),
                _("forensics, parallel vote tabulation, exit polls"),
            )
        )
    if may(Permission.MANAGE_ELECTION):
        d.links.append(
            (
                reverse("staff:settings", args=[slug]),
                _("Election settings"),
                _("double entry, publication of results, outcome rules"),
            )
        )
    if may(Permission.MANAGE_ELECTION):
        d.links.append(
            (
                reverse("observers:overview", args=[slug]),
                _("Observers' accreditation"),
                _("applications, decisions, badges, revocations"),
            )
        )
        d.links.append(
            (
                reverse("observers:dashboard", args=[slug]),
                _("Observers' dashboard"),
                _("accreditations, protocol copies, contradictions, webcam outages"),
            )
        )
        d.links.append(
            (
                reverse("observers:webcams", args=[slug]),
                _("Webcam registry"),
                _("streams, operators, health"),
            )
        )
    manage = may(Permission.MANAGE_ELECTION)
    if manage or may(Permission.ENTER_AUDIT_COUNT):
        note = _("set-up, seed ceremony, rounds") if manage else _("hand counts of the sample")
        d.links.append((reverse("audits:index", args=[slug]), _("Risk-limiting audits"), note))
    return d


@staff_view
def dashboard(request: HttpRequest) -> HttpResponse:
    user = account(request)
    roles: dict[int, list[str]] = {}
    elections: dict[int, Election] = {}
    mine = Membership.objects.filter(user_id=user.pk).select_related("election", "unit", "station")
    for m in mine:
        scope = (
            _("station %(code)s") % {"code": m.station.code}
            if m.station
            else f"{local(m.unit)} ({m.unit.code})"
            if m.unit
            else _("whole election")
        )
        roles.setdefault(m.election_id, []).append(f"{m.get_role_display()} — {scope}")
        elections[m.election_id] = m.election
    if getattr(user, "is_superuser", False):
        for election in Election.objects.all():
            elections.setdefault(election.pk, election)
            roles.setdefault(election.pk, []).insert(0, _("Superuser — every role everywhere"))
    desks = [desk(user, e, roles[pk]) for pk, e in elections.items()]
    show_audit = getattr(user, "is_superuser", False) or any(m.role == Role.CEC_ADMIN for m in mine)
    return render(request, "staff/dashboard.html", {"desks": desks, "show_audit": show_audit})


@staff_view
def tokens(request: HttpRequest) -> HttpResponse:
    """List, create and revoke the user's own API tokens; a new key is shown once."""
    user = account(request)
    context: dict[str, Any] = {"tokens": ApiToken.objects.filter(user_id=user.pk).order_by("-id")}
    if request.method != "POST":
        return render(request, "staff/tokens.html", context)
    name = request.POST.get("name", "").strip()
    try:
        token, raw = actions.issue_token(user, name, request=request)
    except IntakeError as problem:
        return refuse(request, "staff/tokens.html", {**context, "name": name}, problem)
    context.update(created=token, raw=raw)
    response = render(request, "staff/tokens.html", context, status=201)
    response["Cache-Control"] = "no-store"
    return response


@staff_view
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm (revoking is permanent); POST revokes."""
    user = account(request)
    token = get_object_or_404(ApiToken, pk=pk, user_id=user.pk)
    if request.method != "POST":
        return render(request, "staff/revoke_token.html", {"token": token})
    if actions.revoke_token(user, token, request=request):
        messages.success(
            request,
            _("Token “%(name)s” revoked; it no longer opens the API.") % {"name": token.name},
        )
    return redirect("staff:tokens")
