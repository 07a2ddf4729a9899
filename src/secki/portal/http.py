"""HTTP caching for the public pages.

A public page is rendered from the election's latest published state
(:mod:`secki.opendata.published`), never from the live tabulation: its ETag names that state
(its version and the ledger entry it includes), the visitor's language and the URL; the
process renders a page once per state and later requests get the bytes from memory, or a
``304 Not Modified`` for a client or CDN revalidating with ``If-None-Match``. Public answers
carry ``Last-Modified`` (the time of the newest fact in the state) and ``X-Secki-State`` (its
version). Officials who may see unpublished figures get live pages: their ETag is derived from
the head of the public ledger (every change that can move a figure appends to it) and the
election row, from one small SQL statement reused by a process for ``ROW_SECONDS`` (1 s).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
)
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, parse_etags
from django.utils.translation import get_language

from secki.accounts.access import Permission, can
from secki.elections.models import Election
from secki.opendata import published, stationpages
from secki.protocols.models import SCAN_EXTENSIONS
from secki.results import store
from secki.results.publication import row_released

#: change when the pages change shape, so that cached copies are not reused across releases
PAGE_VERSION = "portal-3"
#: seconds a CDN or browser may reuse a public page without asking (live pages)
PUBLIC_MAX_AGE = 5
#: seconds a rendered page stays in the process cache (bounds staleness for changes that do
#: not touch the ledger, such as a renamed election)
CACHE_SECONDS = 60.0
CACHE_ENTRIES = 512
#: bytes of pages the process cache holds at most (least recently used dropped first): a
#: unit's page at 100,000 stations lists 100 of them, and each state (every 0.5 s while
#: facts arrive) keys its pages anew, so 512 entries alone could hold tens of MB of pages no
#: reader asks for again
CACHE_BYTES = 16 << 20
#: seconds a process reuses an election's row and the ledger head it read: within them a
#: cached page or a 304 costs no database work at all (pages may lag a change by this much)
ROW_SECONDS = 1.0

P = ParamSpec("P")
log = logging.getLogger(__name__)


def etag_of(fingerprint: str, head: int | str, language: str, public: bool, full_path: str) -> str:
    parts = [
        PAGE_VERSION,
        str(head),
        fingerprint,
        language,
        "public" if public else "staff",
        full_path,
    ]
    return '"' + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class PageState:
    election: Election
    public: bool
    head: int | str  # the ledger head (live pages) or the published state's tag
    language: str
    fingerprint: str  # the election's row as the ETag sees it
    published: published.State | None = None  # the state a public page shows

    def etag(self, full_path: str) -> str:
        return etag_of(self.fingerprint, self.head, self.language, self.public, full_path)


_rows: dict[str, tuple[float, store.ElectionState | None]] = {}
_rows_lock = threading.Lock()


def _state_row(slug: str, *, fresh: bool = False) -> store.ElectionState | None:
    """The election's row and the ledger head; reused for ROW_SECONDS unless ``fresh``."""
    now = time.monotonic()
    with _rows_lock:
        hit = _rows.get(slug)
    if not fresh and hit is not None and now - hit[0] < ROW_SECONDS:
        return hit[1]
    row = store.election_state(slug)
    with _rows_lock:
        if len(_rows) > CACHE_ENTRIES:
            _rows.clear()
        _rows[slug] = (now, row)
    return row


def fingerprint_of(row: store.ElectionState) -> str:
    """The election's row as an ETag sees it, and whether a publication time was reached
    (which moves no ledger head)."""
    e = row.election
    released = "" if row_released(e.publication, e.publication_at) else "\x1fwithheld"
    return "\x1f".join(str(v) for v in e) + released


def live_path(request: HttpRequest) -> str:
    """The URL of the page's live part (``?part=live`` added to the current query)."""
    query = request.GET.copy()
    query["part"] = "live"
    return f"{request.path}?{query.urlencode()}"


class _PageCache:
    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[float, bytes, str]] = OrderedDict()
        self.size = 0  # bytes of the pages held
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                self._drop(key)
                return None
            self._items.move_to_end(key)
            return item[1], item[2]

    def put(self, key: str, content: bytes, content_type: str) -> None:
        with self._lock:
            self._drop(key)
            self._items[key] = (time.monotonic() + CACHE_SECONDS, content, content_type)
            self.size += len(content)
            while len(self._items) > CACHE_ENTRIES or self.size > CACHE_BYTES:
                self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.size -= len(item[1])

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0
        with _rows_lock:
            _rows.clear()
        published.clear()


pages = _PageCache()


def matches(request: HttpRequest, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = parse_etags(header)
    return "*" in tags or etag in tags or f"W/{etag}" in tags


def cache_headers(
    response: HttpResponseBase,
    etag: str,
    public: bool,
    state: published.State | None = None,
) -> None:
    response["ETag"] = etag
    if state is not None:
        stamp = state.as_of or state.published_at
        response["Last-Modified"] = http_date(stamp.timestamp())
        response["X-Secki-State"] = str(state.version)
    if public:
        response["Cache-Control"] = (
            f"public, max-age={PUBLIC_MAX_AGE}, stale-while-revalidate={PUBLIC_MAX_AGE * 6}"
        )
    else:
        response["Cache-Control"] = "private, no-cache"
    patch_vary_headers(response, ("Accept-Language", "Cookie"))


def election_page(
    view: Callable[Concatenate[HttpRequest, PageState, P], HttpResponse],
) -> Callable[..., HttpResponseBase]:
    """Resolve ``slug`` (404 in the visitor's language), then answer conditionally: 304 when
    the client has this state, cached bytes when this process rendered it, else render."""

    @wraps(view)
    def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
        election: Election | None = None
        row: store.ElectionState | None = None
        public = True
        if request.user.is_authenticated:  # officials may see accepted, unpublished figures
            row = _state_row(slug)
            if row is None:
                raise Http404(slug)
            election = Election.objects.get(pk=row.election.id)
            public = not can(request.user, election, Permission.VIEW_UNPUBLISHED)
        language = get_language() or "en"
        state: published.State | None = None
        head: int | str
        if public:
            state = published.current(slug)
            if state is None:
                raise Http404(slug)
            fingerprint, head = state.fingerprint, state.tag
        else:
            assert row is not None
            fingerprint = fingerprint_of(row)
            head = row.head
        etag = etag_of(fingerprint, head, language, public, request.get_full_path())
        response: HttpResponseBase
        if request.method in ("GET", "HEAD") and matches(request, etag):
            response = HttpResponseNotModified()
        else:
            hit = pages.get(etag)
            if hit is not None:
                response = HttpResponse(hit[0], content_type=hit[1])
            else:
                if state is not None:
                    election = state.election
                elif election is None:
                    assert row is not None
                    election = Election.objects.get(pk=row.election.id)
                page = PageState(election, public, head, language, fingerprint, state)
                response = view(request, page, *args, **kwargs)
                if response.status_code == 200 and not response.streaming:
                    pages.put(etag, response.content, response["Content-Type"])
        if response.status_code in (200, 304):
            cache_headers(response, etag, public, state)
        return response

    return wrapper


def keep_station_page(
    request: HttpRequest, page: PageState, code: str, response: HttpResponse
) -> None:
    """Write a station page rendered for the anonymous public from the publisher's state to
    its file, which nginx then serves (:mod:`secki.opendata.stationpages`); the caller says
    whether the page may be kept at all (not with observers' copies, which are not in the
    state, nor while results are held back). Race rule: the publisher writes a new state
    before it removes the pages it changes, so a page is removed again here when its state
    is no longer the latest and a state since changed this station
    (:func:`secki.opendata.published.still_current`)."""
    state = page.published
    if (
        state is None
        or state.parts is None  # a state built in memory: no publisher removes its pages
        or not page.public
        or request.method != "GET"
        or request.META.get("QUERY_STRING")
        or request.user.is_authenticated
        or "HTTP_AUTHORIZATION" in request.META
        or response.status_code != 200
        or response.streaming
    ):
        return
    path = stationpages.write(state.election.slug, page.language, code, response.content)
    if path is not None and not published.still_current(state, code):
        path.unlink(missing_ok=True)


#: a stored upload (scan, photo, document) served as a sealed download
SEALED_POLICY = "default-src 'none'; sandbox"


def sealed_file(
    request: HttpRequest,
    name: str,
    *,
    sha256: str,
    filename: str,
    public: bool,
    content_type: str | None = None,
) -> HttpResponseBase:
    """A stored upload (scan, copy photo, document) from the default storage: always a
    download, never a page of this site's origin (whatever a file might hold beyond its checked
    content, a browser neither shows it inline nor runs it: sandbox, a unique origin, nothing
    loaded; ``nosniff``); the ETag is its SHA-256, public ones cached for good. A missing file
    is a 404 logged for ``secki verify-scans``."""
    etag = f'"{sha256}"'
    response: HttpResponseBase
    if matches(request, etag):
        response = HttpResponseNotModified()
    else:
        try:
            handle = default_storage.open(name, "rb")
        except OSError:
            log.error("stored file missing: %s (secki verify-scans)", name)
            raise Http404(name.rsplit("/", 1)[-1]) from None
        if content_type is None:
            extension = name.rsplit(".", 1)[-1].lower()
            types = {v: k for k, v in SCAN_EXTENSIONS.items()}
            content_type = str(types.get(extension, "application/octet-stream"))
        response = FileResponse(
            handle, content_type=content_type, as_attachment=True, filename=filename
        )
        response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SEALED_POLICY
    response["ETag"] = etag
    response["Cache-Control"] = (
        "public, max-age=31536000, immutable" if public else "private, no-cache"
    )
    if not public:
        patch_vary_headers(response, ("Cookie", "Authorization"))
    return response
