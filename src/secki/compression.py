"""Compressed answers and ``HEAD`` wherever ``GET`` works.

:class:`CompressionMiddleware`, first in ``MIDDLEWARE``, does two things for every response
of the app (pages, the API, the open-data files Django serves, static files through
WhiteNoise):

- ``HEAD`` is answered as ``GET`` is (every view and API operation sees ``GET``; django-ninja
  would answer 405 otherwise), with the same headers, ``Content-Length`` included, and no body.
- A 200 answer of a text type (HTML, JSON, CSV, plain text, CSS, JavaScript, SVG) is
  compressed with brotli when the client's ``Accept-Encoding`` allows it, with gzip otherwise,
  and sent as is when it allows neither (``identity`` or ``q=0``). ``Vary: Accept-Encoding``
  goes on every answer that could have been compressed, and a strong ``ETag`` becomes weak
  (``W/"…"``), as Django's ``GZipMiddleware`` does: the bytes differ from the uncompressed
  ones, and the views' ``If-None-Match`` checks accept the weak form back.

The static open-data front (:mod:`secki.opendata.wsgi`) uses :func:`choose` and
:func:`compress` for its files, keeping a strong ``ETag`` per encoding (``"…-br"``).

Static files are compressed once, not per request: ``collectstatic`` writes a ``.br`` (brotli
at quality 9) and a ``.gz`` beside every file worth it (:class:`CompressedStatic`, WhiteNoise's
``CompressedStaticFilesStorage``, ``STORAGES`` in the settings), and
:class:`StaticFiles` (WhiteNoise) sends them by ``Accept-Encoding``. It serves the collected
copy of a file whenever it holds the same bytes as the app's own file (so a copy collected
before the code changed is never sent), and marks those answers so that
:class:`CompressionMiddleware` leaves them as they are; without a ``collectstatic`` run (tests,
development) the app's files are served and compressed per request.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import brotli
from django.contrib.staticfiles import finders
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers
from whitenoise.compress import Compressor
from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.storage import CompressedStaticFilesStorage

#: content types worth compressing (their ``type/subtype``)
COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/csv",
        "text/plain",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/problem+json",
        "image/svg+xml",
    }
)
#: smaller bodies are sent as they are (the headers would outweigh the gain)
MIN_SIZE = 200
#: levels that compress a page within a few milliseconds (these run on every request)
BROTLI_QUALITY = 5
GZIP_LEVEL = 6

_CODING = re.compile(r"^\s*([a-z*]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def _weights(accept_encoding: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        match = _CODING.match(item)
        if match is None:
            continue
        try:
            weights[match.group(1)] = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
    return weights


def choose(accept_encoding: str) -> str | None:
    """``"br"``, ``"gzip"`` or None (send it as it is) for an ``Accept-Encoding`` header; brotli
    wins a tie, an explicit ``q=0`` refuses, ``*`` stands for any coding not named."""
    weights = _weights(accept_encoding)
    best: tuple[float, int, str] | None = None
    for rank, coding in enumerate(("br", "gzip")):
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > 0 and (best is None or (weight, -rank) > best[:2]):
            best = (weight, -rank, coding)
    return best[2] if best else None


def compress(data: bytes, coding: str) -> bytes:
    if coding == "br":
        return bytes(brotli.compress(data, quality=BROTLI_QUALITY))
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def compress_stream(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    """The compressed stream of ``chunks`` (gzip flushed after each piece; brotli emits as
    its blocks fill)."""
    if coding == "br":
        encoder = brotli.Compressor(quality=BROTLI_QUALITY)
        for chunk in chunks:
            out = encoder.process(chunk)
            if out:
                yield bytes(out)
        yield bytes(encoder.finish())
        return
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        out = packer.compress(chunk) + packer.flush(zlib.Z_SYNC_FLUSH)
        if out:
            yield out
    yield packer.flush()


def compressible(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in COMPRESSIBLE


class CompressionMiddleware:
    """See the module: ``HEAD`` as ``GET`` without the body; brotli or gzip by
    ``Accept-Encoding``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        head = request.method == "HEAD"
        if head:
            request.method = "GET"
        try:
            response = self.get_response(request)
        finally:
            if head:
                request.method = "HEAD"
        self._compress(request, response)
        if head:
            _drop_body(response)
        return response

    def _compress(self, request: HttpRequest, response: HttpResponseBase) -> None:
        if getattr(response, PRECOMPRESSED, False):
            return  # a collected static file: compressed at collectstatic, or not worth it
        if response.has_header("Content-Encoding") or not compressible(
            response.get("Content-Type", "")
        ):
            return
        if response.status_code != 200 or response.has_header("Content-Range"):
            return
        if not response.streaming and len(response.content) < MIN_SIZE:  # type: ignore[attr-defined]
            return
        patch_vary_headers(response, ("Accept-Encoding",))
        coding = choose(request.headers.get("Accept-Encoding", ""))
        if coding is None:
            return
        if isinstance(response, StreamingHttpResponse):
            if response.is_async:
                return  # not served here (WSGI only); sent as it is
            source = response.streaming_content  # read before it is replaced
            response.streaming_content = compress_stream(_sync(source), coding)
            del response["Content-Length"]
        else:
            body = compress(response.content, coding)  # type: ignore[attr-defined]
            response.content = body  # type: ignore[attr-defined]
            response["Content-Length"] = str(len(body))
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response["ETag"] = f"W/{etag}"
        response["Content-Encoding"] = coding


def _sync(source: Iterator[bytes] | AsyncIterator[bytes]) -> Iterator[bytes]:
    assert not isinstance(source, AsyncIterator)  # async responses are left alone above
    for chunk in source:
        yield bytes(chunk)


def _drop_body(response: HttpResponseBase) -> None:
    """No body for ``HEAD``; ``Content-Length`` is what ``GET`` would send when known."""
    if isinstance(response, StreamingHttpResponse):
        closing = response.streaming_content
        if not isinstance(closing, AsyncIterator):
            close = getattr(closing, "close", None)
            if close is not None:
                close()
        response.streaming_content = iter(())
        return
    length = len(response.content)  # type: ignore[attr-defined]
    response.content = b""  # type: ignore[attr-defined]
    response["Content-Length"] = str(length)


#: the attribute :class:`StaticFiles` sets on an answer made from a collected static file
PRECOMPRESSED = "secki_precompressed"


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()
    except OSError:
        return False


#: brotli's quality for static files, compressed once: far better than the per-request
#: quality, at a small part of the cost of the best one (the demo runs collectstatic at
#: every start)
STATIC_BROTLI_QUALITY = 9


class _StaticCompressor(Compressor):  # type: ignore[misc]  # untyped
    @staticmethod
    def compress_brotli(data: bytes) -> bytes:
        return bytes(brotli.compress(data, quality=STATIC_BROTLI_QUALITY))


class CompressedStatic(CompressedStaticFilesStorage):  # type: ignore[misc]  # untyped
    """collectstatic's storage: a ``.br`` and a ``.gz`` beside every static file worth it,
    written again only for the files collected anew (a file whose compressed copy is newer
    than it is left alone, so that a second ``collectstatic`` costs little); source maps
    (read by developers' tools only) are not compressed."""

    SKIP = (*Compressor.SKIP_COMPRESS_EXTENSIONS, "map")

    def create_compressor(self, **kwargs: Any) -> Compressor:
        kwargs["extensions"] = self.SKIP
        return _StaticCompressor(**kwargs)

    def post_process(self, paths: dict[str, Any], dry_run: bool = False, **options: Any) -> Any:
        stale = {name: found for name, found in paths.items() if not self._packed(name)}
        return super().post_process(stale, dry_run, **options)

    def _packed(self, name: str) -> bool:
        path = Path(self.path(name))
        try:
            made = path.stat().st_mtime
        except OSError:
            return False
        for suffix in (".br", ".gz"):
            try:
                if path.with_name(path.name + suffix).stat().st_mtime >= made:
                    return True
            except OSError:
                continue
        return False


class StaticFiles(WhiteNoiseMiddleware):  # type: ignore[misc]  # whitenoise is untyped
    """WhiteNoise, preferring a file's collected copy (with its ``.br`` and ``.gz``) to the
    app's own when both hold the same bytes (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.precompressed: set[str] = set()
        super().__init__(*args, **kwargs)

    def add_files_from_finders(self) -> None:
        found: dict[str, str] = {}
        for finder in finders.get_finders():
            for path, storage in finder.list(None):
                prefix = (getattr(storage, "prefix", None) or "").strip("/")
                slash = "/" if prefix else ""
                url = f"{self.static_prefix}{prefix}{slash}{path.replace(chr(92), '/')}"
                found.setdefault(url, storage.path(path))  # the first finder's file wins
        root = Path(self.static_root) if self.static_root else None
        for url, path in found.items():
            collected = root / url[len(self.static_prefix) :] if root is not None else None
            if collected is not None and _same_bytes(collected, Path(path)):
                self.add_file_to_dictionary(url, str(collected))
                self.precompressed.add(url)
            else:
                self.add_file_to_dictionary(url, path)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = super().__call__(request)
        if request.path_info in self.precompressed:
            setattr(response, PRECOMPRESSED, True)
        return response
