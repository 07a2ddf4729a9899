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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

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
    return _send(environ, start_response, path, files.headers(slug, version, name, stat, tag))


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
) -> Iterable[bytes]:
    """200 with the file (or ``body``, when given), or 304 when ``If-None-Match`` names its
    ETag."""
    tag = headers["ETag"]
    sent = {t.strip().removeprefix("W/") for t in environ.get("HTTP_IF_NONE_MATCH", "").split(",")}
    if tag in sent or "*" in sent:
        start_response(
            "304 Not Modified", [("ETag", tag), ("Cache-Control", headers["Cache-Control"])]
        )
        return []
    start_response("200 OK", list(headers.items()))
    if environ.get("REQUEST_METHOD") == "HEAD":
        return []
    if body is not None:
        return [body]
    handle = path.open("rb")
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        wrapped: Iterable[bytes] = wrapper(handle, 1 << 16)
        return wrapped
    return _chunks(handle)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        yield from iter(lambda: handle.read(1 << 16), b"")
