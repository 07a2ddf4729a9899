"""The protocol entry form: one paper protocol keyed by a station or constituency operator
(or a CEC administrator), checked live while typing, stored by ``submit_protocol``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext

from secki.accounts.access import AccessDenied, Permission, authorize
from secki.accounts.users import User
from secki.elections.models import Election, ElectionStatus, Station
from secki.errors import IntakeError
from secki.inputs import clean_text, storable
from secki.protocols import actions
from secki.protocols.models import COUNTED_STATUSES, Protocol, ProtocolSource, ProtocolStatus
from secki.staff.common import (
    election_or_404,
    refuse,
    require_role,
    staff_view,
    station_in,
    territory,
)
from secki.staff.lines import Sheet

#: above this many stations the form asks for a code instead of offering a list
SELECT_LIMIT = 3000


def check_url(election: Election) -> str:
    """The JSON API's protocols-check endpoint (evaluates the checks, stores nothing)."""
    return reverse("api:api-root") + f"elections/{election.slug}/protocols-check"


def outcome_message(protocol: Protocol) -> str:
    """What happened to a submission, in the words of the state machine."""
    code = protocol.station.code
    if protocol.status == ProtocolStatus.FIRST_ENTRY:
        return gettext(
            "Station %(station)s: entry 1 stored. Another operator must key the same paper "
            "protocol (entry 2) before it counts."
        ) % {"station": code}
    if protocol.status == ProtocolStatus.QUARANTINED:
        return gettext(
            "Station %(station)s: entry 2 stored and compared — quarantined (%(reason)s). "
            "A supervisor decides in the reconciliation queue."
        ) % {"station": code, "reason": protocol.quarantine_reason}
    values = {
        "station": code,
        "status": protocol.get_status_display().lower(),
        "version": protocol.version,
        "flags": ", ".join(protocol.soft_failures),
    }
    if protocol.soft_failures:
        return (
            gettext(
                "Station %(station)s: protocol %(status)s (version %(version)s). "
                "Flagged by soft checks: %(flags)s."
            )
            % values
        )
    return gettext("Station %(station)s: protocol %(status)s (version %(version)s).") % values


def station_choices(election: Election, user: User) -> tuple[list[tuple[Station, str]], bool]:
    """The stations the user may key, each with its current protocol status; ``True`` when
    there are too many to list (the form then asks for the code)."""
    stations = territory(user, election, Permission.ENTER_PROTOCOL).order_by("position")
    count = stations.count()
    if count > SELECT_LIMIT:
        return [], True
    status = dict(
        Protocol.objects.filter(station__in=stations, is_current=True).values_list(
            "station_id", "status"
        )
    )
    labels = dict(ProtocolStatus.choices)
    return [
        (s, str(labels.get(status.get(s.pk, ""), gettext("no protocol yet"))).lower())
        for s in stations
    ], False


def accepted_protocol(election: Election, code: str, user: User) -> Protocol | None:
    """The current counted protocol of a station of the user's territory, if it has one: the
    form says so at the top (a new protocol is then refused; a change is an amendment)."""
    if not code or len(code) > 64 or not storable(code):  # refused by the form's own check
        return None
    return (
        Protocol.objects.filter(
            election=election,
            station__in=territory(user, election, Permission.ENTER_PROTOCOL).filter(code=code),
            is_current=True,
            status__in=COUNTED_STATUSES,
        )
        .select_related("station")
        .first()
    )


@staff_view
def enter(request: HttpRequest, slug: str) -> HttpResponse:
    election = election_or_404(slug)
    user = request.user
    require_role(user, election, Permission.ENTER_PROTOCOL)
    sheet = Sheet.of(election)
    choices, too_many = station_choices(election, user)

    def context(values: dict[str, str], station: str, act: str) -> dict[str, Any]:
        return {
            "election": election,
            "sheet": sheet,
            "fields": sheet.fields(values),
            "choices": choices,
            "too_many": too_many,
            "selected": station,
            "act": act,
            "open": election.status == ElectionStatus.OPEN,
            "check_url": check_url(election),
            "accepted": accepted_protocol(election, station, user),
        }

    if request.method != "POST":
        selected = request.GET.get("station", "")
        if not selected and len(choices) == 1:
            selected = choices[0][0].code
        return render(request, "staff/enter.html", context({}, selected, ""))

    values = sheet.posted(request.POST)
    code = request.POST.get("station", "").strip()
    act = request.POST.get("act", "").strip()
    try:
        station = station_in(election, clean_text("station", code, 64))
        authorize(user, election, Permission.ENTER_PROTOCOL, station)
        data = sheet.parse(values)
        outcome = actions.submit_protocol(
            election, station, data, actor=user, source=ProtocolSource.FORM, act=act or None
        )
    except (IntakeError, AccessDenied) as exc:
        return refuse(request, "staff/enter.html", context(values, code, act), exc)
    messages.success(request, outcome_message(outcome.protocol))
    return redirect("staff:station", slug=election.slug, code=station.code)
