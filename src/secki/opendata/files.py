"""Where an open-data URL's file is on disk, and the HTTP headers it is served with — shared by
the Django view (:func:`secki.portal.downloads.data_file`) and the WSGI front
(:mod:`secki.opendata.wsgi`), so both answer a request byte for byte alike."""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path

from secki.opendata import snapshots

IMMUTABLE = "public, max-age=31536000, immutable"
LIVE_CACHE = "public, max-age=2"


def resolve(slug: str, version: str, name: str) -> Path | None:
    """The file behind ``/data/<slug>/<version>/<name>`` (``live`` or ``v<seq>``), or None for
    anything else: hidden names, paths leaving the version's directory, missing files, and
    names no file can have (a NUL character, a name too long for the file system)."""
    if version != snapshots.LIVE and not snapshots.VERSION_RE.match(version):
        return None
    if "\x00" in slug:
        return None
    return within(snapshots.slug_dir(slug) / version, name)


def within(directory: Path, name: str) -> Path | None:
    """The published file ``name`` (a relative path) under ``directory``, or None: hidden or
    empty parts, a NUL character, a path that leaves the directory (``..``, a symlink out),
    a missing file or a name too long for the file system."""
    if "\x00" in name or any(part.startswith(".") or not part for part in name.split("/")):
        return None
    try:
        root = directory.resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
    except (OSError, ValueError):
        return None
    return path


def etag(path: Path, stat: os.stat_result) -> str:
    """Changes whenever the live snapshot is swapped (another directory) or a file rewritten."""
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    return '"' + hashlib.sha256(key).hexdigest()[:32] + '"'


def content_type(name: str) -> str:
    if name.endswith(".gz"):
        return "application/gzip"
    if name.endswith(".json"):
        return "application/json; charset=utf-8"
    if name.endswith(".csv"):
        return "text/csv; charset=utf-8"
    if name == "SHA256SUMS":
        return "text/plain; charset=utf-8"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def headers(slug: str, version: str, name: str, stat: os.stat_result, tag: str) -> dict[str, str]:
    """Headers of a 200 answer (a 304 sends ``ETag`` and ``Cache-Control`` only)."""
    out = {
        "Content-Type": content_type(name),
        "Content-Length": str(stat.st_size),
        "ETag": tag,
        "Cache-Control": LIVE_CACHE if version == snapshots.LIVE else IMMUTABLE,
        "Access-Control-Allow-Origin": "*",
    }
    base = Path(name).name
    if name.endswith((".gz", ".csv")):
        out["Content-Disposition"] = f'attachment; filename="{slug}-{version}-{base}"'
    return out
