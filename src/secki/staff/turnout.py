"""Turnout pages for officials and observers: the station operator's phone form, the
overview, the tracking list of stations that have not reported, anomaly flags, bulk upload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext, gettext_noop

from secki.accounts.access import GRANTS, AccessDenied, Permission, authorize, can
from secki.accounts.models import Membership, Role
from secki.bundle.read import MAX_UPLOAD_BYTES
from secki.elections.models import Election, Station, Unit
from secki.errors import IntakeError
from secki.results import anomalies as flags
from secki.results.turnout import turnout_summary
from secki.staff.common import account
from secki.turnout import tracking
from secki.turnout.actions import parse_voters, report_turnout
from secki.turnout.bulk import accept_csv
from secki.turnout.models import TurnoutReport
from secki.turnout.territory import Territory, territory


def denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    return render(request, "turnout/denied.html", {"message": exc.message}, status=403)


@dataclass(frozen=True)
class ElectionLinks:
    election: Election
    stations: list[Station]  # stations this user reports for (station operators)
    report: bool  # may report for more than single stations (constituency, CEC)
    view: bool  # may see anomaly flags


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The user's elections and what they may do there; a station operator with one station
    goes straight to its form."""
    user = account(request)
    if user.is_superuser:
        rows = [ElectionLinks(e, [], True, True) for e in Election.objects.all()]
    else:
        by_election: dict[int, list[Membership]] = {}
        for m in Membership.objects.filter(user=user).select_related("election", "station"):
            by_election.setdefault(m.election_id, []).append(m)
        rows = []
        for ms in by_election.values():
            grants = [(m, GRANTS[Role(m.role)]) for m in ms]
            stations = [
                m.station
                for m, g in grants
                if m.station is not None and Permission.REPORT_TURNOUT in g
            ]
            wide = any(Permission.REPORT_TURNOUT in g and m.station is None for m, g in grants)
            view = any(Permission.VIEW_UNPUBLISHED in g for _, g in grants)
            if stations or wide or view:
                rows.append(ElectionLinks(ms[0].election, stations, wide, view))
    single = len(rows) == 1 and len(rows[0].stations) == 1 and not rows[0].report
    if single and "all" not in request.GET:
        only = rows[0]
        return redirect("turnout:report", slug=only.election.slug, code=only.stations[0].code)
    return render(request, "turnout/index.html", {"rows": rows})


def _election(slug: str) -> Election:
    return get_object_or_404(Election, slug=slug)


@login_required
def overview(request: HttpRequest, slug: str) -> HttpResponse:
    """Turnout of the whole election and of its sub-units at every report time."""
    election = _election(slug)
    if not can(request.user, election, Permission.VIEW_UNPUBLISHED):
        return denied(request, AccessDenied("forbidden_role", "your role does not show this"))
    unit = None
    code = request.GET.get("unit", "").strip()
    if code:
        unit = get_object_or_404(Unit, election=election, code=code)
    data = turnout_summary(election, unit, public=False)
    return render(request, "turnout/overview.html", {"election": election, "summary": data})


@login_required
def find_station(request: HttpRequest, slug: str) -> HttpResponse:
    election = _election(slug)
    code = request.GET.get("code", "").strip()
    station = Station.objects.filter(election=election, code=code).first() if code else None
    if station is None:
        if code:
            messages.error(
                request,
                gettext("No station %(code)s in %(election)s.")
                % {"code": repr(code), "election": election.name},
            )
        return redirect(reverse("turnout:index") + "?all=1")
    return redirect("turnout:report", slug=election.slug, code=station.code)


def _default_time(election: Election, current: dict[str, TurnoutReport]) -> str:
    for t in election.turnout_times:
        if t not in current:
            return str(t)
    return str(election.turnout_times[-1])


@login_required
def report(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    """One station's form: pick the report time, type one number, send; a different number
    for a time already reported is a correction and needs a reason."""
    election = _election(slug)
    station = get_object_or_404(
        Station.objects.select_related("unit"), election=election, code=code
    )
    try:
        authorize(request.user, election, Permission.REPORT_TURNOUT, station)
    except AccessDenied as exc:
        return denied(request, exc)
    error: IntakeError | None = None
    form = {"time": "", "voters": "", "reason": ""}
    status = 200
    if request.method == "POST":
        form = {k: request.POST.get(k, "").strip() for k in form}
        try:
            voters = parse_voters(form["voters"])
            saved = report_turnout(
                election,
                station,
                form["time"],
                voters,
                actor=request.user,
                source="form",
                reason=form["reason"],
            )
        except IntakeError as exc:
            error, status = exc, exc.status
        except AccessDenied as exc:
            return denied(request, exc)
        else:
            values = {"voters": f"{saved.voters:,}", "time": saved.time}
            if saved.version > 1:
                text = (
                    gettext("Correction saved: %(voters)s voters at %(time)s (late).")
                    if saved.late
                    else gettext("Correction saved: %(voters)s voters at %(time)s.")
                )
            else:
                text = (
                    gettext("Saved: %(voters)s voters at %(time)s (late).")
                    if saved.late
                    else gettext("Saved: %(voters)s voters at %(time)s.")
                )
            messages.success(request, text % values)
            return redirect("turnout:report", slug=election.slug, code=station.code)
    history = list(TurnoutReport.objects.filter(station=station).order_by("time", "-version"))
    current = {r.time: r for r in history if r.is_current}
    selected = form["time"] or _default_time(election, current)
    buttons = [
        {"time": t, "report": current.get(t), "selected": t == selected}
        for t in election.turnout_times
    ]
    return render(
        request,
        "turnout/report.html",
        {
            "election": election,
            "station": station,
            "buttons": buttons,
            "history": history,
            "form": form,
            "error": error,
            "needs_reason": error is not None and error.code == "reason_required",
            "registered": station.registered,
        },
        status=status,
    )


def _territory_or_denied(
    request: HttpRequest, election: Election, permission: Permission
) -> Territory | HttpResponse:
    try:
        return territory(request.user, election, permission)
    except AccessDenied as exc:
        return denied(request, exc)


@login_required
def missing(request: HttpRequest, slug: str) -> HttpResponse:
    """Stations of the user's territory that have not reported for a report time."""
    election = _election(slug)
    area = _territory_or_denied(request, election, Permission.REPORT_TURNOUT)
    if isinstance(area, HttpResponse):
        return area
    time = request.GET.get("time", "")
    if time not in election.turnout_times:
        time = tracking.latest_time(election)
    units = tracking.constituencies(election, area)
    code = request.GET.get("unit", "")
    unit = next((u for u in units if u.code == code), None)
    rows = tracking.missing(election, time, area, unit)
    return render(
        request,
        "turnout/missing.html",
        {
            "election": election,
            "time": time,
            "units": units,
            "unit": unit,
            "rows": rows,
        },
    )


def _anomaly_request(
    request: HttpRequest, slug: str
) -> tuple[Election, flags.Report, list[flags.Flag], dict[str, Any]] | HttpResponse:
    election = _election(slug)
    area = _territory_or_denied(request, election, Permission.VIEW_UNPUBLISHED)
    if isinstance(area, HttpResponse):
        return area
    params = {k: request.GET.get(k, "").strip() for k in ("kind", "unit", "jump", "k")}
    try:
        settings = flags.settings_from(
            float(params["jump"]) if params["jump"] else None,
            float(params["k"]) if params["k"] else None,
        )
    except (ValueError, IntakeError):
        settings = flags.Settings()
        params["jump"] = params["k"] = ""
    unit = (
        Unit.objects.filter(election=election, code=params["unit"]).first()
        if params["unit"]
        else None
    )
    kind = params["kind"] if params["kind"] in flags.KINDS else None
    report = flags.anomalies(election, settings)
    shown = flags.visible(report, area, kind, unit.path if unit else None)
    return election, report, shown, {"params": params, "settings": settings, "unit": unit}


@login_required
def anomalies(request: HttpRequest, slug: str) -> HttpResponse:
    answer = _anomaly_request(request, slug)
    if isinstance(answer, HttpResponse):
        return answer
    election, report, shown, extra = answer
    counts = dict.fromkeys(flags.KINDS, 0)
    for f in shown:
        counts[f.kind] += 1
    rows = [
        {
            "flag": f,
            "station": report.stations[f.station],
            "unit": report.units.get(report.stations[f.station].unit_id),
            "label": flags.KIND_LABELS[f.kind],
        }
        for f in shown
    ]
    query = request.GET.urlencode()
    return render(
        request,
        "turnout/anomalies.html",
        {
            "election": election,
            "rows": rows,
            "counts": [(k, flags.KIND_LABELS[k], counts[k]) for k in flags.KINDS],
            "kinds": [(k, flags.KIND_LABELS[k]) for k in flags.KINDS],
            "units": sorted(
                (u for u in report.units.values() if u.kind == "constituency"),
                key=lambda u: (u.number or 0, u.code),
            ),
            "csv_url": reverse("turnout:anomalies_csv", args=[election.slug])
            + (f"?{query}" if query else ""),
            **extra,
        },
    )


@login_required
def anomalies_csv(request: HttpRequest, slug: str) -> HttpResponse:
    answer = _anomaly_request(request, slug)
    if isinstance(answer, HttpResponse):
        return answer
    election, report, shown, _ = answer
    response = HttpResponse(flags.to_csv(report, shown), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{election.slug}-turnout-anomalies.csv"'
    )
    return response


@login_required
def bulk(request: HttpRequest, slug: str) -> HttpResponse:
    """Upload a turnout.csv: all rows are stored, or none, with every bad line listed."""
    election = _election(slug)
    area = _territory_or_denied(request, election, Permission.REPORT_TURNOUT)
    if isinstance(area, HttpResponse):
        return area
    error: IntakeError | None = None
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise IntakeError(
                    "invalid_file", gettext_noop("choose a file to upload"), field="file"
                )
            if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
                raise IntakeError(
                    "invalid_file",
                    gettext_noop("the file is larger than %(mb)s MB"),
                    params={"mb": MAX_UPLOAD_BYTES // 2**20},
                    field="file",
                )
            outcome = accept_csv(election, upload, actor=request.user, source="bulk")
        except IntakeError as exc:
            error, status = exc, exc.status
        except AccessDenied as exc:
            return denied(request, exc)
        else:
            messages.success(
                request,
                gettext("Stored %(total)s reports (%(corrected)s of them corrections).")
                % {"total": f"{outcome.total:,}", "corrected": f"{outcome.corrected:,}"},
            )
            return redirect("turnout:bulk", slug=election.slug)
    return render(
        request, "turnout/bulk.html", {"election": election, "error": error}, status=status
    )
