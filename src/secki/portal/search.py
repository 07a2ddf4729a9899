"""Find my station: a station by its number, code or address, from every public page (the
search box of the layout) as a page or as JSON (``?format=json``).

Matching is done here rather than in SQL so that it folds case and accents the same way on
SQLite and PostgreSQL (``Bakı`` is found by ``baki``, ``Şəki`` by ``seki``): a query's words
must all occur in a station's code, number, name, address or unit name. An exact code comes
first, then an exact station number, then the rest in the register's order; at most
:data:`LIMIT` are listed, with the total so the page can ask for a narrower query.

A query reads no station from the database: it is answered from an :class:`Index` of the
register as the election's published state holds it (:mod:`secki.opendata.published`), built
once per process and register (kept while the states that follow hold the same register):
every distinct folded word of the stations' fields, with the stations holding it. A query
word is looked up in that vocabulary (a word occurs in a station's fields exactly when it
occurs in one of their words), so a query touches the matching stations only.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import get_script_prefix, reverse
from django.utils.translation import gettext as _

from secki.bundle import translated
from secki.elections.models import Election, Unit
from secki.elections.names import translations
from secki.opendata import published
from secki.opendata.collect import PublicStation

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
    station: PublicStation
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
        return _station_url(get_script_prefix(), self.election.slug, self.station.code)


@functools.lru_cache(maxsize=1 << 16)
def _station_url(prefix: str, slug: str, code: str) -> str:
    """A station page's address (reversed once per script prefix, election and station)."""
    return reverse("portal:station", args=[slug, code])


@dataclass(frozen=True)
class Found:
    query: str
    hits: list[Hit]
    total: int  # every match, of which ``hits`` are the first LIMIT


#: query words whose stations an index remembers (the most recent ones)
WORDS_KEPT = 1024


@dataclass
class Index:
    """One election's register prepared for search (see the module)."""

    fingerprint: int  # of the register it was built from
    version: int  # the newest published state found to hold that register
    stations: list[PublicStation]  # in the register's order
    units: dict[int, Unit]
    codes: list[str]  # each station's code, folded
    #: every folded word of the stations' fields → the positions of the stations holding it
    vocabulary: dict[str, list[int]]
    by_code: dict[str, list[int]]  # folded code → positions
    by_number: dict[str, list[int]]  # station number (text) → positions
    sorted_codes: list[tuple[str, int]]  # (folded code, position), for codes by prefix
    _words: OrderedDict[str, frozenset[int]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, fingerprint: int, version: int, state: published.State) -> Index:
        data = state.data
        stations = state.register()
        units = {u.id: u for u in data.units}
        vocabulary: dict[str, list[int]] = {}
        codes = []
        by_code: dict[str, list[int]] = {}
        by_number: dict[str, list[int]] = {}
        for position, s in enumerate(stations):
            unit = units[s.unit_id]
            code = fold(s.code)
            codes.append(code)
            by_code.setdefault(code, []).append(position)
            by_number.setdefault(str(s.number), []).append(position)
            # a name matches in any of its languages
            parts = (
                *(getattr(s, n) for n in NAMES),
                s.address,
                *(getattr(unit, n) for n in NAMES),
                unit.code,
            )
            haystack = " ".join((code, str(s.number), *map(fold, parts)))
            for word in set(haystack.split()):
                vocabulary.setdefault(word, []).append(position)
        sorted_codes = sorted((code, position) for position, code in enumerate(codes))
        return cls(
            fingerprint,
            version,
            stations,
            units,
            codes,
            vocabulary,
            by_code,
            by_number,
            sorted_codes,
        )

    def ranked(self, whole: str, positions: frozenset[int]) -> dict[int, int]:
        """Position → rank of the matching stations that rank before the rest: 0 for the
        exact code ``whole``, 1 for the station number ``whole``, 2 for a code starting so."""
        out: dict[int, int] = {}
        for position in self.by_code.get(whole, ()):
            if position in positions:
                out[position] = 0
        for position in self.by_number.get(whole, ()):
            if position in positions:
                out.setdefault(position, 1)
        start = bisect.bisect_left(self.sorted_codes, (whole, -1))
        for code, position in itertools.islice(self.sorted_codes, start, None):
            if not code.startswith(whole):
                break
            if position in positions:
                out.setdefault(position, 2)
        return out

    def holding(self, word: str) -> frozenset[int]:
        """The positions of the stations whose fields contain ``word``."""
        with self._lock:
            hit = self._words.get(word)
            if hit is not None:
                self._words.move_to_end(word)
                return hit
        found = frozenset(
            position
            for known, positions in self.vocabulary.items()
            if word in known
            for position in positions
        )
        with self._lock:
            self._words[word] = found
            while len(self._words) > WORDS_KEPT:
                self._words.popitem(last=False)
        return found


_indexes: dict[tuple[int, str], Index] = {}
_indexes_lock = threading.Lock()


def index_of(election: Election) -> Index | None:
    """The search index of ``election``'s register as its latest published state holds it."""
    state = published.current(election.slug)
    if state is None or state.key[0] != election.pk:
        return None
    key = state.key
    with _indexes_lock:
        index = _indexes.get(key)
    if index is not None and index.version == state.version:
        return index
    fingerprint = state.register_fingerprint()
    if index is not None and index.fingerprint == fingerprint:
        index.version = state.version  # a new state of the same register
        return index
    index = Index.build(fingerprint, state.version, state)
    with _indexes_lock:
        _indexes[key] = index
    return index


def find(elections: list[Election], query: str) -> Found:
    """The stations of ``elections`` that match ``query``, best first: the exact code, the
    station number, codes that start with the query, then the register's order."""
    query = " ".join(query.split())[:QUERY_MAX]
    words = fold(query).split()
    if not words:
        return Found(query, [], 0)
    whole = fold(query)
    total = 0
    best: list[tuple[int, int, int]] = []  # (rank, election's order, position)
    indexes: dict[int, Index] = {}
    for e_order, election in enumerate(elections):
        index = index_of(election)
        if index is None:
            continue
        indexes[e_order] = index
        positions = index.holding(words[0])
        for word in words[1:]:
            if not positions:
                break
            positions = positions & index.holding(word)
        total += len(positions)
        ranked = index.ranked(whole, positions)
        best += [(rank, e_order, position) for position, rank in ranked.items()]
        rest = (p for p in positions if p not in ranked)
        best += [(3, e_order, position) for position in heapq.nsmallest(LIMIT, rest)]
    best.sort()
    hits = []
    for rank, e_order, position in best[:LIMIT]:
        index = indexes[e_order]
        station = index.stations[position]
        hits.append(Hit(elections[e_order], station, index.units[station.unit_id], rank))
    return Found(query, hits, total)


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
