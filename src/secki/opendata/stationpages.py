"""Station pages as static files: ``$SECKI_VAR_DIR/pages/<slug>/<lang>/s/<code>/index.html``.

The public station page (``/e/<slug>/s/<code>/``) is rendered by the app once per change and
written here (:func:`write`); nginx serves the file to the anonymous public
(deploy/nginx/secki.conf) and passes the request to the app when there is none. A file is
removed when what it shows may have changed: the publisher (:mod:`secki.opendata.published`)
removes the files of the stations a new state changed, after writing that state, and the whole
election's directory on new data (:func:`remove_election`); the transparency log removes the
files of the stations its new entries name, after its checkpoint. The writer (the portal)
removes the file it wrote when the state it rendered is no longer the published one.

Every write is atomic (a temporary hidden file in the same directory, then ``os.replace``),
and a directory is removed by renaming it aside first (a hidden name, never served), so nginx
never sees half a file or half a tree.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

#: the page's file inside its station's directory
INDEX = "index.html"


def root_dir() -> Path:
    return Path(settings.VAR_DIR) / "pages"


def election_dir(slug: str) -> Path:
    return root_dir() / slug


def _safe(name: str) -> bool:
    """A path component that stays where it is put (no separator, no dot name, no NUL)."""
    return bool(name) and not name.startswith(".") and "/" not in name and "\x00" not in name


def page_path(slug: str, language: str, code: str) -> Path | None:
    """Where the page of station ``code`` in ``language`` is kept (None: a name that cannot
    be a file of its own: it always goes to the app)."""
    if not all(_safe(part) for part in (slug, language, code)):
        return None
    return election_dir(slug) / language / "s" / code / INDEX


def write(slug: str, language: str, code: str, content: bytes) -> Path | None:
    """Write the page atomically; returns its path (None: not written)."""
    path = page_path(slug, language, code)
    if path is None:
        return None
    tmp = path.with_name(f".{INDEX}-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(content)
        os.replace(tmp, path)
    except OSError:  # the directory was removed meanwhile (new data): the app answers
        with contextlib.suppress(OSError):
            tmp.unlink()
        return None
    return path


def remove_stations(slug: str, codes: Iterable[str]) -> int:
    """Remove the pages of these stations in every language; returns how many were there."""
    directory = election_dir(slug)
    try:
        languages = [p.name for p in directory.iterdir() if _safe(p.name)]
    except OSError:
        return 0
    removed = 0
    for code in codes:
        for language in languages:
            path = page_path(slug, language, code)
            if path is None:
                continue
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def remove_election(slug: str) -> None:
    """Remove every page of the election: its directory renamed aside (a hidden name), then
    deleted, with any left aside by an earlier removal."""
    root = root_dir()
    directory = election_dir(slug)
    if directory.exists():
        aside = root / f".{slug}-removed-{os.getpid()}-{secrets.token_hex(4)}"
        with contextlib.suppress(FileNotFoundError):
            directory.rename(aside)
    try:
        leftovers = [p for p in root.iterdir() if p.name.startswith(f".{slug}-removed-")]
    except OSError:
        return
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
