"""The public side of observers: the registry of accredited organisations with observer counts
by territory, the badge check page the badge's QR code opens, and the table of observers'
protocol copies against the official protocols (with CSV and JSON)."""

from __future__ import annotations

import json
from collections import defaultdict

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from secki.accounts.access import Permission, can
from secki.elections.models import Election, Unit
from secki.observers import actions, compare
from secki.observers.models import Accreditation, ApplicationStatus, Organisation
from secki.opendata import published
from secki.portal.views import withheld_text


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
        name = units[a.unit_id].name if a.unit_id else _("whole election")
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
