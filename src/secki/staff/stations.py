"""A station's protocol for officials: the current version, every version, the full event
history (who, when, old and new values, reason), the scans of the paper protocol with their
upload form, and the amend / annul / publish forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_POST

from secki.accounts.access import AccessDenied, Permission, authorize, can
from secki.elections.models import Election, ElectionStatus, Station
from secki.errors import IntakeError
from secki.protocols import actions, scans
from secki.protocols.data import ProtocolData
from secki.protocols.models import (
    COUNTED_STATUSES,
    EventKind,
    Protocol,
    ProtocolEvent,
    ProtocolSource,
    ProtocolStatus,
)
from secki.staff.common import (
    election_or_404,
    refuse,
    require_role,
    staff_view,
    station_or_404,
    territory,
)
from secki.staff.entry import check_url
from secki.staff.lines import Sheet


@dataclass(frozen=True)
class Change:
    code: str
    old: str
    new: str


@dataclass
class HistoryRow:
    event: ProtocolEvent
    changes: list[Change] = field(default_factory=list)  # amendments: the lines that changed
    values: list[tuple[str, str]] = field(default_factory=list)  # what was keyed / accepted
    hidden: bool = False  # an entry while the other entry is still to be keyed (blind)
    note: str = ""


def _strings(sheet: Sheet, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or "counts" not in raw:
        return {}
    shown = sheet.strings(ProtocolData.from_json(raw))
    return {k: v.replace("T", " ") for k, v in shown.items()}


def history(sheet: Sheet, station: Station) -> list[HistoryRow]:
    rows = []
    events = (
        ProtocolEvent.objects.filter(station=station)
        .select_related("actor", "protocol")
        .order_by("id")
    )
    for event in events:
        row = HistoryRow(event)
        old, new = _strings(sheet, event.old), _strings(sheet, event.new)
        if event.kind == EventKind.ENTRY and event.protocol.status == ProtocolStatus.FIRST_ENTRY:
            row.hidden = True  # the second operator must key the paper without seeing this
        elif event.kind == EventKind.AMENDED:
            row.changes = [
                Change(code, old.get(code, "—"), new.get(code, "—"))
                for code in sheet.codes
                if old.get(code) != new.get(code)
            ]
        elif event.kind == EventKind.ANNULLED:
            values = {"ref": event.protocol.decision_ref, "reason": event.protocol.reason}
            row.note = (
                gettext(
                    "decision %(ref)s: %(reason)s; the numbers stay on record and leave the totals"
                )
                if event.protocol.reason
                else gettext("decision %(ref)s; the numbers stay on record and leave the totals")
            ) % values
        if new and not row.hidden and not row.changes:
            row.values = [(code, new[code]) for code in sheet.codes if code in new]
        rows.append(row)
    return rows


def current_protocol(station: Station) -> Protocol | None:
    return (
        Protocol.objects.filter(station=station, is_current=True)
        .select_related("station", "election")
        .first()
    )


def station_context(request: HttpRequest, election: Election, station: Station) -> dict[str, Any]:
    """What the station page shows (also when it is shown again with a refused upload)."""
    user = request.user
    authorize(user, election, Permission.VIEW_UNPUBLISHED, station)
    sheet = Sheet.of(election)
    versions = list(
        Protocol.objects.filter(station=station).select_related("created_by").order_by("version")
    )
    current = next((p for p in versions if p.is_current), None)
    shown: dict[str, str] = {}
    if current is not None and current.status not in (
        ProtocolStatus.FIRST_ENTRY,
        ProtocolStatus.QUARANTINED,
    ):
        shown = {
            code: value.replace("T", " ")
            for code, value in sheet.strings(actions.protocol_data(current)).items()
        }
    is_open = election.status == ElectionStatus.OPEN
    counted = current is not None and current.status in COUNTED_STATUSES

    def may(permission: Permission) -> bool:
        return can(user, election, permission, station)

    return {
        "election": election,
        "station": station,
        "current": current,
        "versions": versions,
        "fields": sheet.fields(shown) if shown else [],
        "act_codes": sheet.act_codes,
        "history": history(sheet, station),
        "scans": scans.visible_scans(station, public=False),
        "scan_max": scans.megabytes(scans.max_bytes()),
        "can_scan": is_open and current is not None and may(Permission.ENTER_PROTOCOL),
        "can_enter": is_open
        and (current is None or current.status == ProtocolStatus.FIRST_ENTRY)
        and may(Permission.ENTER_PROTOCOL),
        "can_amend": is_open and counted and may(Permission.AMEND_PROTOCOL),
        "can_annul": is_open and counted and may(Permission.ANNUL_PROTOCOL),
        "can_publish": is_open
        and current is not None
        and current.status == ProtocolStatus.ACCEPTED
        and may(Permission.PUBLISH),
        "can_reconcile": current is not None
        and current.status == ProtocolStatus.QUARANTINED
        and may(Permission.RECONCILE),
    }


@staff_view
def station_page(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    election = election_or_404(slug)
    station = station_or_404(election, code)
    return render(request, "staff/station.html", station_context(request, election, station))


@require_POST
@staff_view
def upload_scan(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    """The scan of the station's paper protocol, from the form on the station page."""
    election = election_or_404(slug)
    station = station_or_404(election, code)
    user = request.user
    require_role(user, election, Permission.ENTER_PROTOCOL)
    try:
        scan = scans.upload_scan(
            election, station, request.FILES.get("file"), actor=user, source=ProtocolSource.FORM
        )
    except IntakeError as exc:  # AccessDenied: the refusal page of staff_view
        context = {**station_context(request, election, station), "scan_problem": True}
        return refuse(request, "staff/station.html", context, exc)
    messages.success(
        request,
        gettext(
            "Station %(station)s: scan %(number)s (%(type)s, %(size)s bytes) stored for protocol "
            "version %(version)s; SHA-256 %(sha256)s published in ledger entry #%(seq)s."
        )
        % {
            "station": station.code,
            "number": scan.number,
            "type": scan.get_content_type_display(),
            "size": f"{scan.size:,}",
            "version": scan.protocol.version,
            "sha256": scan.sha256,
            "seq": scan.ledger.seq,
        },
    )
    return redirect("staff:station", slug=election.slug, code=station.code)


def _counted_or_refuse(station: Station, what: str) -> Protocol:
    current = current_protocol(station)
    if current is None or current.status not in COUNTED_STATUSES:
        raise IntakeError(
            f"nothing_to_{what}",
            gettext_noop("station %(station)s has no accepted protocol to amend")
            if what == "amend"
            else gettext_noop("station %(station)s has no accepted protocol to annul"),
            params={"station": station.code},
            status=409,
        )
    return current


@staff_view
def amend(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    election = election_or_404(slug)
    station = station_or_404(election, code)
    user = request.user
    require_role(user, election, Permission.AMEND_PROTOCOL)
    authorize(user, election, Permission.AMEND_PROTOCOL, station)
    current = _counted_or_refuse(station, "amend")
    sheet = Sheet.of(election)

    def context(values: dict[str, str], reason: str, act: str) -> dict[str, Any]:
        return {
            "election": election,
            "station": station,
            "current": current,
            "sheet": sheet,
            "fields": sheet.fields(values),
            "reason": reason,
            "act": act,
            "check_url": check_url(election),
        }

    if request.method != "POST":
        values = sheet.strings(actions.protocol_data(current))
        return render(request, "staff/amend.html", context(values, "", ""))
    values = sheet.posted(request.POST)
    reason = request.POST.get("reason", "").strip()
    act = request.POST.get("act", "").strip()
    try:
        data = sheet.parse(values)
        outcome = actions.amend_protocol(
            station, data, actor=user, reason=reason, source=ProtocolSource.FORM, act=act or None
        )
    except (IntakeError, AccessDenied) as exc:
        return refuse(request, "staff/amend.html", context(values, reason, act), exc)
    messages.success(
        request,
        gettext("Station %(station)s: version %(version)s (%(status)s) replaces version %(old)s.")
        % {
            "station": station.code,
            "version": outcome.protocol.version,
            "status": outcome.protocol.get_status_display().lower(),
            "old": current.version,
        },
    )
    return redirect("staff:station", slug=election.slug, code=station.code)


@staff_view
def annul(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    election = election_or_404(slug)
    station = station_or_404(election, code)
    user = request.user
    require_role(user, election, Permission.ANNUL_PROTOCOL)
    authorize(user, election, Permission.ANNUL_PROTOCOL, station)
    current = _counted_or_refuse(station, "annul")
    context: dict[str, Any] = {"election": election, "station": station, "current": current}
    if request.method != "POST":
        return render(request, "staff/annul.html", context)
    decision_ref = request.POST.get("decision_ref", "").strip()
    reason = request.POST.get("reason", "").strip()
    context.update(decision_ref=decision_ref, reason=reason)
    try:
        protocol = actions.annul_protocol(
            station, actor=user, decision_ref=decision_ref, reason=reason
        )
    except (IntakeError, AccessDenied) as exc:
        return refuse(request, "staff/annul.html", context, exc)
    messages.success(
        request,
        gettext(
            "Station %(station)s: results annulled by decision %(ref)s (version %(version)s); "
            "they stay on record and leave the totals."
        )
        % {"station": station.code, "ref": protocol.decision_ref, "version": protocol.version},
    )
    return redirect("staff:station", slug=election.slug, code=station.code)


@require_POST
@staff_view
def publish(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    election = election_or_404(slug)
    station = station_or_404(election, code)
    require_role(request.user, election, Permission.PUBLISH)
    current = current_protocol(station)
    if current is None:
        raise IntakeError(
            "no_protocol",
            gettext_noop("station %(station)s has no protocol"),
            params={"station": station.code},
            status=404,
        )
    protocol = actions.publish_protocol(current, actor=request.user)
    messages.success(
        request,
        gettext("Station %(station)s: version %(version)s published.")
        % {"station": station.code, "version": protocol.version},
    )
    return redirect("staff:station", slug=election.slug, code=station.code)


@staff_view
def station_list(request: HttpRequest, slug: str) -> HttpResponse:
    """The stations of the user's territory with the status of their current protocol."""
    election = election_or_404(slug)
    user = request.user
    require_role(user, election, Permission.VIEW_UNPUBLISHED)
    current = Protocol.objects.filter(station=OuterRef("pk"), is_current=True)
    stations = (
        territory(user, election, Permission.VIEW_UNPUBLISHED)
        .select_related("unit")
        .annotate(
            status=Subquery(current.values("status")[:1]),
            version=Subquery(current.values("version")[:1]),
        )
        .order_by("position")
    )
    query = request.GET.get("q", "").strip()
    if query:
        stations = stations.filter(code__startswith=query)
    status = request.GET.get("status", "")
    if status == "none":
        stations = stations.filter(status__isnull=True)
    elif status in ProtocolStatus.values:
        stations = stations.filter(status=status)
    page = Paginator(stations, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "staff/stations.html",
        {
            "election": election,
            "page": page,
            "q": query,
            "status": status,
            "statuses": [("none", gettext("no protocol")), *ProtocolStatus.choices],
            "status_labels": dict(ProtocolStatus.choices),
        },
    )
