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
from secki.wsgi import application as django_application

FILE_URL = re.compile(r"^/data/(?P<slug>[-a-zA-Z0-9_]+)/(?P<version>live|v[0-9]+)/(?P<name>.+)$")
StartResponse = Callable[..., Any]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    # imported here: the models behind them need the Django set up by secki.wsgi first
    from secki.opendata import files, logfiles, snapshots

    path_info = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD")
    if path_info.startswith(logfiles.PREFIX) and method in ("GET", "HEAD"):
        return _log_file(environ, start_response, path_info[len(logfiles.PREFIX) :])
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
