"""Where a ``/log/…`` URL's file is on disk, and the HTTP headers it is served with (spec
§2.1, §2.7) — shared by the WSGI front (:mod:`secki.opendata.wsgi`, no database work) and the
Django view (:func:`secki.portal.views.log_file`), so both answer byte for byte alike.

Caching: the checkpoint, ``results/latest.json``, ``opendata.json``, hints and the site's files
change at every publication (``max-age=2``); full tiles and bundles, ``results/<N>.json``,
``checkpoints/<N>``, scans, register files and the open-data release's files (``opendata/``)
never change (a year, ``immutable``); partial tiles and bundles never change either but soon
go stale (an hour); a 404 is cached for 2 seconds at most (a client may
ask for a tile before its size is published). Every answer carries ``nosniff``, a sandboxing
Content-Security-Policy (these are data, never pages) and ``Access-Control-Allow-Origin: *``
(any site's verifier may read the log). Entry bundles go gzip-compressed to a client that
accepts it (§2.4), compressed when asked (deterministically: one ETag per variant).
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

from django.conf import settings

from secki.opendata import files
from secki.protocols.models import SCAN_EXTENSIONS, ScanType
from secki.protocols.scans import sniff

PREFIX = "/log/"
SHORT = "public, max-age=2"
IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=3600"
MISSING = "public, max-age=2"
POLICY = "default-src 'none'; sandbox"
MISSING_BODY = b"Not found\n"

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
BINARY = "application/octet-stream"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"0|[1-9][0-9]*")
_TILE = re.compile(r"tile/(?:[0-9]|[1-5][0-9]|6[0-3]|entries)/(?:x[0-9]{3}/)*[0-9]{3}(\.p/[0-9]+)?")


def root_dir() -> Path:
    return Path(settings.VAR_DIR) / "log"


def classify(name: str) -> tuple[str, str] | None:
    """(content type, Cache-Control) of a file of the log directory by its path under
    ``/log/``, or None for a path that names no published file (which is then a 404 without
    looking at the disk). A scan's type is read from its first bytes (:func:`content_type`)."""
    if name in ("log.vkey", "witnesses.txt"):
        return TEXT, SHORT
    if name == "elections.json":
        return JSON, SHORT
    slug, _, rest = name.partition("/")
    if not slug or not rest:
        return None
    if rest == "checkpoint":
        return TEXT, SHORT
    if rest == "opendata.json":
        return JSON, SHORT
    folder, _, leaf = rest.partition("/")
    if folder == "checkpoints" and _NUMBER.fullmatch(leaf):
        return TEXT, IMMUTABLE
    if folder == "tile":
        match = _TILE.fullmatch(rest)
        if match is None:
            return None
        return BINARY, PARTIAL if match.group(1) else IMMUTABLE
    if folder == "results":
        if leaf == "latest.json":
            return JSON, SHORT
        if leaf.endswith(".json") and _NUMBER.fullmatch(leaf[: -len(".json")]):
            return JSON, IMMUTABLE
        return None
    if folder == "hints" and leaf.endswith(".json"):
        return JSON, SHORT
    if folder in ("scans", "register", "opendata") and _SHA256.fullmatch(leaf):
        return BINARY, IMMUTABLE
    return None


def resolve(name: str) -> Path | None:
    """The file behind ``/log/<name>``, or None: names of no published file (the lock, the
    pending list, temporary files: every hidden name), paths leaving the log directory (``..``,
    encoded or not: WSGI and Django decode the path before it gets here), NUL characters,
    missing files."""
    if "\x00" in name or "\\" in name or classify(name) is None:
        return None
    return files.within(root_dir(), name)


def content_type(name: str, path: Path) -> str:
    """A scan's type from its first bytes (PDF, PNG or JPEG: all that Secki accepts), else the
    type of its class of files (§2.1)."""
    found = classify(name)
    kind = found[0] if found else BINARY
    if name.split("/")[1:2] == ["scans"]:
        with path.open("rb") as handle:
            sniffed = sniff(handle.read(8))
        # a plain str: sniff gives a ScanType, and WSGI servers refuse str subclasses in headers
        kind = str(sniffed) if sniffed else BINARY
    return kind


def headers(name: str, path: Path, stat: os.stat_result, tag: str) -> dict[str, str]:
    """Headers of a 200 answer (a 304 sends ``ETag`` and ``Cache-Control`` only)."""
    found = classify(name)
    out = {
        "Content-Type": content_type(name, path),
        "Content-Length": str(stat.st_size),
        "ETag": tag,
        "Cache-Control": found[1] if found else MISSING,
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": POLICY,
    }
    if name.split("/")[1:2] == ["scans"]:  # a download, never shown inline
        kind = out["Content-Type"]
        extension = SCAN_EXTENSIONS[ScanType(kind)] if kind in ScanType.values else "bin"
        out["Content-Disposition"] = f'attachment; filename="{path.name}.{extension}"'
    return out


def _is_bundle(name: str) -> bool:
    return name.split("/")[1:3] == ["tile", "entries"]


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (named, not with ``q=0``)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower().removeprefix("q=")
            return not params.strip() or q.strip() not in ("0", "0.0", "0.00", "0.000")
    return False


def answer(name: str, path: Path, accept_encoding: str = "") -> tuple[dict[str, str], bytes | None]:
    """The headers of a 200 answer with ``path`` and, when the answer is not the file's own
    bytes, its body: an entry bundle gzip-compressed for a client that accepts it."""
    stat = path.stat()
    out = headers(name, path, stat, files.etag(path, stat))
    if not _is_bundle(name):
        return out, None
    out["Vary"] = "Accept-Encoding"
    if not accepts_gzip(accept_encoding):
        return out, None
    body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
    out["Content-Encoding"] = "gzip"
    out["Content-Length"] = str(len(body))
    out["ETag"] = out["ETag"][:-1] + '-gzip"'
    return out, body


def missing_headers() -> dict[str, str]:
    """Headers of a 404 answer: cached for seconds at most (§2.7)."""
    return {
        "Content-Type": TEXT,
        "Content-Length": str(len(MISSING_BODY)),
        "Cache-Control": MISSING,
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": POLICY,
    }
