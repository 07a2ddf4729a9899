"""The reconciliation queue: quarantined protocols (the two entries differ, or they fail a
hard check) with both entries side by side; a supervisor takes entry 1, entry 2 or the values
re-read from the paper, always with a reason, through ``resolve_protocol``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_lazy

from secki.accounts.access import AccessDenied, Permission, authorize
from secki.errors import IntakeError
from secki.protocol_schema import CheckResult
from secki.protocols import actions
from secki.protocols.data import ProtocolData
from secki.protocols.models import Protocol, ProtocolEntry, ProtocolStatus
from secki.staff.common import (
    election_or_404,
    refuse,
    require_role,
    staff_view,
    station_or_404,
    territory,
)
from secki.staff.lines import Field, Sheet

CHOICES = {
    "1": gettext_lazy("entry 1"),
    "2": gettext_lazy("entry 2"),
    "typed": gettext_lazy("the corrected values typed below"),
}


@dataclass(frozen=True)
class Case:
    """One quarantined protocol as the supervisor sees it."""

    protocol: Protocol
    first: ProtocolEntry
    second: ProtocolEntry
    fields: list[Field]
    first_failures: list[CheckResult]
    second_failures: list[CheckResult]

    @property
    def differing(self) -> list[Field]:
        return [f for f in self.fields if f.differs]

    @property
    def failing(self) -> list[tuple[str, str]]:
        """Each check failed by either entry, once, with its message."""
        seen: dict[str, str] = {}
        for r in [*self.first_failures, *self.second_failures]:
            seen.setdefault(r.code, r.message)
        return list(seen.items())


def readable(values: dict[str, str]) -> dict[str, str]:
    """Form strings for reading: ``2024-02-07 21:30`` rather than ``2024-02-07T21:30``."""
    return {code: value.replace("T", " ") for code, value in values.items()}


def _failures(protocol: Protocol, data: ProtocolData) -> list[CheckResult]:
    return [r for r in actions.run_checks(protocol.election, protocol.station, data) if r.failed]


def case_of(sheet: Sheet, protocol: Protocol, values: dict[str, str] | None = None) -> Case:
    entries = {e.round: e for e in protocol.entries.select_related("operator")}
    if 1 not in entries or 2 not in entries:
        raise Http404(f"station {protocol.station.code} has no two entries to reconcile")
    first, second = entries[1], entries[2]
    a, b = ProtocolData.from_json(first.data), ProtocolData.from_json(second.data)
    shown_a, shown_b = sheet.strings(a), sheet.strings(b)
    if values is None:  # the corrected values start from what both operators agree on
        values = {k: v for k, v in shown_a.items() if shown_b.get(k) == v}
    return Case(
        protocol,
        first,
        second,
        sheet.fields(values, first=readable(shown_a), second=readable(shown_b)),
        _failures(protocol, a),
        _failures(protocol, b),
    )


@staff_view
def queue(request: HttpRequest, slug: str) -> HttpResponse:
    election = election_or_404(slug)
    user = request.user
    require_role(user, election, Permission.RECONCILE)
    protocols = (
        Protocol.objects.filter(
            election=election,
            is_current=True,
            status=ProtocolStatus.QUARANTINED,
            station__in=territory(user, election, Permission.RECONCILE),
        )
        .select_related("station", "election")
        .order_by("received_at", "id")
    )
    page = Paginator(protocols, 25).get_page(request.GET.get("page"))
    sheet = Sheet.of(election)
    cases = [case_of(sheet, p) for p in page.object_list]
    return render(
        request,
        "staff/reconcile_queue.html",
        {"election": election, "page": page, "cases": cases},
    )


@staff_view
def decide(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    election = election_or_404(slug)
    station = station_or_404(election, code)
    user = request.user
    require_role(user, election, Permission.RECONCILE)
    authorize(user, election, Permission.RECONCILE, station)
    protocol = (
        Protocol.objects.filter(station=station, is_current=True)
        .select_related("station", "election")
        .first()
    )
    if protocol is None or (
        request.method != "POST" and protocol.status != ProtocolStatus.QUARANTINED
    ):
        raise Http404(f"station {station.code} is not in the reconciliation queue")
    sheet = Sheet.of(election)

    def context(case: Case, choice: str, reason: str, act: str) -> dict[str, Any]:
        return {
            "election": election,
            "station": station,
            "case": case,
            "sheet": sheet,
            "choices": CHOICES,
            "choice": choice,
            "reason": reason,
            "act": act,
        }

    if request.method != "POST":
        blank = context(case_of(sheet, protocol), "", "", "")
        return render(request, "staff/reconcile_decide.html", blank)
    values = sheet.posted(request.POST)
    case = case_of(sheet, protocol, values)
    choice = request.POST.get("choice", "")
    reason = request.POST.get("reason", "").strip()
    act = request.POST.get("act", "").strip()
    try:
        if choice in ("1", "2"):
            entry = case.first if choice == "1" else case.second
            data = ProtocolData.from_json(entry.data)
            act = act or str(entry.data.get("act") or "")
        elif choice == "typed":
            data = sheet.parse(values)
        else:
            raise IntakeError(
                "choice_required",
                "choose entry 1, entry 2 or the corrected values",
                status=400,
                field="choice",
            )
        outcome = actions.resolve_protocol(
            protocol, data, actor=user, reason=reason, act=act or None
        )
    except (IntakeError, AccessDenied) as exc:
        return refuse(
            request, "staff/reconcile_decide.html", context(case, choice, reason, act), exc
        )
    messages.success(
        request,
        gettext("Station %(station)s: %(choice)s accepted (%(status)s).")
        % {
            "station": station.code,
            "choice": CHOICES[choice],
            "status": outcome.protocol.get_status_display().lower(),
        },
    )
    return redirect("staff:reconcile", slug=election.slug)
