"""Static snapshots of the public results, and permanent versioned open-data releases.

Layout under ``$SECKI_VAR_DIR/opendata/<election slug>/`` (served at ``/data/<slug>/…`` by the
app, or by any static server or CDN pointed at the directory)::

    live -> .live-<seq>-<n>/      symlink, swapped atomically on every regeneration
        index.json                national results (the same JSON as GET /api/v1/…/results)
        units/<code>.json         every unit: figures, child units, its stations' results
        turnout.json              turnout by report time of every unit
        stations.csv.gz           bulk CSV, one row per station (secki.opendata.bulk)
        turnout.csv.gz            turnout reports (bundle format)
        scans.csv                 public scans of the paper protocols: SHA-256, size, address
        manifest.json             ledger seq, log size and last entry's leaf hash, generation
                                  time, files, sizes, SHA-256
    v<seq>/                       a release: never changed or deleted once written
        stations.csv.gz, turnout.csv.gz, scans.csv, results.json.gz, nist.json.gz,
        election.json, units.csv, candidates.csv, manifest.json, SHA256SUMS
    latest -> v<seq>              symlink to the newest release

``<seq>`` is the sequence number of the election's newest entry in the public ledger: a
release is the published state as of that ledger entry. Its manifest names the election's
public log at that state (spec/transparency.md §5): ``log_size`` (N, the entries 0 … N − 1 it
reflects) and ``ledger_hash``, the leaf hash (hex) of entry N − 1, so that a verifier
recomputes every station's figures from the log's first N entries and compares them with the
release's files (:mod:`secki.opendata.transparency` links the newest release beside the log).

Regeneration is pull-based: :func:`refresh` compares the election's ledger head with the live
snapshot's and brings it forward when they differ: by the stations named in the ledger entries
since the process last wrote it, or in full when it has no state (bench/bench_portal.py prints
how long both take). It cuts a
release at first, when the last one is older than ``SECKI_RELEASE_EVERY`` seconds (600) and
out of date, and as soon as every station has reported.
``secki snapshot --watch`` runs it in a loop; the app also starts it in a background thread
when it serves a stale snapshot (``SECKI_SNAPSHOT_AUTO``, on by default), so the demo needs no
extra process. A file lock keeps one writer per election across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_noop

from secki.elections.models import Election, Publication, Unit
from secki.elections.names import translations
from secki.opendata import store
from secki.opendata.bulk import (
    bulk_bytes,
    bulk_header,
    gzip_bytes,
    scans_bytes,
    station_lines,
    turnout_bytes,
    write_bulk,
    write_registry,
)
from secki.opendata.collect import (
    Delta,
    PublicData,
    PublicStation,
    catch_up,
    collect,
    election_head,
    is_withheld,
    national_json,
    withheld_view,
)
from secki.opendata.nist_export import write_nist
from secki.protocols.scans import published_url, scan_path
from secki.results.publication import time_reached
from secki.results.serialize import unit_json
from secki.results.tabulate import percent

log = logging.getLogger(__name__)

LIVE = "live"
LATEST = "latest"
MANIFEST = "manifest.json"
VERSION_RE = re.compile(r"^v(\d+)$")
KEEP_LIVE = 3  # old live generations kept for readers still fetching them
LIVE_GZIP = 1  # live CSVs: fastest compression (20 % larger); releases use level 6
LICENCE = {
    "name": "Creative Commons Attribution 4.0 International",
    "id": "CC-BY-4.0",
    "url": "https://creativecommons.org/licenses/by/4.0/",
}
DESCRIPTIONS = {
    "stations.csv.gz": gettext_noop(
        "one row per polling station: register, protocol status, every line"
    ),
    "turnout.csv.gz": gettext_noop("turnout reports: station, report time, cumulative voters"),
    "scans.csv": gettext_noop(
        "scans of the paper protocols: station, protocol version, SHA-256, size, address"
    ),
    "results.json.gz": gettext_noop("results of every unit and every station (JSON)"),
    "nist.json.gz": gettext_noop("NIST SP 1500-100 v2 Election Results Common Data Format (JSON)"),
    "election.json": gettext_noop("election settings and protocol schema (bundle format)"),
    "units.csv": gettext_noop("the territory tree (bundle format)"),
    "candidates.csv": gettext_noop("candidates in ballot order (bundle format)"),
    "index.json": gettext_noop("national results (JSON, same as the API)"),
    "turnout.json": gettext_noop("turnout by report time of every unit (JSON)"),
    "SHA256SUMS": gettext_noop("SHA-256 of every file (sha256sum -c SHA256SUMS)"),
}


def root_dir() -> Path:
    return Path(settings.VAR_DIR) / "opendata"


def election_dir(election: Election) -> Path:
    return slug_dir(election.slug)


def slug_dir(slug: str) -> Path:
    return root_dir() / slug


def unit_file(code: str) -> str:
    return f"units/{quote(code, safe='')}.json"


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def _lock(election: Election, *, wait: bool) -> Iterator[bool]:
    """An exclusive lock per election across processes; yields False when busy and not
    waiting."""
    directory = election_dir(election)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- content -------------------------------------------------------------------------------


def station_json(data: PublicData, s: PublicStation) -> dict[str, Any]:
    protocol = data.protocols.get(s.id)
    lines = data.values.get(s.id)
    participants = int(data.schema.role("participants", lines)) if lines is not None else None
    turnout = percent(participants, s.registered) if participants is not None else None
    return {
        "station": s.code,
        "number": s.number,
        "name": s.name,
        **translations(s),
        "registered": s.registered,
        "abroad": s.abroad,
        "temporary": s.temporary,
        "webcam": s.webcam,
        "webcam_url": s.webcam_url or None,
        "status": protocol.status if protocol else None,
        "version": protocol.version if protocol else None,
        "annulment": (protocol.decision_ref or None) if protocol else None,
        "soft_failures": list(protocol.soft_failures) if lines is not None and protocol else [],
        "participants": participants,
        "turnout_percent": None if turnout is None else str(turnout),
        "lines": dict(sorted(lines.items())) if lines is not None else None,
        "scans": [
            scan.json(published_url(scan_path(data.election.slug, s.code, scan.number)))
            for scan in data.scans.get(s.id, ())
        ],
    }


def unit_doc(data: PublicData, u: Unit) -> dict[str, Any]:
    """A unit's snapshot document: its figures, its child units', its own stations'."""
    doc = unit_json(data.unit_result(u))
    doc["children"] = [unit_json(data.unit_result(c)) for c in data.children(u)]
    doc["stations"] = [station_json(data, s) for s in data.stations_of(u)]
    return doc


def unit_docs(data: PublicData) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each unit's code and snapshot document, one at a time (a million stations' documents
    at once are gigabytes)."""
    for u in data.units:
        yield u.code, unit_doc(data, u)


def results_chunks(data: PublicData, version: str) -> Iterator[bytes]:
    """A release's ``results.json``, a unit at a time: the bytes of ``_dumps`` of the
    document with the election, the version, the national JSON, every unit's document and
    the turnout (:func:`make_release`), without holding that document whole."""
    head = {"election": data.election.slug, "version": version, "national": national_json(data)}
    yield _dumps(head)[:-1] + b',"units":{'
    for i, (code, doc) in enumerate(unit_docs(data)):
        yield (b"," if i else b"") + _dumps(code) + b":" + _dumps(doc)
    yield b'},"turnout":' + _dumps(turnout_json(data)) + b"}"


def turnout_json(data: PublicData) -> dict[str, Any]:
    """Turnout of every unit at every report time (Σ voters / Σ registered of reporting), in
    the shape of :func:`secki.results.turnout.turnout_summary`'s ``reports``."""
    sums: dict[int, dict[str, list[int]]] = defaultdict(dict)
    for s in data.stations:
        reports = data.turnout.get(s.id)
        if not reports:
            continue
        branch = data.branch(s.unit_id)
        for time_, voters in reports.items():
            for unit_id in branch:
                acc = sums[unit_id].setdefault(time_, [0, 0, 0])
                acc[0] += voters
                acc[1] += s.registered
                acc[2] += 1
    times = list(data.election.turnout_times)
    times += sorted({t for s in sums.values() for t in s} - set(times))
    units = {}
    for u in data.units:
        total = data.totals[u.id].stations_total
        series = []
        for t in times:
            voters, reg, n = sums.get(u.id, {}).get(t, [0, 0, 0])
            p = percent(voters, reg)
            series.append(
                {
                    "time": t,
                    "voters": voters,
                    "registered_reporting": reg,
                    "stations_reporting": n,
                    "stations_total": total,
                    "turnout": None if p is None else float(p),
                }
            )
        units[u.code] = series
    return {"election": data.election.slug, "times": times, "units": units}


def _manifest(data: PublicData, directory: Path, version: str, names: list[str]) -> dict[str, Any]:
    files = []
    for name in names:
        path = directory / name
        files.append(
            {
                "name": name,
                "size": path.stat().st_size,
                "sha256": _sha256(path),
                "description": DESCRIPTIONS.get(name, ""),
            }
        )
    return {
        "format": "secki-opendata/1",
        "election": data.election.slug,
        "name": data.election.name,
        "simulated": data.election.simulated,
        "version": version,
        "ledger_seq": data.seq,
        "ledger_hash": data.ledger_hash,
        "log_size": data.log_size,
        "generated_at": data.generated_at.isoformat(),
        "complete": data.complete,
        "stations_total": data.totals[data.root.id].stations_total,
        "stations_reported": data.totals[data.root.id].stations_reported,
        "licence": LICENCE,
        "attribution": f"{data.election.name}, Secki open data",
        "columns": bulk_header(data),
        "files": files,
    }


# -- live snapshot -------------------------------------------------------------------------


@dataclass
class LiveState:
    """What a process keeps between regenerations of one election's live snapshot, so that a
    change rewrites only what it touches: the data, each station's bulk CSV line, and the
    directory written last (unchanged files are hard-linked from it)."""

    data: PublicData
    lines: dict[int, bytes]  # as written: without results while ``withheld``
    gen: Path
    withheld: bool = False  # the files written hold the results back
    #: changes already applied to ``data`` by :func:`advance` but not yet to the files
    pending: Delta | None = None


def advance(election: Election) -> PublicData | None:
    """Bring the kept data forward to the ledger without writing any file (the publisher
    writes the public state from it first; the next :func:`refresh` writes the files the
    changes touch). None when there is no kept data, or too much changed for a delta."""
    with _states_lock:
        state = _states.get(_state_key(election))
    if state is None or not state.gen.is_dir():
        return None
    try:
        delta = catch_up(state.data)
    except Exception:
        with _states_lock:
            _states.pop(_state_key(election), None)
        raise
    if delta is None:
        with _states_lock:  # the data is no longer that of its files: all anew next time
            _states.pop(_state_key(election), None)
        return None
    state.pending = _merged(state.pending, delta)
    return state.data


def _merged(first: Delta | None, then: Delta) -> Delta:
    if first is None:
        return then
    return Delta(first.stations | then.stations, first.turnout or then.turnout)


_states: dict[tuple[int, str], LiveState] = {}
_states_lock = threading.Lock()
LIVE_FILES = ["index.json", "turnout.json", "stations.csv.gz", "turnout.csv.gz", "scans.csv"]
KEEP_STATIONS = 20_000  # app processes keep state for elections up to this size


def _state_key(election: Election) -> tuple[int, str]:
    return (election.pk, str(election.created_at))


def write_live(
    election: Election, data: PublicData | None = None, *, keep: bool | None = True
) -> Path:
    """Regenerate the whole live snapshot and swap it in atomically; returns its directory.
    ``keep``: remember the state in this process for :func:`update_live` (None: when the
    election has at most ``KEEP_STATIONS`` stations)."""
    data = data or collect(election)
    withheld = is_withheld(data)
    shown = withheld_view(data) if withheld else data
    lines = station_lines(shown)
    gen = _new_gen(election, data)
    (gen / "index.json").write_bytes(_dumps(national_json(shown, withheld=withheld)))
    for code, doc in unit_docs(shown):
        (gen / unit_file(code)).write_bytes(_dumps(doc))
    (gen / "turnout.json").write_bytes(_dumps(turnout_json(shown)))
    (gen / "turnout.csv.gz").write_bytes(gzip_bytes(turnout_bytes(shown), LIVE_GZIP))
    (gen / "stations.csv.gz").write_bytes(gzip_bytes(bulk_bytes(shown, lines), LIVE_GZIP))
    (gen / "scans.csv").write_bytes(scans_bytes(shown))
    _finish(election, shown, gen, withheld=withheld)
    if keep is None:
        keep = len(data.stations) <= KEEP_STATIONS
    with _states_lock:
        if keep:
            _states[_state_key(election)] = LiveState(data, lines, gen, withheld)
        else:
            _states.pop(_state_key(election), None)
    return gen


def update_live(election: Election) -> Path | None:
    """Bring the live snapshot forward by the ledger entries since this process last wrote
    it, rewriting only the files the changed stations touch. Returns the new directory, the
    current one when nothing changed, or None when a full :func:`write_live` is needed."""
    with _states_lock:
        state = _states.get(_state_key(election))
    if state is None or not state.gen.is_dir():
        return None
    data = state.data
    try:
        delta = catch_up(data)
    except Exception:
        # a half-applied delta must not be written on later: forget the state (full next time)
        with _states_lock:
            _states.pop(_state_key(election), None)
        raise
    if delta is None:
        return None
    delta, state.pending = _merged(state.pending, delta), None
    withheld = is_withheld(data)
    if withheld != state.withheld:  # the results are released (or held back again): all anew
        return write_live(election, data, keep=True)
    if not delta.stations and not delta.turnout:
        return state.gen
    shown = withheld_view(data) if withheld else data
    changed = [data.station(sid) for sid in sorted(delta.stations)]
    state.lines.update(station_lines(shown, changed))
    touched = {unit_id for s in changed for unit_id in data.branch(s.unit_id)}
    gen = _new_gen(election, data)
    (gen / "index.json").write_bytes(_dumps(national_json(shown, withheld=withheld)))
    for u in data.units:
        target = gen / unit_file(u.code)
        if u.id in touched:
            target.write_bytes(_dumps(unit_doc(shown, u)))
        else:
            os.link(state.gen / unit_file(u.code), target)
    if delta.turnout:
        (gen / "turnout.json").write_bytes(_dumps(turnout_json(shown)))
        (gen / "turnout.csv.gz").write_bytes(gzip_bytes(turnout_bytes(shown), LIVE_GZIP))
    else:
        for name in ("turnout.json", "turnout.csv.gz"):
            os.link(state.gen / name, gen / name)
    if changed:
        (gen / "stations.csv.gz").write_bytes(gzip_bytes(bulk_bytes(shown, state.lines), LIVE_GZIP))
        (gen / "scans.csv").write_bytes(scans_bytes(shown))
    else:
        for name in ("stations.csv.gz", "scans.csv"):
            os.link(state.gen / name, gen / name)
    _finish(election, shown, gen, withheld=withheld)
    state.gen = gen
    return gen


def _new_gen(election: Election, data: PublicData) -> Path:
    base = election_dir(election)
    gen = base / f".live-{data.seq}-{time.time_ns()}"
    (gen / "units").mkdir(parents=True)
    return gen


def _finish(election: Election, data: PublicData, gen: Path, *, withheld: bool) -> None:
    manifest = _manifest(data, gen, LIVE, LIVE_FILES)
    manifest["units"] = len(data.units)
    manifest["withheld"] = withheld
    (gen / MANIFEST).write_bytes(_dumps(manifest))
    base = election_dir(election)
    _swap(base / LIVE, gen.name)
    _prune(base, keep=gen.name)


def _swap(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}-{time.time_ns()}")
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _prune(base: Path, *, keep: str) -> None:
    gens = sorted(
        (p for p in base.glob(".live-*") if p.is_dir() and p.name != keep),
        key=lambda p: p.stat().st_mtime,
    )
    for old in gens[: max(0, len(gens) - (KEEP_LIVE - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def live_manifest(election: Election) -> dict[str, Any] | None:
    return read_manifest(election_dir(election) / LIVE)


# -- releases ------------------------------------------------------------------------------


def collect_at_once(election: Election) -> PublicData:
    """:func:`collect` in one database snapshot, so that every figure is that of exactly the
    log size the data names (``log_size``): what a release states, and what a verifier
    compares with the log at that size (a reader's transaction on both databases: writes go
    on meanwhile, unseen by it)."""
    with store.snapshot():
        return collect(election)


class ReleaseWithheld(Exception):
    """No release while the election's publication setting holds the results back."""


def make_release(
    election: Election, data: PublicData | None = None, lines: dict[int, bytes] | None = None
) -> Path:
    """Write the permanent release of the current published state (``v<seq>``), unless it
    exists already; point ``latest`` at it. ``data`` must be read at one instant
    (:func:`collect_at_once`, the default). Raises :class:`ReleaseWithheld` while the
    publication setting holds the results back (a release is permanent)."""
    data = data or collect_at_once(election)
    if is_withheld(data):
        raise ReleaseWithheld(
            f"{election.slug}: the publication setting holds the results back; no release yet"
        )
    base = election_dir(election)
    version = f"v{data.seq}"
    target = base / version
    if not target.is_dir():
        tmp = base / f".tmp-{version}-{time.time_ns()}"
        tmp.mkdir(parents=True)
        write_bulk(data, tmp, lines)
        write_registry(data, tmp)
        with (
            (tmp / "results.json.gz").open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as results,
        ):
            for chunk in results_chunks(data, version):
                results.write(chunk)
        with (
            (tmp / "nist.json.gz").open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as nist,  # as gzip_bytes
        ):
            write_nist(data, nist)
        names = [
            "stations.csv.gz",
            "turnout.csv.gz",
            "scans.csv",
            "results.json.gz",
            "nist.json.gz",
            "election.json",
            "units.csv",
            "candidates.csv",
        ]
        manifest = _manifest(data, tmp, version, names)
        (tmp / MANIFEST).write_bytes(json.dumps(manifest, indent=1).encode() + b"\n")
        sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in manifest["files"])
        (tmp / "SHA256SUMS").write_text(sums, encoding="utf-8")
        for path in tmp.iterdir():
            path.chmod(0o444)
        try:
            tmp.rename(target)
        except OSError:  # another process wrote the same version first
            shutil.rmtree(tmp, ignore_errors=True)
    newest = releases(election)
    if newest:
        _swap(base / LATEST, newest[0]["version"])
    return target


def releases(election: Election) -> list[dict[str, Any]]:
    """Manifests of every release, newest first."""
    return releases_in(election_dir(election))


def releases_in(base: Path) -> list[dict[str, Any]]:
    found = []
    if base.is_dir():
        for path in base.iterdir():
            if VERSION_RE.match(path.name) and path.is_dir():
                manifest = read_manifest(path)
                if manifest is not None:
                    found.append(manifest)
    return sorted(found, key=lambda m: int(m["ledger_seq"]), reverse=True)


# -- regeneration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    live: bool  # the live snapshot was rewritten
    release: str | None  # the version released now, if any
    seq: int
    seconds: float


def release_every() -> float:
    return float(getattr(settings, "SECKI_RELEASE_EVERY", 600))


def refresh(
    election: Election,
    *,
    every: float | None = None,
    wait: bool = True,
    keep: bool | None = None,
    release: bool = True,
) -> Refreshed:
    """Bring the live snapshot up to the ledger head (by the changes since this process last
    wrote it, or in full); cut a release when the newest one is older than ``every`` seconds
    (default ``SECKI_RELEASE_EVERY``, 600) and out of date. ``keep``: remember the state for
    the next change (default: for elections up to 20,000 stations; the watcher keeps always).
    ``release``: False leaves releases to a later call (the publisher writes the public state
    first).
    """
    started = time.perf_counter()
    every = release_every() if every is None else every
    with _lock(election, wait=wait) as locked:
        if not locked:
            return Refreshed(False, None, -1, 0.0)
        head, _hash = election_head(election)
        live = live_manifest(election)
        data: PublicData | None = None
        rewrote = False
        if not _live_current(election, live, head):
            if live is not None and update_live(election) is not None:
                data = _states[_state_key(election)].data
            else:
                data = collect(election)
                write_live(election, data, keep=keep)
            rewrote = True
        else:  # the live files are current: the data kept for them is the head's
            with _states_lock:
                kept_state = _states.get(_state_key(election))
            if kept_state is not None and kept_state.pending is None:
                data = kept_state.data if kept_state.data.seq == head else None
        newest = releases(election)
        released = None
        live = live_manifest(election)
        # a release is due at first, then every ``every`` seconds while results change, and
        # at once when the results become complete
        due = (
            release
            and bool(live and not live.get("withheld"))
            and (
                not newest
                or (
                    int(newest[0]["ledger_seq"]) != head
                    and (
                        time.time() - _release_time(election, newest[0]) >= every
                        or bool(live and live.get("complete") and not newest[0].get("complete"))
                    )
                )
            )
        )
        seq = data.seq if data is not None else head
        if due:
            # the data just brought to the head is the release's when nothing was committed
            # since its reads (so every figure is that of its log size); otherwise the kept
            # data is brought to one instant (:func:`_at_one_instant`)
            still = data is not None and data.seq == head == election_head(election)[0]
            fresh = data if still and data is not None else _at_one_instant(election)
            if not is_withheld(fresh) and not (election_dir(election) / f"v{fresh.seq}").exists():
                kept_state = _states.get(_state_key(election))
                same = (
                    kept_state is not None
                    and kept_state.data is fresh
                    and not kept_state.withheld
                    and kept_state.pending is None
                )
                # the live bulk CSV's lines are the release's when it is of the same data
                make_release(election, fresh, kept_state.lines if same and kept_state else None)
                released = f"v{fresh.seq}"
            if data is None:
                seq = fresh.seq
    return Refreshed(rewrote, released, seq, time.perf_counter() - started)


def _at_one_instant(election: Election) -> PublicData:
    """The election's public data at one instant, for a release cut while facts arrive: the
    data this process keeps brought forward in one database snapshot, or else read whole in
    one (:func:`collect_at_once`). Formerly always read whole: the election held twice for the
    release's time (18 MB more at 6,537 stations, about 15 times that at 100,000), which the
    publisher's RSS kept after the first release of a soak (issue 15).

    The kept data is exact once caught up in a snapshot: every read of it came after the
    entries it was brought to, so a row newer than those entries is one whose entry follows
    them (a station's change and its entry commit together, entries in commit order), and
    that station is read again in the snapshot with every entry committed before it. The
    changes go on pending for the live files (:func:`update_live` writes them next)."""
    key = _state_key(election)
    with _states_lock:
        state = _states.get(key)
    if state is not None and state.gen.is_dir():
        try:
            with store.snapshot():
                delta = catch_up(state.data)
        except Exception:  # a half-applied delta: the kept data is forgotten (full next time)
            with _states_lock:
                _states.pop(key, None)
            raise
        if delta is not None:
            if delta.stations or delta.turnout:
                state.pending = _merged(state.pending, delta)
            return state.data
        with _states_lock:  # too much changed: the data is no longer that of its files
            _states.pop(key, None)
    return collect_at_once(election)


def _live_current(election: Election, live: dict[str, Any] | None, head: int) -> bool:
    """Whether the live files are those of the ledger's ``head`` and of this moment: files
    holding results back until a publication time are stale once it is reached, though no
    entry came."""
    if live is None or int(live.get("ledger_seq", -1)) != head:
        return False
    return not (
        live.get("withheld")
        and election.publication == Publication.TIME
        and time_reached(election.publication, election.publication_at, timezone.now())
    )


def _release_time(election: Election, manifest: dict[str, Any]) -> float:
    try:
        return (election_dir(election) / str(manifest["version"]) / MANIFEST).stat().st_mtime
    except OSError:
        return 0.0


_running: set[str] = set()
_last_try: dict[str, float] = {}
_state_lock = threading.Lock()
AUTO_INTERVAL = 2.0  # seconds between background attempts per election and process


def auto() -> bool:
    """Whether the app regenerates stale snapshots itself: ``SECKI_SNAPSHOT_AUTO`` and no
    publisher running (:func:`publisher_alive`)."""
    return bool(getattr(settings, "SECKI_SNAPSHOT_AUTO", True)) and not publisher_alive()


#: the publisher's heartbeat (``secki publish --watch``), touched at every round
HEARTBEAT = ".publisher"
#: a heartbeat older than this many seconds means that no publisher runs
HEARTBEAT_STALE = 5.0


def beat() -> None:
    """Say that a publisher runs (it writes the snapshots and the published states)."""
    root_dir().mkdir(parents=True, exist_ok=True)
    path = root_dir() / HEARTBEAT
    path.touch()
    os.utime(path)


class Heartbeat:
    """Beats every ``every`` seconds in a thread of its own while the publisher's process
    lives (``with Heartbeat(): …``, or :meth:`start` … :meth:`close`), so that one long
    round (a national election's first state takes minutes) does not look like a publisher
    that stopped: web processes would then each build the state themselves."""

    def __init__(self, every: float = HEARTBEAT_STALE / 5, beat: Callable[[], None] = beat):
        self.every = every
        self.beat = beat
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="publisher-heartbeat", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except OSError:  # a full disk: the rounds say so; try again at the next beat
                log.warning("cannot touch the publisher's heartbeat", exc_info=True)
            if self.stop.wait(self.every):
                return

    def start(self) -> Heartbeat:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def publisher_alive() -> bool:
    try:
        beat_at = (root_dir() / HEARTBEAT).stat().st_mtime
    except OSError:
        return False
    return time.time() - beat_at < HEARTBEAT_STALE


def kept(election: Election) -> PublicData | None:
    """The public data this process keeps for the election's live snapshot, if any (as of
    the live snapshot it last wrote)."""
    with _states_lock:
        state = _states.get(_state_key(election))
    return state.data if state is not None else None


def check_due(slug: str) -> bool:
    """True at most once per ``AUTO_INTERVAL`` seconds per election and process, and never
    while a background refresh of it runs: serving a file costs no more than a clock read."""
    now = time.monotonic()
    with _state_lock:
        if slug in _running or now - _last_try.get(slug, -1e9) < AUTO_INTERVAL:
            return False
        _last_try[slug] = now
        return True


def forget_check(slug: str) -> None:
    """Let the next :func:`check_due` of ``slug`` succeed (the turn is handed on)."""
    with _state_lock:
        _last_try.pop(slug, None)


def start_if_stale(election: Election) -> bool:
    """Start :func:`refresh` in a daemon thread when the live snapshot is behind the ledger or
    the newest release is out of date (it decides whether one is due)."""
    slug = election.slug
    live = live_manifest(election)
    head, _ = election_head(election)
    if _live_current(election, live, head):
        newest = releases(election)
        if (live and live.get("withheld")) or (newest and int(newest[0]["ledger_seq"]) == head):
            return False
    with _state_lock:
        if slug in _running:
            return False
        _running.add(slug)

    def work() -> None:
        try:
            refresh(election, wait=False)
        except Exception:
            log.exception("snapshot of %s failed", slug)
        finally:
            connection.close()
            with _state_lock:
                _running.discard(slug)

    threading.Thread(target=work, name=f"snapshot-{slug}", daemon=True).start()
    return True


def refresh_in_background(election: Election) -> bool:
    """:func:`start_if_stale` when ``SECKI_SNAPSHOT_AUTO`` (default on) and :func:`check_due`."""
    return auto() and check_due(election.slug) and start_if_stale(election)
