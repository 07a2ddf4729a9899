"""Copy the published files to static hosting: a directory (served by nginx with
deploy/nginx/secki.conf) or S3-compatible object storage (through fsspec and s3fs), as they
change.

What is copied: the open-data snapshots and releases (``$SECKI_VAR_DIR/opendata`` → ``opendata/``
on the target, served at ``/data/``) and the transparency log's files (``$SECKI_VAR_DIR/log`` →
``log/``, served at ``/log/``), hidden names never. The ``live`` and ``latest`` symlinks of an
election's open data are copied as the files they point to (object storage has no links).

Order, so that a reader never follows a pointer to something not there yet: every new file
that never changes (releases, tiles, checkpoints by size, results by size, scans, register
files) first, then the files that change at every publication (the live snapshot, the
checkpoint, ``results/latest.json``, ``opendata.json``, hints, ``elections.json``), each replaced
whole (one PUT; in a directory, a temporary file and ``os.replace``), then removals of what
disappeared (old live files), last. On object storage each file carries the ``Cache-Control`` and
``Content-Type`` the app serves it with (:mod:`.files`, :mod:`.logfiles`).

What was copied is remembered per target in ``$SECKI_VAR_DIR/mirror/`` (size and modification
time of each source file), so a round copies only what changed. ``SECKI_MIRROR_URLS`` names the
targets (``file:///srv/static``, ``s3://bucket/prefix``); ``SECKI_S3_ENDPOINT_URL`` an
S3-compatible service other than AWS (credentials from the usual ``AWS_*`` variables).
``secki publish`` mirrors after every round; ``secki mirror`` once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from django.conf import settings

from secki.opendata import files, logfiles, snapshots

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Source:
    """One file to publish: where it is, its key on the target, and how it is served."""

    path: Path
    key: str  # opendata/<slug>/<version>/<name> or log/<name>
    cache_control: str
    content_type: str

    @property
    def pointer(self) -> bool:
        """A file that changes at every publication (copied after the files it names): the
        ones served for seconds only. Releases, tiles (partial ones too: their names hold
        their size), checkpoints and results by size, scans never change."""
        return self.cache_control in (files.LIVE_CACHE, logfiles.SHORT)


@dataclass
class Report:
    target: str
    copied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0


def _visible(parts: tuple[str, ...]) -> bool:
    return not any(part.startswith(".") for part in parts)


def _files_under(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of every visible file under ``root``, following ``root``'s own
    symlinked directories (``live``, ``latest``) as directories."""
    if not root.is_dir():
        return
    for directory, dirnames, filenames in os.walk(root, followlinks=True):
        relative = Path(directory).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if _visible((*relative.parts, name)):
                yield (relative / name).as_posix(), Path(directory) / name


def sources(var_dir: Path | None = None) -> list[Source]:
    """Every file to publish, in the order to copy it: files that never change first."""
    var = Path(var_dir or settings.VAR_DIR)
    found: list[Source] = []
    for name, path in _files_under(var / "opendata"):
        parts = name.split("/")
        if len(parts) < 3:
            continue  # the publisher's own files beside the elections
        version, rest = parts[1], "/".join(parts[2:])
        if version not in (snapshots.LIVE, snapshots.LATEST) and not snapshots.VERSION_RE.match(
            version
        ):
            continue
        live = version in (snapshots.LIVE, snapshots.LATEST)
        cache = files.LIVE_CACHE if live else files.IMMUTABLE
        found.append(Source(path, f"opendata/{name}", cache, files.content_type(rest)))
    for name, path in _files_under(var / "log"):
        kind = logfiles.classify(name)
        if kind is None:
            continue
        content_type = logfiles.content_type(name, path)
        found.append(Source(path, f"log/{name}", kind[1], content_type))
    found.sort(key=lambda s: (s.pointer, s.key))
    return found


class Target:
    """Where files go: a directory or an fsspec file system (S3)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        options: dict[str, Any] = {}
        if self.url.startswith("s3://") and settings.SECKI_S3_ENDPOINT_URL:
            options["client_kwargs"] = {"endpoint_url": settings.SECKI_S3_ENDPOINT_URL}
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **options)
        self.local = self.fs.protocol in ("file", ("file", "local"))

    def put(self, source: Source) -> None:
        data = source.path.read_bytes()
        where = f"{self.root}/{source.key}"
        if self.local:
            path = Path(where)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            return
        self.fs.pipe_file(
            where, data, CacheControl=source.cache_control, ContentType=source.content_type
        )

    def remove(self, key: str) -> None:
        where = f"{self.root}/{key}"
        if self.fs.exists(where):
            self.fs.rm_file(where)


def _state_file(url: str) -> Path:
    name = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(settings.VAR_DIR) / "mirror" / f"{name}.json"


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def sync(url: str, *, progress: Progress | None = None) -> Report:
    """Bring the target at ``url`` up to date with the published files (module docstring)."""
    target = Target(url)
    state_path = _state_file(target.url)
    try:
        known: dict[str, list[int]] = json.loads(state_path.read_text())
    except (OSError, ValueError):
        known = {}
    report = Report(target.url)
    todo = sources()
    for done, source in enumerate(todo, start=1):
        try:
            stamp = _stamp(source.path)
            if known.get(source.key) == stamp:
                report.unchanged += 1
            else:
                target.put(source)
                known[source.key] = stamp
                report.copied.append(source.key)
        except FileNotFoundError:
            # a live generation replaced while this round ran: the next round copies the new
            known.pop(source.key, None)
        if progress is not None:
            progress(done, len(todo))
    for key in sorted(set(known) - {s.key for s in todo}):
        target.remove(key)
        del known[key]
        report.removed.append(key)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_path.with_name(f".{state_path.name}.tmp")
    tmp.write_text(json.dumps(known, sort_keys=True))
    os.replace(tmp, state_path)
    return report


def targets() -> list[str]:
    return list(settings.SECKI_MIRROR_URLS)


def sync_all(progress: Progress | None = None) -> list[Report]:
    return [sync(url, progress=progress) for url in targets()]
