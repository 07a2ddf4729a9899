"""Public results pages (server-rendered, live-updating, cacheable).

Every election page answers ``?part=live`` with just its live part (the figures that move),
which ``static/portal/live.js`` polls with ``If-None-Match``; see :mod:`secki.portal.http`
for the ETag and cache rules.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from secki.accounts.access import Permission, can
from secki.api.auth import user_from_request
from secki.elections.models import Election, Publication, Station, Unit, WinRule
from secki.elections.names import local
from secki.observers.compare import station_comparison
from secki.portal import maps, stationpage
from secki.portal.charts import SERIES_STYLES, Series, line_chart
from secki.portal.http import (
    PageState,
    election_page,
    keep_station_page,
    live_path,
    sealed_file,
)
from secki.portal.pages import (
    STATIONS_PAGE,
    TurnoutTable,
    ancestors,
    constituencies,
    sort_rows,
    station_detail,
    station_rows,
    unit_rows,
)
from secki.portal.templatetags.portal import num, pct
from secki.portal.verification import log_prefix, messages, station_hint, station_log
from secki.protocols import store as protocol_store
from secki.protocols.models import ProtocolScan
from secki.protocols.scans import is_public
from secki.results.rules import ElectionOutcome, contest_rules, decide, decide_contests
from secki.results.tabulate import Tabulation, UnitResult, tabulation
from secki.results.turnout import headline

log = logging.getLogger(__name__)

SEAT_METHODS = {
    "dhondt": gettext_lazy("D'Hondt"),
    "sainte_lague": gettext_lazy("Sainte-Laguë"),
    "hare": gettext_lazy("largest remainder (Hare quota)"),
}
BASES = {
    "valid": gettext_lazy("valid votes"),
    "cast": gettext_lazy("ballots cast"),
    "participants": gettext_lazy("voters who received a ballot"),
}
PROTOCOL_STATUS_LABELS = {
    "received": pgettext_lazy("protocol status", "received"),
    "first_entry": pgettext_lazy("protocol status", "first entry"),
    "second_entry": pgettext_lazy("protocol status", "second entry"),
    "quarantined": pgettext_lazy("protocol status", "in reconciliation"),
    "accepted": pgettext_lazy("protocol status", "accepted"),
    "published": pgettext_lazy("protocol status", "published"),
    "annulled": pgettext_lazy("protocol status", "annulled"),
}
EVENT_LABELS = {
    "entry": pgettext_lazy("protocol event", "entered"),
    "accepted": pgettext_lazy("protocol event", "accepted"),
    "quarantined": pgettext_lazy("protocol event", "sent to reconciliation"),
    "resolved": pgettext_lazy("protocol event", "resolved by a supervisor"),
    "amended": pgettext_lazy("protocol event", "amended"),
    "annulled": pgettext_lazy("protocol event", "annulled"),
    "published": pgettext_lazy("protocol event", "published"),
    "act_recorded": pgettext_lazy("protocol event", "commission act recorded"),
}
STATUS_LABELS = {
    "counted": gettext_lazy("counted"),
    "annulled": gettext_lazy("annulled"),
    "pending": gettext_lazy("being processed"),
    "none": gettext_lazy("not reported"),
}


def home(request: HttpRequest) -> HttpResponse:
    elections = list(Election.objects.all())
    if len(elections) == 1:
        return redirect("portal:election", slug=elections[0].slug)
    return render(request, "portal/home.html", {"elections": elections})


def language(request: HttpRequest, code: str) -> HttpResponse:
    """Switch the display language by a plain link (no form, so pages stay cacheable):
    remember ``code`` in the language cookie and go back to ``next``."""
    if code not in dict(settings.LANGUAGES):
        raise Http404(code)
    target = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    response = HttpResponseRedirect(target)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE or 365 * 24 * 3600,
        path=settings.LANGUAGE_COOKIE_PATH,
        samesite="Lax",
    )
    response["Cache-Control"] = "no-store"
    return response


# -- helpers -------------------------------------------------------------------------------


def _tab(state: PageState) -> Tabulation:
    """The published state's tabulation for the public, the live one for officials."""
    if state.published is not None:
        return state.published.tabulation()
    return tabulation(state.election, public=state.public)


def _page_context(request: HttpRequest, state: PageState, context: dict[str, Any]) -> None:
    """What every election page's context adds to the view's own."""
    path = live_path(request)
    context.update(
        {
            "election": state.election,
            "public": state.public,
            "live_url": path,
            "live_etag": state.etag(path),
            "as_of": state.published.as_of if state.published else None,
        }
    )


def _render(
    request: HttpRequest, state: PageState, page: str, part: str, context: dict[str, Any]
) -> HttpResponse:
    _page_context(request, state, context)
    return render(request, part if request.GET.get("part") == "live" else page, context)


def outcome_text(outcome: ElectionOutcome, national: UnitResult, election: Election) -> str:
    base = BASES.get(election.majority_base, election.majority_base)
    leader = national.leader
    t = national.totals
    if outcome.status == "invalid" and outcome.reason == "turnout":
        return _(
            "The election is invalid: turnout %(turnout)s is below the minimum of %(minimum)s."
        ) % {"turnout": pct(national.turnout), "minimum": pct(election.min_turnout * 100)}
    if outcome.status == "invalid":
        return _(
            "The election is invalid: results were annulled in more than %(share)s of the stations."
        ) % {"share": pct(election.invalid_station_share * 100, 0)}
    if outcome.status == "seats":
        return _("Seats allocated by %(method)s: %(seats)s.") % {
            "method": SEAT_METHODS.get(election.seat_method, election.seat_method),
            "seats": ", ".join(f"{r.candidate.name} {r.seats}" for r in outcome.seats if r.seats)
            or "—",
        }
    if outcome.status == "approved":
        return _("The referendum is approved: yes %(yes)s, no %(no)s.") % {
            "yes": num(outcome.yes),
            "no": num(outcome.no),
        }
    if outcome.status == "rejected":
        return _("The referendum is rejected: yes %(yes)s, no %(no)s.") % {
            "yes": num(outcome.yes),
            "no": num(outcome.no),
        }
    if outcome.status == "no_votes":
        return _("No results have been published yet.")
    if outcome.status == "tie":
        return _("The leading candidates are tied: the result cannot be decided by votes.")
    names = " · ".join(local(c) for c in outcome.runoff)
    if outcome.status == "winner" and outcome.winner and election.win_rule == WinRule.PLURALITY:
        return _("%(name)s is elected with the most votes.") % {"name": local(outcome.winner)}
    if outcome.status == "winner" and outcome.winner:
        return _("%(name)s is elected with more than half of the %(base)s.") % {
            "name": local(outcome.winner),
            "base": base,
        }
    if outcome.status == "runoff":
        return _("No candidate has more than half of the %(base)s: runoff between %(names)s.") % {
            "base": base,
            "names": names,
        }
    # pending: provisional figures, no verdict until every station is counted or annulled
    if outcome.annulled:
        counted = _(
            "Provisional: %(reported)s of %(total)s stations counted, %(annulled)s annulled."
        ) % {
            "reported": num(t.stations_reported),
            "total": num(t.stations_total),
            "annulled": num(outcome.annulled),
        }
    else:
        counted = _("Provisional: %(reported)s of %(total)s stations counted.") % {
            "reported": num(t.stations_reported),
            "total": num(t.stations_total),
        }
    if outcome.status != "pending":
        return counted
    wait = _("No verdict until every station is counted or annulled.")
    if outcome.leader and leader:
        return f"{counted} {wait} " + _("Most votes so far: %(name)s.") % {
            "name": local(outcome.leader)
        }
    return f"{counted} {wait}"


def withheld_text(election: Election) -> str:
    """What the public pages say while the publication setting holds results back."""
    if election.publication == Publication.SHARE:
        return _("Preliminary results are shown once %(share)s of the stations are counted.") % {
            "share": pct(election.publication_share * 100, 0)
        }
    if election.publication == Publication.TIME and election.publication_at is not None:
        when = timezone.localtime(election.publication_at, election.tz)
        return _("Preliminary results are shown from %(time)s.") % {
            "time": date_format(when, "DATETIME_FORMAT")
        }
    return _("No results have been published yet.")


def _sort_state(request: HttpRequest, n_candidates: int) -> tuple[str, bool]:
    key = request.GET.get("sort", "name")
    allowed = {"name", "registered", "reporting", "turnout", "leader"} | {
        f"c{i}" for i in range(1, n_candidates + 1)
    }
    if key not in allowed:
        key = "name"
    return key, request.GET.get("order") == "desc"


def _headers(
    request: HttpRequest, tab: Tabulation, key: str, desc: bool, stations: bool
) -> list[dict[str, Any]]:
    """Column headers of a children table, each a link that sorts by it (server-side, so
    sorting works without JavaScript and survives live updates)."""
    columns: list[tuple[str, Any]] = [
        ("name", _("Station") if stations else _("Unit")),
        ("reporting" if not stations else "registered", _("Reporting") if not stations else ""),
        ("registered", _("Registered voters")),
        ("turnout", _("Turnout")),
    ]
    if stations:
        columns[1] = ("", _("Status"))
    columns += [(f"c{c.number}", local(c)) for c in tab.candidates]
    columns.append(("leader", _("Leader")))
    out = []
    for column, label in columns:
        if not column:
            out.append({"label": label, "key": "", "href": None, "aria_sort": None})
            continue
        query = request.GET.copy()
        query.pop("part", None)
        query.pop("page", None)  # a new order starts at its first page
        query["sort"] = column
        query["order"] = "asc" if column == key and desc else "desc"
        if column == "name":
            query["order"] = "desc" if column == key and not desc else "asc"
        out.append(
            {
                "label": label,
                "key": column,
                "href": f"?{query.urlencode()}",
                "aria_sort": ("descending" if desc else "ascending") if column == key else None,
            }
        )
    return out


def _unit_context(request: HttpRequest, state: PageState, unit: Unit) -> dict[str, Any]:
    tab = _tab(state)
    result = tab.result(unit)
    n = len(tab.candidates)
    key, desc = _sort_state(request, n)
    children = sort_rows(unit_rows(tab, tab.children(unit)), key, desc, n)
    part = state.published.stations(unit.id) if state.published else None
    stations = sort_rows(station_rows(tab, unit, part), key, desc, n)
    # the unit's totals stay whole; its station rows are listed a page at a time
    page = Paginator(stations, STATIONS_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("part", None)
    is_root = unit.parent_id is None
    annulled = state.published.data.annulled_count if state.published else None
    figures = state.published.turnout_figures() if state.published else None
    outcome = (
        decide(
            state.election,
            result,
            annulled=annulled,
            districts=[tab.result(u) for u in tab.units.values() if u.seats is not None],
        )
        if is_root and not tab.withheld
        else None
    )
    contests = []
    if is_root and not tab.withheld:
        for decided in decide_contests(state.election, result, annulled=annulled):
            ruled = contest_rules(state.election, decided.contest)
            contests.append(
                {
                    "contest": decided.contest,
                    "result": decided.result,
                    "ranked": decided.result.ranked,
                    "outcome": decided.outcome,
                    "outcome_text": outcome_text(decided.outcome, decided.result, ruled),
                    "seat_method": SEAT_METHODS.get(ruled.seat_method, ""),
                    "threshold_pct": pct(ruled.threshold * 100, 1),
                }
            )
    return {
        "contests": contests,
        "withheld": withheld_text(state.election) if tab.withheld else "",
        "tab": tab,
        "unit": unit,
        "is_root": is_root,
        "result": result,
        "ranked": result.ranked,
        "outcome": outcome,
        "outcome_text": outcome_text(outcome, result, state.election) if outcome else "",
        "ballot_numbers": any(c.ballot_number is not None for c in tab.candidates),
        "seat_method": SEAT_METHODS.get(state.election.seat_method, ""),
        "threshold_pct": pct(state.election.threshold * 100, 1),
        "turnout_headline": headline(TurnoutTable(tab, figures).aggregate, unit),
        "base_label": BASES.get(state.election.majority_base, ""),
        "crumbs": ancestors(tab, unit),
        "children": children,
        "stations": page.object_list,
        "page": page,
        "page_query": f"{query.urlencode()}&" if query else "",
        "unit_headers": _headers(request, tab, key, desc, stations=False),
        "station_headers": _headers(request, tab, key, desc, stations=True),
        "status_labels": STATUS_LABELS,
        "section": "results",
        "candidates": tab.candidates,
    }


# -- pages ---------------------------------------------------------------------------------


@election_page
def election_results(request: HttpRequest, state: PageState) -> HttpResponse:
    tab = _tab(state)
    context = _unit_context(request, state, tab.root)
    return _render(request, state, "portal/unit.html", "portal/parts/unit_live.html", context)


@election_page
def unit_results(request: HttpRequest, state: PageState, code: str) -> HttpResponse:
    tab = _tab(state)
    unit = next((u for u in tab.units.values() if u.code == code), None)
    if unit is None:
        raise Http404(_("There is no unit %(code)s in this election.") % {"code": code})
    context = _unit_context(request, state, unit)
    return _render(request, state, "portal/unit.html", "portal/parts/unit_live.html", context)


@election_page
def station_page(request: HttpRequest, state: PageState, code: str) -> HttpResponse:
    found = protocol_store.station_versions(state.election.pk, code)
    if found is None:
        raise Http404(_("There is no station %(code)s in this election.") % {"code": code})
    station, protocols = found
    tab = _tab(state)
    part = state.published.stations(station.unit_id) if state.published else None
    detail = station_detail(tab, station, part, protocols)
    unit = tab.units[station.unit_id]
    context = {
        "tab": tab,
        "station": station,
        "unit": unit,
        "crumbs": [*ancestors(tab, unit), unit],
        "detail": detail,
        "result": detail.result,
        "ranked": detail.result.ranked if detail.result else [],
        "candidates": tab.candidates,
        "base_label": BASES.get(state.election.majority_base, ""),
        "section": "results",
        "protocol_labels": PROTOCOL_STATUS_LABELS,
        "event_labels": EVENT_LABELS,
        "copies": (
            None
            if tab.withheld  # the official figures are held back, and so is the comparison
            else station_comparison(state.election, station, public=state.public)
        ),
        "withheld": withheld_text(state.election) if tab.withheld else "",
    }
    if state.public:  # what the public log holds is what the public sees (never unpublished)
        context["log"] = station_log(state.election, station)
        context["log_site"] = log_prefix()
        context["log_hint"] = station_hint(state.election, station)
        context["log_messages"] = messages()
    _page_context(request, state, context)
    response = HttpResponse(  # written in Python, not by templates (secki.portal.stationpage)
        stationpage.part(context)
        if request.GET.get("part") == "live"
        else stationpage.page(request, context)
    )
    if not context["copies"] and not tab.withheld:  # copies are not in the published state
        keep_station_page(request, state, code, response)
    return response


@election_page
def verify_election(request: HttpRequest, state: PageState) -> HttpResponse:
    """Verify the whole election in the visitor's browser: every entry of the public log
    replayed in a Web Worker and the totals compared with the published results file."""
    context = {
        "election": state.election,
        "public": state.public,
        "section": "verify",
        "log_site": log_prefix(),
        "log_messages": messages(),
    }
    return render(request, "portal/verify_election.html", context)


def verify_guide(request: HttpRequest) -> HttpResponse:
    """How to verify: what each check proves and what it cannot, step by step."""
    context = {
        "elections": list(Election.objects.order_by("slug")),
        "log_url": request.build_absolute_uri(log_prefix()),
        "section": "guide",
    }
    return render(request, "portal/verify_guide.html", context)


def scan_file(request: HttpRequest, slug: str, code: str, number: int) -> HttpResponseBase:
    """The file of a station's scan ``number``: public once the protocol version it belongs to
    is published (or annulled); before that only to officials and observers who may see
    unpublished results (anyone else gets 404, as for a scan that does not exist). The ETag is
    the file's SHA-256, as published in the ledger. Served as an attachment with a sandboxing
    Content-Security-Policy and ``nosniff``."""
    scan = (
        ProtocolScan.objects.filter(election__slug=slug, station__code=code, number=number)
        .select_related("election", "station", "protocol")
        .first()
    )
    if scan is None:
        raise Http404(_("There is no such scan."))
    public = is_public(scan)
    if not public and not can(
        user_from_request(request), scan.election, Permission.VIEW_UNPUBLISHED, scan.station
    ):
        raise Http404(_("There is no such scan."))
    return sealed_file(
        request,
        scan.file.name or "",
        sha256=scan.sha256,
        filename=scan.download_name,
        public=public,
        content_type=scan.content_type,
    )


@election_page
def turnout_page(request: HttpRequest, state: PageState) -> HttpResponse:
    tab = _tab(state)
    code = request.GET.get("unit")
    unit = tab.root
    if code:
        found = next((u for u in tab.units.values() if u.code == code), None)
        if found is None:
            raise Http404(_("There is no unit %(code)s in this election.") % {"code": code})
        unit = found
    table = TurnoutTable(tab, state.published.turnout_figures() if state.published else None)
    national = table.series(tab.root)
    series = [Series(local(tab.root), [p.percent for p in national])]
    chosen = table.series(unit)
    if unit.id != tab.root.id:
        series.append(Series(local(unit), [p.percent for p in chosen]))
    children = tab.children(unit)
    rows = [(child, table.series(child)) for child in children]
    final = tab.result(unit)
    chart = line_chart(
        table.times,
        series,
        title=_("Turnout by report time"),
        description=_(
            "Cumulative turnout at each report time: voters who received a ballot over the "
            "registered voters of the stations that reported."
        ),
    )
    context = {
        "tab": tab,
        "unit": unit,
        "crumbs": ancestors(tab, unit),
        "times": table.times,
        "points": chosen,
        "national": national,
        "series": series,
        "series_legend": [
            (SERIES_STYLES[i % len(SERIES_STYLES)][0], s.label) for i, s in enumerate(series)
        ],
        "chart": chart,
        "section": "turnout",
        "rows": rows,
        "final": final,
    }
    return _render(request, state, "portal/turnout.html", "portal/parts/turnout_live.html", context)


@election_page
def webcams_page(request: HttpRequest, state: PageState) -> HttpResponse:
    """The webcam registry: every filmed station of the election with its stream's address
    when known, optionally only those of one unit's territory (``?unit=<code>``)."""
    election = state.election
    units = list(Unit.objects.filter(election=election).order_by("position", "id"))
    by_id = {u.id: u for u in units}
    filmed = list(Station.objects.filter(election=election, webcam=True).order_by("position", "id"))
    code = request.GET.get("unit", "")
    chosen = next((u for u in units if u.code == code), None) if code else None
    if code and chosen is None:
        raise Http404(_("There is no unit %(code)s in this election.") % {"code": code})
    holding: set[int] = set()  # units with a filmed station in their territory
    for s in filmed:
        unit: Unit | None = by_id[s.unit_id]
        while unit is not None and unit.id not in holding:
            holding.add(unit.id)
            unit = by_id.get(unit.parent_id) if unit.parent_id else None
    shown = [s for s in filmed if chosen is None or s.unit_path.startswith(chosen.path)]
    page = Paginator(shown, WEBCAMS_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "election": election,
        "public": state.public,
        "section": "webcams",
        "units": [u for u in units if u.id in holding and u.parent_id is not None],
        "chosen": chosen,
        "rows": [(s, by_id[s.unit_id]) for s in page.object_list],
        "page": page,
        "page_query": f"{query.urlencode()}&" if query else "",
        "filmed": len(filmed),
        "total": Station.objects.filter(election=election).count(),
        "with_address": sum(1 for s in shown if s.webcam_link),
        "published": sum(1 for s in filmed if s.webcam_link),
    }
    return render(request, "portal/webcams.html", context)


#: filmed stations listed per page of the webcam registry
WEBCAMS_PAGE = 100


@election_page
def map_page(request: HttpRequest, state: PageState) -> HttpResponse:
    tab = _tab(state)
    metric = request.GET.get("by", "leader")
    if metric not in ("leader", "turnout"):
        metric = "leader"
    units = constituencies(tab)
    cells = []
    for u in units:
        r = tab.result(u)
        leader = r.leader
        href = reverse("portal:unit", args=[state.election.slug, u.code])
        name = f"{u.number}. {local(u)}" if u.number is not None else local(u)
        if metric == "turnout":
            fill = maps.turnout_colour(r.turnout)
            figure = (
                _("turnout %(pct)s") % {"pct": pct(r.turnout)}
                if r.turnout is not None
                else _("no results yet")
            )
        else:
            fill = maps.leader_colour(
                leader.candidate.number if leader else None, leader.share if leader else None
            )
            figure = (
                f"{local(leader.candidate)} {pct(leader.share)}" if leader else _("no results yet")
            )
        short = str(u.number) if u.number is not None else u.code
        cells.append(maps.Cell(u.code, short, href, fill, f"{name}: {figure}"))
    label = _("Map of constituencies coloured by leader's share")
    if metric == "turnout":
        label = _("Map of constituencies coloured by turnout")
    shapes = maps.load_boundaries(state.election, units)
    if shapes:
        svg = maps.geo_svg(shapes, cells, label=label)
    else:
        svg = maps.hex_svg(maps.layout_for(state.election, units), cells, label=label)
    context = {
        "tab": tab,
        "metric": metric,
        "svg": svg,
        "geographic": bool(shapes),
        "legend": _legend(tab, metric),
        "cells": cells,
        "title": label,
        "section": "map",
    }
    return _render(request, state, "portal/map.html", "portal/parts/map_live.html", context)


def _legend(tab: Tabulation, metric: str) -> list[tuple[str, str]]:
    if metric == "turnout":
        bounds = [0, *maps.TURNOUT_BINS]
        items = [
            (
                maps.TURNOUT_COLOURS[i],
                f"{lo}–{bounds[i + 1]}\u00a0%" if i + 1 < len(bounds) else f"≥ {lo}\u00a0%",
            )
            for i, lo in enumerate(bounds)
        ]
    else:
        items = [(maps.candidate_colour(c.number), local(c)) for c in tab.candidates]
        bounds = [0, *maps.SHARE_BINS]
        first = maps.candidate_colour(1)
        for i, lo in enumerate(bounds):
            text = f"{lo}–{bounds[i + 1]}\u00a0%" if i + 1 < len(bounds) else f"≥ {lo}\u00a0%"
            items.append(
                (
                    maps.mix_with_white(first, maps.SHARE_STRENGTH[i]),
                    _("leader's share %(range)s") % {"range": text},
                )
            )
    items.append((maps.NO_DATA, _("no results yet")))
    return items
