"""The CEC administrator's election settings page: double entry, when preliminary results go
public, and the outcome rules (spec/domain.md §5: majority, plurality, proportional seats,
referendum quorums, minimum turnout). Every change goes through
:func:`secki.accounts.actions.change_election` (role, validation, audit record, public ledger
fact); the page only turns the form's fields into the settings' values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secki.accounts import actions
from secki.accounts.access import AccessDenied, Permission
from secki.elections.models import (
    Election,
    MajorityBase,
    Publication,
    SeatMethod,
    SeatScope,
    WinRule,
)
from secki.errors import IntakeError
from secki.staff.common import account, election_or_404, refuse, require_role, staff_view

#: the proportional, referendum and turnout rules (issue 19): a POST without them keeps them
RULE_OPTIONS = frozenset(
    {
        "seat_method",
        "seats",
        "seat_scope",
        "threshold",
        "threshold_scope",
        "min_turnout",
        "approval_quorum",
    }
)
#: the page's fields, in the order of the form; percentages are shown and typed as 0-100
SWITCHES = ("double_entry", "auto_publish")
PERCENTS = (
    "publication_share",
    "invalid_station_share",
    "threshold",
    "min_turnout",
    "approval_quorum",
)

PUBLICATION_LABELS = {
    Publication.IMMEDIATELY: gettext_lazy("As soon as protocols are published"),
    Publication.SHARE: gettext_lazy("Once a share of the stations is counted"),
    Publication.TIME: gettext_lazy("From a given time"),
}
WIN_RULE_LABELS = {
    WinRule.ABSOLUTE_MAJORITY: gettext_lazy("Absolute majority, else a runoff"),
    WinRule.PLURALITY: gettext_lazy("Plurality: most votes wins"),
    WinRule.PROPORTIONAL: gettext_lazy("Proportional: seats among the lists"),
    WinRule.REFERENDUM: gettext_lazy("Referendum: option 1 yes, option 2 no"),
}
SEAT_METHOD_LABELS = {
    SeatMethod.DHONDT: gettext_lazy("D'Hondt"),
    SeatMethod.SAINTE_LAGUE: gettext_lazy("Sainte-Laguë"),
    SeatMethod.HARE: gettext_lazy("Largest remainder, Hare quota"),
}
SCOPE_LABELS = {
    SeatScope.NATIONAL: gettext_lazy("national"),
    SeatScope.DISTRICT: gettext_lazy("per district"),
}
BASE_LABELS = {
    MajorityBase.VALID: gettext_lazy("valid votes"),
    MajorityBase.CAST: gettext_lazy("ballots cast (in the boxes)"),
    MajorityBase.PARTICIPANTS: gettext_lazy("voters who received a ballot"),
}


def _percent(value: Decimal) -> str:
    return f"{(Decimal(value) * 100).normalize():f}"


def _local(value: dt.datetime | None, election: Election) -> str:
    """An instant as a ``datetime-local`` input's value, in the election's time zone."""
    if value is None:
        return ""
    return timezone.localtime(value, election.tz).strftime("%Y-%m-%dT%H:%M")


def form_values(election: Election) -> dict[str, Any]:
    return {
        "double_entry": election.double_entry,
        "auto_publish": election.auto_publish,
        "publication": election.publication,
        "publication_share": _percent(election.publication_share),
        "publication_at": _local(election.publication_at, election),
        "win_rule": election.win_rule,
        "majority_base": election.majority_base,
        "runoff_size": str(election.runoff_size),
        "invalid_station_share": _percent(election.invalid_station_share),
        "seat_method": election.seat_method,
        "seats": str(election.seats),
        "seat_scope": election.seat_scope,
        "threshold": _percent(election.threshold),
        "threshold_scope": election.threshold_scope,
        "min_turnout": _percent(election.min_turnout),
        "approval_quorum": _percent(election.approval_quorum),
    }


def changes_from(post: Any, election: Election) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the form shows again, the settings to change) from a POST; a value that is not
    a number or a time is refused naming its field."""
    shown: dict[str, Any] = {name: post.get(name, "").strip() for name in form_values(election)}
    for name in SWITCHES:
        shown[name] = post.get(name) == "on"
    changes: dict[str, Any] = {name: shown[name] for name in SWITCHES}
    for name in (
        "publication",
        "win_rule",
        "majority_base",
        "runoff_size",
        "seat_method",
        "seats",
        "seat_scope",
        "threshold_scope",
    ):
        if name in RULE_OPTIONS and name not in post:
            shown[name] = form_values(election)[name]  # a form without the field keeps it
            continue
        changes[name] = shown[name]
    for name in PERCENTS:
        if name in RULE_OPTIONS and name not in post:
            shown[name] = form_values(election)[name]
            continue
        try:
            share = Decimal(shown[name] or "0") / 100
        except InvalidOperation:
            raise IntakeError(
                "invalid_value",
                _("%(name)s: a percentage from 0 to 100") % {"name": name},
                field=name,
            ) from None
        changes[name] = str(share)
    at = shown["publication_at"]
    if at:
        try:
            local = dt.datetime.fromisoformat(at)
        except ValueError:
            raise IntakeError(
                "invalid_value",
                _("publication_at: a date and time (YYYY-MM-DD HH:MM)"),
                field="publication_at",
            ) from None
        changes["publication_at"] = local.replace(tzinfo=election.tz).isoformat()
    else:
        changes["publication_at"] = None
    return shown, changes


@staff_view
def election_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """Show and change the election's settings (MANAGE_ELECTION: the CEC administrator)."""
    election = election_or_404(slug)
    user = account(request)
    require_role(user, election, Permission.MANAGE_ELECTION)
    context: dict[str, Any] = {
        "election": election,
        "values": form_values(election),
        "publication_labels": PUBLICATION_LABELS,
        "win_rule_labels": WIN_RULE_LABELS,
        "base_labels": BASE_LABELS,
        "seat_method_labels": SEAT_METHOD_LABELS,
        "scope_labels": SCOPE_LABELS,
    }
    if request.method != "POST":
        return render(request, "staff/settings.html", context)
    try:
        shown, changes = changes_from(request.POST, election)
        context["values"] = shown
        changed = actions.change_election(user, election, request=request, **changes)
    except (IntakeError, AccessDenied) as exc:
        return refuse(request, "staff/settings.html", context, exc)
    if changed:
        messages.success(
            request,
            _("Settings changed: %(names)s. The change is in the audit trail and the public log.")
            % {"names": ", ".join(changed)},
        )
    else:
        messages.info(request, _("Nothing changed."))
    return redirect("staff:settings", slug=election.slug)
