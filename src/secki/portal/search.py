"""Find my station: a station by its number, code or address, from every public page (the
search box of the layout) as a page or as JSON (``?format=json``).

Matching is done here rather than in SQL so that it folds case and accents the same way on
SQLite and PostgreSQL (``Bakı`` is found by ``baki``, ``Şəki`` by ``seki``): a query's words
must all occur in a station's code, number, name, address or unit name. An exact code comes
first, then an exact station number, then the rest in the register's order; at most
:data:`LIMIT` are listed, with the total so the page can ask for a narrower query.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from secki.bundle import translated
from secki.elections.models import Election, Station, Unit
from secki.elections.names import translations

#: the most stations one answer lists
LIMIT = 50
#: the longest query looked at (longer ones are cut)
QUERY_MAX = 200
#: the name and its translations: a search matches any of them
NAMES = ("name", *translated("name"))

_SPECIAL = str.maketrans({"ı": "i", "ə": "e", "ß": "ss", "ø": "o", "đ": "d", "ł": "l"})


def fold(text: str) -> str:
    """Lower case without accents, for matching only (``"Şəki"`` → ``"seki"``)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_SPECIAL))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Hit:
    election: Election
    station: Station
    unit: Unit
    rank: int

    def as_json(self, request: HttpRequest) -> dict[str, Any]:
        return {
            "election": self.election.slug,
            "station": self.station.code,
            "number": self.station.number,
            "name": self.station.name,
            **translations(self.station),
            "address": self.station.address,
            "unit": self.unit.code,
            "unit_name": self.unit.name,
            **{f"unit_{k}": v for k, v in translations(self.unit).items()},
            "url": request.build_absolute_uri(self.url),
        }

    @property
    def url(self) -> str:
        return reverse("portal:station", args=[self.election.slug, self.station.code])


@dataclass(frozen=True)
class Found:
    query: str
    hits: list[Hit]
    total: int  # every match, of which ``hits`` are the first LIMIT


def find(elections: list[Election], query: str) -> Found:
    """The stations of ``elections`` that match ``query``, best first."""
    query = " ".join(query.split())[:QUERY_MAX]
    words = fold(query).split()
    if not words:
        return Found(query, [], 0)
    whole = fold(query)
    matches: list[tuple[int, int, int, Hit]] = []
    for e_order, election in enumerate(elections):
        units = {u.id: u for u in Unit.objects.filter(election=election).only("id", "code", *NAMES)}
        stations = Station.objects.filter(election=election).order_by("position", "id")
        for station in stations.only(
            "id", "code", "number", *NAMES, "address", "unit_id", "position", "election_id"
        ):
            unit = units[station.unit_id]
            code = fold(station.code)
            # a name matches in any of its languages
            parts = (
                *(getattr(station, n) for n in NAMES),
                station.address,
                *(getattr(unit, n) for n in NAMES),
                unit.code,
            )
            haystack = " ".join((code, str(station.number), *map(fold, parts)))
            if not all(w in haystack for w in words):
                continue
            if code == whole:
                rank = 0
            elif whole == str(station.number):
                rank = 1
            elif code.startswith(whole):
                rank = 2
            else:
                rank = 3
            matches.append((rank, e_order, len(matches), Hit(election, station, unit, rank)))
    matches.sort(key=lambda m: m[:3])
    return Found(query, [m[3] for m in matches[:LIMIT]], len(matches))


def search(request: HttpRequest) -> HttpResponse:
    """``/search/?q=…[&election=slug][&format=json]``: the stations found, in every election
    or in the one named (an unknown election is a 404 naming it)."""
    slug = request.GET.get("election", "")
    election: Election | None = None
    if slug:
        election = Election.objects.filter(slug=slug).first()
        if election is None:
            message = _("There is no election %(slug)s.") % {"slug": slug}
            if request.GET.get("format") == "json":
                return JsonResponse(
                    {"error": {"code": "not_found", "message": message, "field": "election"}},
                    status=404,
                )
            return render(request, "404.html", {"exception": message}, status=404)
    elections = [election] if election else list(Election.objects.order_by("slug"))
    found = find(elections, request.GET.get("q", ""))
    if request.GET.get("format") == "json":
        response: HttpResponse = JsonResponse(
            {
                "query": found.query,
                "election": election.slug if election else None,
                "total": found.total,
                "truncated": found.total > len(found.hits),
                "results": [hit.as_json(request) for hit in found.hits],
            },
            json_dumps_params={"ensure_ascii": False},
        )
    else:
        context = {
            "election": election,
            "found": found,
            "limit": LIMIT,
            "several": election is None and len(elections) > 1,
            "section": "search",
        }
        response = render(request, "portal/search.html", context)
    response["Cache-Control"] = "public, max-age=60"
    return response
