"""WSGI entry point that answers open-data file requests before Django: serve
``secki.opendata.wsgi:application`` instead of ``secki.wsgi:application``.

``GET``/``HEAD /data/<slug>/live/…`` and ``/data/<slug>/v<seq>/…`` are files on disk: this
serves them (conditional on ``If-None-Match``, with the same headers as the Django view)
without Django's middleware, the way a static server would. Everything else goes to Django,
and so does one live request per election every 2 s per process, so that the app still
notices a stale snapshot and regenerates it (``SECKI_SNAPSHOT_AUTO``).

``GET``/``HEAD /log/…``, the transparency log's static files (:mod:`.transparency`), are
answered here entirely, a missing file with a 404 that caches for seconds only
(:mod:`.logfiles`): no database work.

While a publisher runs (:mod:`.published`), the public pages and the public results API of an
election are answered from memory before Django too, for requests that carry no cookie and no
``Authorization`` (the anonymous public): the bytes and headers Django answered for the same
URL, host, ``Accept-Language`` and ``Accept-Encoding`` from the same published state, kept
once Django marked them public and made from that state (``X-Secki-State``); a new state
makes every kept answer stale. ``If-None-Match`` naming the kept ETag gets 304.

JSON and CSV files are compressed as the app compresses its answers (:mod:`secki.compression`:
brotli or gzip by ``Accept-Encoding``, ``Vary: Accept-Encoding``, a weak ``ETag``); a file up to
:data:`PACKED_FILE_MAX` is compressed once per process and version and kept.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from secki import compression
from secki.observability import instrument
from secki.wsgi import django_application

FILE_URL = re.compile(r"^/data/(?P<slug>[-a-zA-Z0-9_]+)/(?P<version>live|v[0-9]+)/(?P<name>.+)$")
#: an election's public pages (not the scan files: streamed) and its public results API
PUBLIC_URL = re.compile(
    r"^(?:/e/(?P<slug>[-a-zA-Z0-9_]+)/(?!s/[^/]+/scans/)"
    r"|/api/v1/elections/(?P<api>[-a-zA-Z0-9_]+)/results(?:/|$))"
)
StartResponse = Callable[..., Any]
Answer = tuple[str, list[tuple[str, str]], bytes]  # status, headers, body
#: answers kept in memory per process (least recently used dropped first)
KEPT_ANSWERS = 4096
KEPT_BYTES = 32 << 20


def render_station_page(slug: str, language: str, code: str) -> None:
    """An anonymous GET of a station's public page in ``language`` through Django, as a
    reader would make it (the portal writes the page's file): the page refresher's render
    (:mod:`secki.opendata.refresh`)."""
    _public_get(f"/e/{slug}/s/{code}/", language)


def ask_public_answer(path: str) -> None:
    """An anonymous GET of a public results answer (``path``: a station's or a unit's)
    through Django, as a reader would make it (the portal writes the answer's file): the page
    refresher's, before the pages (:mod:`secki.opendata.refresh`)."""
    _public_get(path, None)


def _public_get(path: str, language: str | None) -> None:
    """A GET of ``path`` through Django by an anonymous reader on the public host and scheme
    (:func:`secki.opendata.stationpages.public_origin`); the answer is dropped."""
    import io
    import sys

    from django.conf import settings
    from django.utils import translation

    from secki.opendata.stationpages import public_origin

    host, https = public_origin()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": host.split(":")[0],
        "SERVER_PORT": "443" if https else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https" if https else "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if language is not None:
        environ["HTTP_ACCEPT_LANGUAGE"] = language
    if settings.SECKI_CLIENT_IP_HEADER:
        header = settings.SECKI_CLIENT_IP_HEADER.upper().replace("-", "_")
        environ[f"HTTP_{header}"] = "127.0.0.1"

    def started(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return lambda data: None

    # the request activates the page's language in this thread: the caller's comes back after
    with translation.override(translation.get_language()):
        answer = django_application(environ, started)
        try:
            for _chunk in answer:
                pass
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()


_refreshing = False


def _application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    # imported here: the models behind them need the Django set up by secki.wsgi first
    from secki.opendata import files, logfiles, snapshots

    global _refreshing
    if not _refreshing:
        from secki.opendata import refresh

        refresh.start(render_station_page, ask_public_answer)
        _refreshing = True

    path_info = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD")
    if path_info.startswith(logfiles.PREFIX) and method in ("GET", "HEAD"):
        return _log_file(environ, start_response, path_info[len(logfiles.PREFIX) :])
    public = PUBLIC_URL.match(path_info)
    if public is not None and method in ("GET", "HEAD"):
        return _public(environ, start_response, public.group("slug") or public.group("api"))
    match = FILE_URL.match(path_info)
    if match is None or method not in ("GET", "HEAD"):
        return django_application(environ, start_response)
    slug, version, name = match.group("slug", "version", "name")
    if version == snapshots.LIVE and snapshots.auto() and snapshots.check_due(slug):
        snapshots.forget_check(slug)  # the Django view takes this turn to check for staleness
        return django_application(environ, start_response)
    path = files.resolve(slug, version, name)
    if path is None:
        return django_application(environ, start_response)
    stat = path.stat()
    tag = files.etag(path, stat)
    headers = files.headers(slug, version, name, stat, tag)
    if not compression.compressible(headers["Content-Type"]):
        return _send(environ, start_response, path, headers)
    # JSON and CSV as the app sends them (secki.compression): brotli or gzip, a weak ETag
    headers["Vary"] = "Accept-Encoding"
    coding = compression.choose(environ.get("HTTP_ACCEPT_ENCODING", ""))
    if coding is None or stat.st_size < compression.MIN_SIZE:
        return _send(environ, start_response, path, headers)
    headers["Content-Encoding"] = coding
    headers["ETag"] = f"W/{tag}"
    if stat.st_size > PACKED_FILE_MAX:
        del headers["Content-Length"]
        return _send(environ, start_response, path, headers, stream=coding)
    body = _packed(path, tag, coding)
    headers["Content-Length"] = str(len(body))
    return _send(environ, start_response, path, headers, body)


#: files up to this size are compressed once per process and kept (in all at most
#: PACKED_CACHE_MAX bytes, the oldest dropped first); larger ones are compressed as they stream
PACKED_FILE_MAX = 8 << 20
PACKED_CACHE_MAX = 64 << 20
_packed_cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_packed_lock = threading.Lock()


def _packed(path: Path, tag: str, coding: str) -> bytes:
    """``path`` compressed with ``coding``, from the cache when this version (``tag``, which
    changes with the file) was compressed before."""
    key = (tag, coding)
    with _packed_lock:
        hit = _packed_cache.get(key)
        if hit is not None:
            _packed_cache.move_to_end(key)
            return hit
    body = compression.compress(path.read_bytes(), coding)
    with _packed_lock:
        _packed_cache[key] = body
        while sum(len(b) for b in _packed_cache.values()) > PACKED_CACHE_MAX:
            _packed_cache.popitem(last=False)
    return body


def _log_file(
    environ: dict[str, Any], start_response: StartResponse, raw_name: str
) -> Iterable[bytes]:
    """A file of the transparency log, or its 404 (never Django's)."""
    from secki.opendata import logfiles

    try:  # WSGI gives the path's bytes as latin-1; they are UTF-8 (as Django decodes them)
        name = raw_name.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        name = "\x00"  # no file has such a name
    path = logfiles.resolve(name)
    if path is None:
        start_response("404 Not Found", list(logfiles.missing_headers().items()))
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [logfiles.MISSING_BODY]
    headers, body = logfiles.answer(name, path, environ.get("HTTP_ACCEPT_ENCODING", ""))
    return _send(environ, start_response, path, headers, body)


def _send(
    environ: dict[str, Any],
    start_response: StartResponse,
    path: Path,
    headers: dict[str, str],
    body: bytes | None = None,
    stream: str | None = None,
) -> Iterable[bytes]:
    """200 with the file (or ``body``, when given; or the file compressed with the coding
    ``stream`` as it is read), or 304 when ``If-None-Match`` names its ETag."""
    tag = headers["ETag"]
    sent = {t.strip().removeprefix("W/") for t in environ.get("HTTP_IF_NONE_MATCH", "").split(",")}
    if tag.removeprefix("W/") in sent or "*" in sent:
        kept = [("ETag", tag), ("Cache-Control", headers["Cache-Control"])]
        if "Vary" in headers:
            kept.append(("Vary", headers["Vary"]))
        start_response("304 Not Modified", kept)
        return []
    start_response("200 OK", list(headers.items()))
    if environ.get("REQUEST_METHOD") == "HEAD":
        return []
    if body is not None:
        return [body]
    handle = path.open("rb")
    if stream is not None:
        return compression.compress_stream(_chunks(handle), stream)
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        wrapped: Iterable[bytes] = wrapper(handle, 1 << 16)
        return wrapped
    return _chunks(handle)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        yield from iter(lambda: handle.read(1 << 16), b"")


# -- public answers kept in memory ----------------------------------------------------------


class _Kept:
    """The newest answer per (URL, host, languages, encodings), with the state it shows; least
    recently used dropped first. While one thread renders a URL's answer for a new state, the
    others answer with the previous state's (one consistent state, an interval older) rather
    than all rendering the same page at once."""

    def __init__(self) -> None:
        self.items: OrderedDict[tuple[str, ...], tuple[str, Answer]] = OrderedDict()
        self.size = 0
        self.rendering: set[tuple[str, ...]] = set()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> tuple[str, Answer] | None:
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def claim(self, key: tuple[str, ...]) -> bool:
        """True for the one thread that renders ``key`` now."""
        with self.lock:
            if key in self.rendering:
                return False
            self.rendering.add(key)
            return True

    def release(self, key: tuple[str, ...]) -> None:
        with self.lock:
            self.rendering.discard(key)

    def put(self, key: tuple[str, ...], tag: str, answer: Answer) -> None:
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.size -= len(old[1][2])
            self.items[key] = (tag, answer)
            self.size += len(answer[2])
            while self.items and (len(self.items) > KEPT_ANSWERS or self.size > KEPT_BYTES):
                _key, dropped = self.items.popitem(last=False)
                self.size -= len(dropped[1][2])

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.rendering.clear()
            self.size = 0


kept = _Kept()


def _answer(
    environ: dict[str, Any], start_response: StartResponse, answer: Answer
) -> Iterable[bytes]:
    status, headers, body = answer
    tag = next((v for k, v in headers if k.lower() == "etag"), None)
    sent = {
        t.strip().removeprefix("W/")
        for t in environ.get("HTTP_IF_NONE_MATCH", "").split(",")
        if t.strip()
    }
    if tag is not None and (tag in sent or "*" in sent):
        keep = {"etag", "cache-control", "vary", "last-modified", "x-secki-state"}
        start_response("304 Not Modified", [(k, v) for k, v in headers if k.lower() in keep])
        return []
    start_response(status, headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _public(environ: dict[str, Any], start_response: StartResponse, slug: str) -> Iterable[bytes]:
    """A public page or results answer from memory, or from Django (then kept)."""
    from secki.opendata import published, snapshots

    if environ.get("HTTP_COOKIE") or environ.get("HTTP_AUTHORIZATION"):
        return django_application(environ, start_response)
    if not snapshots.publisher_alive():
        return django_application(environ, start_response)
    state = published.current(slug)
    if state is None:
        return django_application(environ, start_response)
    key = (
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
        environ.get("wsgi.url_scheme", ""),
        environ.get("HTTP_HOST", ""),
        environ.get("HTTP_ACCEPT_LANGUAGE", ""),
        environ.get("HTTP_ACCEPT_ENCODING", ""),
    )
    hit = kept.get(key)
    if hit is not None and hit[0] == state.tag:
        return _answer(environ, start_response, hit[1])
    if not kept.claim(key):  # another thread renders it for this state
        if hit is not None:
            return _answer(environ, start_response, hit[1])
        return django_application(environ, start_response)
    try:
        return _render(environ, start_response, key, state)
    finally:
        kept.release(key)


def _render(
    environ: dict[str, Any],
    start_response: StartResponse,
    key: tuple[str, ...],
    state: Any,
) -> Iterable[bytes]:
    """Django's answer, kept when it is public and shows ``state``."""
    answered: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answered[:] = [status, headers]
        if exc_info:
            return start_response(status, headers, exc_info)
        return start_response(status, headers)

    result = django_application(environ, capture)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if answered:
        status, headers = answered
        names = {k.lower(): v for k, v in headers}
        if (
            environ.get("REQUEST_METHOD") == "GET"
            and status.startswith("200 ")
            and names.get("x-secki-state") == str(state.version)
            and names.get("cache-control", "").startswith("public")
            and "set-cookie" not in names
        ):
            kept.put(key, state.tag, (status, list(headers), body))
    return [body]


#: what the server runs: the front, with request ids and metrics (secki.observability)
application = instrument(_application)
