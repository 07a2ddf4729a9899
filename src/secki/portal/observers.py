"""The public side of observers: the registry of accredited organisations with observer counts
by territory, the badge check page the badge's QR code opens, and the table of observers'
protocol copies against the official protocols (with CSV and JSON)."""

from __future__ import annotations

import json
from collections import defaultdict

from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from secki.accounts.access import Permission, can
from secki.elections.models import Election, Station, Unit
from secki.elections.names import local
from secki.observers import actions, compare
from secki.observers.models import (
    Accreditation,
    ApplicationStatus,
    Organisation,
    ProtocolCopy,
    Webcam,
    WebcamOutage,
    WebcamStatus,
)
from secki.opendata import published
from secki.portal.http import sealed_file
from secki.portal.views import withheld_text
from secki.protocols.scans import visible_scans


def _election(slug: str) -> Election:
    return get_object_or_404(Election, slug=slug)


def _constituency(unit: Unit | None, units: dict[int, Unit]) -> Unit | None:
    """The unit just below the root holding ``unit`` (None: the whole election)."""
    while unit is not None and unit.parent_id is not None:
        parent = units[unit.parent_id]
        if parent.parent_id is None:
            return unit
        unit = parent
    return None


def registry(request: HttpRequest, slug: str) -> HttpResponse:
    """Accredited organisations (name, kind, territories, active observers) and the number of
    active observers by territory; no observer's name."""
    election = _election(slug)
    wanted = request.GET.get("check", "").strip()
    if wanted:
        return redirect("portal:observer_check", slug=election.slug, number=wanted[:32])
    on = actions.today(election)
    units = {u.id: u for u in Unit.objects.filter(election=election)}
    accreditations = list(
        Accreditation.objects.filter(election=election).select_related("organisation")
    )
    per_org: dict[int, int] = defaultdict(int)
    per_unit: dict[int | None, int] = defaultdict(int)
    revoked = 0
    for a in accreditations:
        if actions.is_active(a, on):
            per_org[a.organisation_id] += 1
            top = _constituency(units.get(a.unit_id) if a.unit_id else None, units)
            per_unit[top.id if top else None] += 1
        elif a.revoked_at is not None:
            revoked += 1
    organisations = list(
        Organisation.objects.filter(
            election=election, applications__status=ApplicationStatus.ACCEPTED
        )
        .distinct()
        .order_by("name")
    )
    territories: dict[int, list[str]] = defaultdict(list)
    for a in accreditations:
        name = local(units[a.unit_id]) if a.unit_id else _("whole election")
        if name not in territories[a.organisation_id]:
            territories[a.organisation_id].append(name)
    rows = [(o, per_org.get(o.pk, 0), territories.get(o.pk, [])) for o in organisations]
    by_unit = [
        (units[k] if k is not None else None, v)
        for k, v in sorted(
            per_unit.items(), key=lambda kv: (kv[0] is not None, units[kv[0]].path if kv[0] else "")
        )
    ]
    return render(
        request,
        "portal/observers.html",
        {
            "election": election,
            "section": "observers",
            "rows": rows,
            "by_unit": by_unit,
            "active": sum(per_org.values()),
            "revoked": revoked,
            "international": sum(n for o, n, _t in rows if o.kind == "international"),
        },
    )


def check(request: HttpRequest, slug: str, number: str) -> HttpResponse:
    """Whether accreditation ``number`` is valid, where and until when, or since when it is
    revoked: what the badge's QR code opens."""
    election = _election(slug)
    accreditation = (
        Accreditation.objects.filter(election=election, number=number[:32])
        .select_related("organisation", "unit")
        .first()
    )
    if accreditation is None:
        return render(
            request,
            "portal/observer_check.html",
            {"election": election, "section": "observers", "number": number[:32], "a": None},
            status=404,
        )
    on = actions.today(election)
    if accreditation.revoked_at is not None:
        state = "revoked"
    elif on < accreditation.valid_from:
        state = "not_yet"
    elif on > accreditation.valid_until:
        state = "expired"
    else:
        state = "valid"
    return render(
        request,
        "portal/observer_check.html",
        {
            "election": election,
            "section": "observers",
            "number": accreditation.number,
            "a": accreditation,
            "state": state,
            "show_name": actions.publishes_names(election),
        },
    )


def _comparison(request: HttpRequest, election: Election) -> compare.Comparison:
    """The table as the visitor may see it: the public compares with published protocols, and
    with none while the publication setting holds the results back (the published state)."""
    public = not can(request.user, election, Permission.VIEW_UNPUBLISHED)
    state = published.current(election.slug) if public else None
    withheld = state is not None and state.key[0] == election.pk and state.withheld
    return compare.compare(election, public=public, withheld=withheld)


def copies(request: HttpRequest, slug: str) -> HttpResponse:
    """Every station with an observer's copy: its mark, the lines that differ, by how much and
    in whose favour; counts by unit; ``?mark=`` filters."""
    election = _election(slug)
    comparison = _comparison(request, election)
    mark = request.GET.get("mark", "")
    if mark and mark not in compare.MARKS:
        raise Http404(mark[:40])
    shown = [s for s in comparison.stations if not mark or s.mark == mark]
    rows = [(s, comparison.favour_text(s)) for s in shown]
    return render(
        request,
        "portal/observer_copies.html",
        {
            "election": election,
            "section": "observers",
            "comparison": comparison,
            "rows": rows,
            "counts": comparison.counts(),
            "mark": mark,
            "marks": compare.MARKS,
            "withheld": withheld_text(election) if comparison.withheld else "",
        },
    )


def copies_csv(request: HttpRequest, slug: str) -> HttpResponse:
    election = _election(slug)
    response = HttpResponse(
        compare.as_csv(_comparison(request, election)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{election.slug}-observer-copies.csv"'
    return response


def copies_json(request: HttpRequest, slug: str) -> HttpResponse:
    election = _election(slug)
    body = json.dumps(compare.as_json(_comparison(request, election)), ensure_ascii=False)
    return HttpResponse(body, content_type="application/json")


# -- webcams' health ------------------------------------------------------------------------

#: webcams listed per page of the status page
WEBCAMS_PAGE = 100


def webcam_status(request: HttpRequest, slug: str) -> HttpResponse:
    """Every registered webcam with what the health check last found (up, down since, last
    seen), its open outage; ``?unit=`` (a territory) and ``?status=`` filter, 100 a page."""
    election = _election(slug)
    units = list(Unit.objects.filter(election=election).order_by("path", "position"))
    code = request.GET.get("unit", "")
    chosen = next((u for u in units if u.code == code), None) if code else None
    if code and chosen is None:
        raise Http404(_("There is no unit %(code)s in this election.") % {"code": code[:64]})
    status = request.GET.get("status", "")
    if status and status not in WebcamStatus.values:
        raise Http404(status[:40])
    webcams = Webcam.objects.filter(election=election).select_related("station")
    counts = dict.fromkeys(WebcamStatus.values, 0)
    for s, n in webcams.values_list("status").annotate(n=Count("id")):
        counts[s] = n
    if chosen is not None:
        webcams = webcams.filter(station__unit_path__startswith=chosen.path)
    if status:
        webcams = webcams.filter(status=status)
    page = Paginator(webcams.order_by("station__position", "id"), WEBCAMS_PAGE).get_page(
        request.GET.get("page")
    )
    open_since = dict(
        WebcamOutage.objects.filter(
            webcam__in=list(page.object_list), ended_at__isnull=True
        ).values_list("webcam_id", "started_at")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/webcam_status.html",
        {
            "election": election,
            "section": "webcams",
            "units": [u for u in units if u.parent_id is not None],
            "chosen": chosen,
            "status": status,
            "statuses": WebcamStatus.choices,
            "counts": counts,
            "rows": [(w, open_since.get(w.pk)) for w in page.object_list],
            "page": page,
            "page_query": f"{query.urlencode()}&" if query else "",
        },
    )


def webcam_detail(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    """One station's webcam: stream, recording, operator, status, its outages (start, end,
    length) and every change of status."""
    election = _election(slug)
    webcam = get_object_or_404(
        Webcam.objects.select_related("station"), election=election, station__code=code[:64]
    )
    return render(
        request,
        "portal/webcam_detail.html",
        {
            "election": election,
            "section": "webcams",
            "w": webcam,
            "outages": list(webcam.outages.all()[:200]),
            "changes": list(webcam.changes.order_by("-at", "-id")[:200]),
        },
    )


# -- a station's copies beside its official protocol ----------------------------------------


def copy_station(request: HttpRequest, slug: str, code: str) -> HttpResponse:
    """A station's observers' copies (numbers, photo and its SHA-256) beside the official
    protocol's numbers and scans (and theirs), line by line."""
    election = _election(slug)
    station = get_object_or_404(Station, election=election, code=code[:64])
    public = not can(request.user, election, Permission.VIEW_UNPUBLISHED)
    comparison = compare.station_comparison(election, station, public=public)
    if comparison is None:
        raise Http404(_("No observer's copy of this station."))
    photos = {
        c.organisation.name: c
        for c in ProtocolCopy.objects.filter(station=station, is_current=True).select_related(
            "organisation"
        )
    }
    order = compare.line_order(election)
    labels = {ln.code: _(ln.label) for ln in election.protocol_schema().lines}
    for c in election.candidates.all():
        labels[c.line_code] = c.name
    official = comparison.official or {}
    lines = [
        (
            code_,
            labels.get(code_, code_),
            official.get(code_),
            [
                (c.values.get(code_), any(d.code == code_ for d in c.diffs))
                for c in comparison.copies
            ],
        )
        for code_ in order
        if code_ in official or any(code_ in c.values for c in comparison.copies)
    ]
    return render(
        request,
        "portal/observer_station.html",
        {
            "election": election,
            "section": "observers",
            "station": station,
            "s": comparison,
            "lines": lines,
            "copies": [(c, photos.get(c.organisation)) for c in comparison.copies],
            "scans": visible_scans(station, public=public),
        },
    )


def copy_photo(request: HttpRequest, slug: str, code: str, pk: int) -> HttpResponseBase:
    """The photo of an observer's copy, public like the copy's numbers: always a download
    (shown by ``<img>``), sandboxed like a scan, its ETag its SHA-256."""
    copy = get_object_or_404(
        ProtocolCopy, election__slug=slug, station__code=code[:64], pk=pk, photo_sha256__gt=""
    )
    return sealed_file(
        request,
        copy.photo.name or "",
        sha256=copy.photo_sha256,
        filename=f"copy-{code[:64]}-{copy.photo_sha256[:12]}.{copy.photo.name.rsplit('.', 1)[-1]}",
        public=True,
    )
