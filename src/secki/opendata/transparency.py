"""The public transparency log, published as static files (spec/transparency.md §2–§5; issue
14): every election's log entries (:class:`secki.ledger.models.LedgerEntry`) become tiles and
bundles, a signed and witnessed checkpoint, and the server's own totals at that size, which
anyone can check against the entries without trusting the server (``secki verify``).

Layout under ``$SECKI_VAR_DIR/log/`` (served at ``/log/`` by :mod:`secki.opendata.wsgi` before
Django, by :func:`secki.portal.views.log_file` without it, or by any static server)::

    log.vkey                      the log's verifier key (one line, spec §3.3)
    witnesses.txt                 the witness policy (tlog.checkpoint.WitnessPolicy's text)
    elections.json                {"logs": [{"election", "origin", "path": "<slug>/"}, …]}
    <slug>/                       one election's log, origin <SECKI_LOG_NAME>/<slug>
        checkpoint                the newest signed and cosigned checkpoint
        checkpoints/<N>           every published checkpoint, for auditors' consistency checks
        tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]     tiles and bundles (§2.3, §2.4)
        results/<N>.json          the server's totals at size N (tlog.results, with ``units``)
        results/latest.json       the newest of them
        hints/<slug>/<station>.json   {"election", "station", "indexes"}: the leaf indexes of
                                  the station's entries (unauthenticated); the file name is the
                                  station code percent-encoded (``quote(code, safe="")``)
        scans/<sha256>            public scans named by entries
        register/<sha256>         the register files and election.json named by entries
        opendata.json             {"election", "release": "v<seq>", "manifest": <sha256>}: the
                                  newest open-data release (secki.opendata.snapshots) of at
                                  most the published size; its manifest states the log size
                                  it reflects (``log_size``, ``ledger_hash``)
        opendata/<sha256>         that release's manifest.json and the files a verifier
                                  compares station by station with the log (RELEASE_FILES),
                                  the same bytes as /data/<slug>/v<seq>/<name>
        .lock, .pending           the writer's lock; scans and files still to publish

:func:`publish` brings one election's log up to date, under a file lock per election: it
resumes the tiles at the published checkpoint, reads in **one** database snapshot the log's
size and the public tabulation (so the results file states the server's totals at exactly
that size), appends the new entries, signs the checkpoint, asks the policy's witnesses to
cosign it, and only with the quorum writes the results, hints, scans and register files and
then replaces ``checkpoint`` (written, synced, renamed: §2.5, everything of size N before the
checkpoint of N). Without the quorum the previous checkpoint stays and the next round tries
again. :func:`publish_all` does every election and the site's files. ``secki publish``
(``--watch``) runs it (:mod:`secki.opendata.cli`).

**The publication setting.** While the election's publication setting holds the preliminary
results back from the public (:func:`secki.results.publication.results_public`: a share of
the stations not counted yet, a time not reached), the log is published only up to its first
entry that states or changes a protocol's figures (:data:`HELD_KINDS`, from the published size
on): every entry before it (the election, its register, turnout reports, scans) is published
as usual, with a checkpoint of that size, witnessed, and its ``results/<N>.json`` (whose
totals are those of the last published size: no protocol entry lies between). The held
entries stay in the database, where the log's validity is checked (``secki verify-log``), and
are published whole, in order, by the first round after the setting lets the results out
(at a publication time, without a new entry). The log thus never states a figure before the
pages, the API and the open data may, and a published log is never rewritten: the
checkpoints during the wait are prefixes of the later ones.

The private key is read from ``SECKI_LOG_KEY_FILE`` (or, in development, generated into
``$SECKI_VAR_DIR/log_key``) when a checkpoint is signed; it is never stored in the database,
logged, or put in an error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Exists, Max, OuterRef

from secki.elections.models import Election
from secki.env import generated_secret
from secki.ledger.models import LedgerEntry, LogFile
from secki.opendata import published as published_state
from secki.opendata import snapshots, store
from secki.protocols.models import ProtocolScan
from secki.protocols.scans import PUBLIC_STATUSES
from secki.results.publication import results_public
from secki.results.tabulate import Tabulation
from secki.tlog import canonical, entries
from secki.tlog.checkpoint import Checkpoint, CheckpointError, WitnessPolicy
from secki.tlog.merkle import leaf_hash
from secki.tlog.note import KeyType, NoteError, Signer, generate_key, sign_note, split_note
from secki.tlog.results import results_document, results_path
from secki.tlog.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileError,
    TileReader,
    TileWriter,
    directory_source,
)
from secki.witness.client import QuorumError, collect

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"
LATEST_RESULTS = "results/latest.json"
LOG_VKEY = "log.vkey"
WITNESSES = "witnesses.txt"
ELECTIONS = "elections.json"
PENDING = ".pending"
OPENDATA = "opendata.json"
#: the files of an open-data release published beside the log (with its manifest.json)
RELEASE_FILES = (
    "stations.csv.gz",
    "turnout.csv.gz",
    "nist.json.gz",
    "election.json",
    "units.csv",
    "candidates.csv",
)
#: entries read from the database and appended at a time (a first publication of a big log
#: goes by steps of this many, for the progress bar; a multiple of the tile width)
CHUNK = 16384
#: seconds a witness has to answer
WITNESS_TIMEOUT = 10.0
#: more files than this in one round are made durable with one sync(2) rather than each
SYNC_EACH_UP_TO = 64

#: the entries the log holds back while the publication setting withholds the results: those
#: that state or change a protocol's figures
HELD_KINDS = (entries.PROTOCOL_ACCEPTED, entries.PROTOCOL_AMENDED, entries.PROTOCOL_ANNULLED)

#: ``progress(election slug, entries appended, entries to append)``
Progress = Callable[[str, int, int], None]


class PublishError(Exception):
    """The log cannot be published: a configuration that does not work, or a published log
    that the database no longer matches. The message says what and where (never a key)."""


# -- configuration -----------------------------------------------------------------------------


def root_dir() -> Path:
    return Path(settings.VAR_DIR) / "log"


def election_dir(slug: str) -> Path:
    return root_dir() / slug


def log_name() -> str:
    """The log's name (``SECKI_LOG_NAME``): its key's name, and every origin's prefix."""
    return str(settings.SECKI_LOG_NAME)


def origin(slug: str) -> str:
    """The origin of one election's log (spec §2.1, §3.1)."""
    return f"{log_name()}/{slug}"


KEY_FORMAT = "PRIVATE+KEY+<name>+<key id>+<key>, as `secki log keygen` writes it"


def log_signer() -> Signer:
    """The log's private key, from ``SECKI_LOG_KEY_FILE``; in development without it, the key
    kept in ``$SECKI_VAR_DIR/log_key`` (generated on first use, mode 0600). Its name must be
    the log's name (a development key takes the current name). Errors name the file, never
    its content."""
    name = log_name()
    path = str(getattr(settings, "SECKI_LOG_KEY_FILE", "") or "")
    development = bool(getattr(settings, "SECKI_DEVELOPMENT", False))
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise PublishError(f"SECKI_LOG_KEY_FILE={path!r} cannot be read: {reason}") from None
        source = f"SECKI_LOG_KEY_FILE={path!r}"
    elif development:
        generated = Path(settings.VAR_DIR) / "log_key"
        text = generated_secret(generated, lambda: generate_key(name).format())
        source = str(generated)
    else:
        raise PublishError(
            "no log key: set SECKI_LOG_KEY_FILE to the file `secki log keygen --name "
            f"{name} --out FILE` wrote (SECKI_DEVELOPMENT=1 generates one for development)"
        )
    try:
        signer = Signer.parse(text.strip())
    except NoteError:
        raise PublishError(f"{source} does not hold a log private key ({KEY_FORMAT})") from None
    if signer.key_type != KeyType.ED25519:
        raise PublishError(f"{source} holds a witness's key (type 0x04), not a log key (0x01)")
    if signer.name != name:
        if not path:  # development: the same key under the name now configured
            return Signer.from_seed(name, KeyType.ED25519, signer.seed)
        raise PublishError(
            f"{source} holds the key of log {signer.name!r}, but SECKI_LOG_NAME is {name!r}"
        )
    return signer


def witness_policy() -> WitnessPolicy:
    """The policy of ``SECKI_WITNESS_POLICY``; without one, no witnesses and quorum 0 (a
    development log: its checkpoints are signed, not cosigned)."""
    path = str(getattr(settings, "SECKI_WITNESS_POLICY", "") or "")
    if not path:
        return WitnessPolicy((), 0)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise PublishError(f"SECKI_WITNESS_POLICY={path!r} cannot be read: {reason}") from None
    try:
        return WitnessPolicy.parse(text)
    except CheckpointError as exc:
        raise PublishError(f"SECKI_WITNESS_POLICY={path!r}: {exc}") from None


def cosign(
    policy: WitnessPolicy, note: str, old_size: int, proof_for: Callable[[int], Sequence[bytes]]
) -> str:
    """``note`` with the cosignatures of at least the policy's quorum of witnesses (spec §4.3,
    §4.4), each asked from ``old_size`` (the last published size) or, after its 409, from the
    size it states, with ``proof_for(m)`` = PROOF(m, N). Raises
    :class:`secki.witness.client.QuorumError` without the quorum."""
    if not policy.witnesses:
        return note
    return collect(policy, note, old_size, proof_for, timeout=WITNESS_TIMEOUT)


# -- files -------------------------------------------------------------------------------------


def hint_path(slug: str, station: str) -> str:
    """``hints/<slug>/<station>.json``, the code percent-encoded (a leading dot too, so that
    no hint is a hidden file)."""
    name = quote(station, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    return f"hints/{slug}/{name}.json"


@dataclass
class _Files:
    """Files written for one size; made durable together before the checkpoint names it."""

    directory: Path
    written: list[Path] = field(default_factory=list)

    def write(self, name: str, data: bytes) -> Path:
        """Write ``data`` at ``name`` (a temporary file renamed into place: readers see the
        old file or the new one, never a part)."""
        target = self.directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)
        self.written.append(target)
        return target

    def copy(self, name: str, chunks: Iterable[bytes], sha256: str) -> bool:
        """Write the bytes of ``chunks`` at ``name`` if they hash to ``sha256``."""
        target = self.directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        digest = hashlib.sha256()
        with temporary.open("wb") as handle:
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != sha256:
            temporary.unlink()
            return False
        os.replace(temporary, target)
        self.written.append(target)
        return True

    def sync(self) -> None:
        """Make every file written so far durable, and the directories that name them."""
        if len(self.written) > SYNC_EACH_UP_TO:
            os.sync()
        else:
            for path in [*self.written, *sorted({p.parent for p in self.written})]:
                _fsync(path)
        self.written.clear()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file, sync it, rename it over ``path`` and sync the
    directory: after a crash ``path`` holds the old bytes or the new ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync(path.parent)


@contextlib.contextmanager
def _lock(directory: Path) -> Iterator[None]:
    """One writer per election's log across processes."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class _Pending:
    """Scans and register files named by published entries but not published yet (a scan of
    a protocol version that is not public, a file that could not be found)."""

    scans: set[str] = field(default_factory=set)
    register: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, directory: Path) -> _Pending:
        path = directory / PENDING
        try:
            data = canonical.decode(path.read_bytes())
        except FileNotFoundError:
            return cls()
        except canonical.CanonicalError as exc:
            raise PublishError(f"{path} is damaged ({exc})") from None
        scans, register = data.get("scans"), data.get("register")
        if not isinstance(scans, list) or not isinstance(register, list):
            raise PublishError(f"{path} is damaged (no lists of scans and register files)")
        return cls({str(s) for s in scans}, {str(r) for r in register})

    def save(self, directory: Path) -> None:
        data = {"register": sorted(self.register), "scans": sorted(self.scans)}
        replace_durably(directory / PENDING, canonical.encode(data))


# -- publishing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """What one round did for one election's log."""

    election: str
    #: the size published before this round, and after it
    previous: int
    size: int
    #: ``published`` (a new checkpoint), ``current`` (nothing new), ``no-quorum`` (new entries
    #: appended to the tiles, the checkpoint left as it was), ``waiting`` (new entries, left
    #: for the public state to reach them)
    status: str
    detail: str = ""
    #: entries were left for a later round (the public state had not reached them yet)
    behind: bool = False

    @property
    def appended(self) -> int:
        return self.size - self.previous


@dataclass(frozen=True)
class _Snapshot:
    """The database at one instant: the log's size and the public totals at that size."""

    size: int
    totals: dict[str, int]
    stations_counted: int
    units: dict[str, dict[str, int]]
    #: the publication setting holds the results back from the public
    withheld: bool = False


def _size(election: Election) -> int:
    """How many entries the election's log has in the database."""
    last = LedgerEntry.objects.filter(election=election).aggregate(m=Max("index"))["m"]
    return 0 if last is None else int(last) + 1


def _read_snapshot(election: Election) -> _Snapshot:
    with store.snapshot():
        size = _size(election)
        tabulation = Tabulation(election, public=True)
    return _snapshot_of(election, size, tabulation)


def _state_snapshot(election: Election, published: int) -> tuple[_Snapshot | None, bool]:
    """The log's size and totals as of the election's latest public state, when that state
    is ahead of the ``published`` size: the publisher keeps its totals current by deltas, so
    the log needs no tabulation of the whole election (at a million stations, seconds of the
    database's time at every round). Otherwise None, and whether such a state exists but has
    not passed the published size yet (worth waiting for while a publisher keeps it
    current). Never while the results are withheld (the log then holds entries back:
    :func:`_held_back`)."""
    state = published_state.read(election.slug)
    if (
        state is None
        or state.withheld
        or not state.seq
        or state.key != (election.pk, str(election.created_at))
    ):
        return None, False
    index = (
        LedgerEntry.objects.filter(seq=state.seq, election=election)
        .values_list("index", flat=True)
        .first()
    )
    if index is None:
        return None, False
    if int(index) + 1 <= published:
        return None, True
    snapshot = _snapshot_of(election, int(index) + 1, state.tabulation())
    return (None, False) if snapshot.withheld else (snapshot, False)


def _snapshot_of(election: Election, size: int, tabulation: Tabulation) -> _Snapshot:
    units = {
        unit.code: dict(sorted(tabulation.totals[unit.id].lines.items()))
        for unit in tabulation.units.values()
    }
    roots = [u for u in tabulation.units.values() if u.parent_id is None]
    national = tabulation.totals[roots[0].id] if roots else None
    return _Snapshot(
        size,
        dict(sorted(national.lines.items())) if national else {},
        national.stations_reported if national else 0,
        units,
        withheld=national is not None and not results_public(election, national),
    )


def _held_from(election: Election, start: int, end: int) -> int | None:
    """The index of the first entry in ``start`` … ``end`` − 1 that the log holds back while
    the results are withheld (:data:`HELD_KINDS`), or None."""
    found = (
        LedgerEntry.objects.filter(
            election=election, index__gte=start, index__lt=end, kind__in=HELD_KINDS
        )
        .order_by("index")
        .values_list("index", flat=True)
        .first()
    )
    return None if found is None else int(found)


def _held_back(
    election: Election, directory: Path, snapshot: _Snapshot, published: int
) -> _Snapshot:
    """``snapshot`` cut before its first held entry from the ``published`` size on, while the
    results are withheld: that prefix's totals are the last published ones (no protocol entry
    lies between), or nothing counted for a log that never published any."""
    limit = _held_from(election, published, snapshot.size) if snapshot.withheld else None
    if limit is None:
        return snapshot
    units: dict[str, dict[str, int]] = {code: {} for code in snapshot.units}
    totals: dict[str, int] = {}
    counted = 0
    if published:
        try:
            last = canonical.decode((directory / results_path(published)).read_bytes())
        except (OSError, canonical.CanonicalError) as exc:
            raise PublishError(
                f"{election.slug}: results of the published size {published} unreadable: {exc}"
            ) from None
        stated, by_unit, counted_then = (
            last.get("totals"),
            last.get("units"),
            last.get("stations_counted"),
        )
        if not isinstance(stated, dict) or not isinstance(counted_then, int):
            raise PublishError(f"{election.slug}: results of size {published} are not totals")
        totals = {str(code): int(value) for code, value in stated.items()}
        counted = counted_then
        if isinstance(by_unit, dict):
            for code, lines in by_unit.items():
                if isinstance(lines, dict):
                    units[str(code)] = {str(c): int(v) for c, v in lines.items()}
    return _Snapshot(limit, totals, counted, units, withheld=True)


def _resume(directory: Path, expected_origin: str) -> TileWriter:
    """The writer at the published checkpoint, which must be this log's."""
    try:
        note = (directory / CHECKPOINT).read_bytes()
    except FileNotFoundError:
        return TileWriter(directory)
    try:
        found = Checkpoint.parse(split_note(note).text).origin
    except (CheckpointError, NoteError) as exc:
        raise PublishError(f"{directory / CHECKPOINT} is not a checkpoint: {exc}") from None
    if found != expected_origin:
        raise PublishError(
            f"the log in {directory} has origin {found!r}, not {expected_origin!r}: "
            "SECKI_LOG_NAME changed? A published log is never rewritten: move the directory "
            "away to start a new one"
        )
    try:
        return TileWriter.resume(directory)
    except TileError as exc:
        raise PublishError(f"cannot resume the log in {directory}: {exc}") from None


def _check_continues(election: Election, writer: TileWriter, size: int) -> None:
    """The database's entries continue the published log: it has at least its entries, and
    the last published one is the same."""
    published = writer.size
    if not published:
        return
    if size < published:
        raise PublishError(
            f"the database holds {size} entries of {election.slug}, the published log "
            f"{published}: entries were removed from the database; nothing is published"
        )
    stored = (
        LedgerEntry.objects.filter(election=election, index=published - 1)
        .values_list("leaf_hash", flat=True)
        .first()
    )
    reader = TileReader(directory_source(writer.directory), published, writer.root)
    last = published - 1
    tiled = reader.tile(0, last >> TILE_HEIGHT)[last % TILE_WIDTH].hex()
    if stored != tiled:
        raise PublishError(
            f"entry {last} of {election.slug} in the database is not the published entry "
            f"{last} (leaf hash {stored} in the database, {tiled} in the log): the database "
            "does not continue the published log; nothing is published"
        )


@dataclass
class _New:
    """What the appended entries name: stations (for hints), scans and register files."""

    stations: dict[str, list[int]] = field(default_factory=dict)
    scans: set[str] = field(default_factory=set)
    register: set[str] = field(default_factory=set)

    def add(self, index: int, body: str) -> None:
        entry = json.loads(body)
        station = entry.get("station")
        if isinstance(station, str):
            self.stations.setdefault(station, []).append(index)
        scan = entry.get("scan_sha256")
        if isinstance(scan, str):
            self.scans.add(scan)
        if entry.get("kind") == "register.published" and isinstance(entry.get("files"), dict):
            self.register.update(v for v in entry["files"].values() if isinstance(v, str))
        if entry.get("kind") in ("election.published", "election.settings"):
            settings_sha256 = entry.get("settings_sha256")
            if isinstance(settings_sha256, str):
                self.register.add(settings_sha256)


def _append(
    election: Election,
    writer: TileWriter,
    size: int,
    new: _New,
    progress: Progress | None,
) -> None:
    """Append the database's entries from the published size up to ``size``, checking that
    they follow one another and that each one's stored leaf hash is its body's."""
    start = writer.size
    total = size - start
    while writer.size < size:
        first = writer.size
        end = min(size, (first // CHUNK + 1) * CHUNK)
        rows = list(
            LedgerEntry.objects.filter(election=election, index__gte=first, index__lt=end)
            .order_by("index")
            .values_list("index", "body", "leaf_hash")
        )
        batch = []
        for expected, (index, body, stored) in enumerate(rows, first):
            if index != expected:
                raise PublishError(f"entry {expected} of {election.slug} is missing")
            data = body.encode()
            if leaf_hash(data).hex() != stored:
                raise PublishError(
                    f"entry {index} of {election.slug}: its stored leaf hash is not the hash "
                    "of its body (the database was altered); nothing is published"
                )
            batch.append(data)
            new.add(index, body)
        if len(batch) != end - first:
            raise PublishError(f"entry {first + len(batch)} of {election.slug} is missing")
        try:
            writer.append(batch)
        except TileError as exc:  # e.g. the files of an unpublished size hold other entries
            raise PublishError(f"{election.slug}: {exc}") from None
        if progress is not None:
            progress(election.slug, writer.size - start, total)


def publish(
    election: Election, *, progress: Progress | None = None, wait_for_state: bool = False
) -> Published:
    """Bring ``election``'s published log up to the database (see the module's docstring),
    or up to its latest public state when that state is ahead of the log (its totals need no
    tabulation). With ``wait_for_state`` (a publisher keeps the state current beside), new
    entries that state has not reached yet wait for it (status ``waiting``) rather than
    being tabulated. Raises :class:`PublishError` for a configuration or a state it cannot
    publish from."""
    directory = election_dir(election.slug)
    with _lock(directory):
        return _publish(election, directory, progress, wait_for_state)


def _publish(
    election: Election, directory: Path, progress: Progress | None, wait_for_state: bool
) -> Published:
    log_origin = origin(election.slug)
    writer = _resume(directory, log_origin)
    previous = writer.size
    size = _size(election)  # nothing new: no tabulation
    snapshot = None
    if size != previous:
        snapshot, behind = _state_snapshot(election, previous)
        if snapshot is None and behind and wait_for_state and size > previous:
            return Published(election.slug, previous, previous, "waiting", behind=True)
        if snapshot is None:
            snapshot = _read_snapshot(election)
    _check_continues(election, writer, snapshot.size if snapshot else size)
    if snapshot is not None:
        snapshot = _held_back(election, directory, snapshot, previous)
    pending = _Pending.load(directory)
    files = _Files(directory)
    if snapshot is None or snapshot.size == previous:
        waiting = bool(pending.scans or pending.register)
        if waiting:
            _publish_named(election, files, pending, _New())
        _link_release(election, files, previous)
        files.sync()
        if waiting:
            pending.save(directory)
        return Published(election.slug, previous, previous, "current")
    signer = log_signer()
    policy = witness_policy()
    new = _New()
    _append(election, writer, snapshot.size, new, progress)
    size, root = writer.size, writer.root
    note = sign_note(Checkpoint(log_origin, size, root).format(), signer)
    reader = TileReader(directory_source(directory), size, root)
    try:
        note = cosign(policy, note, previous, reader.consistency_proof)
    except QuorumError as exc:
        log.warning("%s: size %d not published: %s", log_origin, size, exc)
        return Published(election.slug, previous, previous, "no-quorum", str(exc))
    document = results_document(
        election.slug,
        size,
        root,
        snapshot.totals,
        snapshot.stations_counted,
        note,
        units=snapshot.units,
    )
    files.write(results_path(size), document)
    files.write(LATEST_RESULTS, document)
    _write_hints(election.slug, files, new.stations)
    _publish_named(election, files, pending, new)
    _link_release(election, files, size)
    files.write(f"checkpoints/{size}", note.encode())
    files.sync()
    pending.save(directory)
    replace_durably(directory / CHECKPOINT, note.encode())
    # the station pages need nothing from here: every entry published names a station the
    # state that included it (this checkpoint's totals) already marked (secki.opendata.refresh)
    return Published(election.slug, previous, size, "published", behind=size < _size(election))


def _write_hints(slug: str, files: _Files, stations: dict[str, list[int]]) -> None:
    """Each station's hint file, its new indexes added to those already published."""
    for station, indexes in stations.items():
        name = hint_path(slug, station)
        known: set[int] = set()
        with contextlib.suppress(FileNotFoundError, ValueError, canonical.CanonicalError):
            listed = canonical.decode((files.directory / name).read_bytes()).get("indexes")
            if isinstance(listed, list):
                known = {i for i in listed if isinstance(i, int)}
        document = {"election": slug, "station": station, "indexes": sorted(known | set(indexes))}
        files.write(name, canonical.encode(document))


def _publish_named(election: Election, files: _Files, pending: _Pending, new: _New) -> None:
    """Copy the scans and register files that entries name (the new ones and those still
    pending) into ``scans/`` and ``register/``; what cannot be published yet stays pending."""
    for sha in sorted(new.scans - pending.scans):
        if (files.directory / "scans" / sha).exists():
            new.scans.discard(sha)
    scans = pending.scans | new.scans
    pending.scans = {
        sha for sha in scans if not _publish_scan(election, files, sha, sha in new.scans)
    }
    wanted = pending.register | new.register
    stored = {f.sha256: f for f in LogFile.objects.filter(sha256__in=wanted)}
    still: set[str] = set()
    for sha in sorted(wanted):
        found = stored.get(sha)
        target = f"register/{sha}"
        if (files.directory / target).exists():
            continue
        if found is None:
            if sha in new.register:
                log.error(
                    "%s: register file %s is named by the log but not stored", election.slug, sha
                )
            still.add(sha)
        elif not files.copy(target, [bytes(found.content)], sha):
            log.error("%s: register file %s does not hash to its name", election.slug, sha)
            still.add(sha)
    pending.register = still


def _publish_scan(election: Election, files: _Files, sha: str, first: bool) -> bool:
    """Publish the scan ``sha`` if one of the election's scans with these bytes is public;
    False when it must wait (not public yet, or its stored file is missing or damaged)."""
    scans = list(
        ProtocolScan.objects.filter(election=election, sha256=sha).select_related("protocol")
    )
    public = [s for s in scans if s.protocol.status in PUBLIC_STATUSES]
    if not public:
        if first and not scans:
            log.error("%s: scan %s is named by the log but not stored", election.slug, sha)
        return False
    for scan in public:
        try:
            with default_storage.open(scan.file.name or "", "rb") as handle:
                if files.copy(f"scans/{sha}", iter(lambda: handle.read(1 << 16), b""), sha):
                    return True
        except OSError:
            pass
        log.error(
            "%s: the stored file of scan %s is missing or damaged (secki verify-scans)",
            election.slug,
            sha,
        )
    return False


def _link_release(election: Election, files: _Files, size: int) -> None:
    """Publish beside the log the newest open-data release of at most ``size`` entries (its
    manifest's ``log_size``): its manifest and :data:`RELEASE_FILES` at ``opendata/<sha256>``
    (copied, each checked against the manifest's SHA-256) and ``opendata.json`` naming them,
    so that a verifier holding only the log's files compares every station's row with the
    log. Nothing changes while the newest such release is the one already named."""
    base = snapshots.election_dir(election)

    def linkable(manifest: dict[str, object] | None) -> bool:
        log_size = manifest.get("log_size") if manifest is not None else None
        return isinstance(log_size, int) and 0 < log_size <= size

    newest = snapshots.read_manifest(base / snapshots.LATEST)  # usually the one to link
    found = (
        [newest] if linkable(newest) else [m for m in snapshots.releases_in(base) if linkable(m)]
    )
    if not found or found[0] is None:
        return
    manifest = found[0]
    version = str(manifest["version"])
    release = base / version
    try:
        manifest_bytes = (release / snapshots.MANIFEST).read_bytes()
    except OSError:
        return
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    index = canonical.encode(
        {"election": election.slug, "manifest": manifest_sha, "release": version}
    )
    with contextlib.suppress(FileNotFoundError):
        if (files.directory / OPENDATA).read_bytes() == index:
            return
    shas = {f["name"]: f["sha256"] for f in manifest.get("files", [])}
    wanted = [(name, shas.get(name)) for name in RELEASE_FILES]
    for name, sha in [(snapshots.MANIFEST, manifest_sha), *wanted]:
        if not isinstance(sha, str):
            log.error("%s: release %s lists no %s", election.slug, version, name)
            return
        target = f"opendata/{sha}"
        if (files.directory / target).exists():
            continue
        try:
            with (release / name).open("rb") as handle:
                ok = files.copy(target, iter(functools.partial(handle.read, 1 << 16), b""), sha)
        except OSError:
            ok = False
        if not ok:
            log.error("%s: %s of release %s is missing or altered", election.slug, name, version)
            return
    files.write(OPENDATA, index)


# -- the site ----------------------------------------------------------------------------------


def write_site(signer: Signer | None = None, policy: WitnessPolicy | None = None) -> None:
    """``log.vkey``, ``witnesses.txt`` and ``elections.json`` (each rewritten only when it
    changes): the logs listed are the directories holding a checkpoint of their origin."""
    root = root_dir()
    root.mkdir(parents=True, exist_ok=True)
    signer = signer or log_signer()
    policy = policy or witness_policy()
    logs = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            note = (directory / CHECKPOINT).read_bytes()
            found = Checkpoint.parse(split_note(note).text).origin
        except (OSError, CheckpointError, NoteError):
            continue
        if found == origin(directory.name):
            logs.append({"election": directory.name, "origin": found, "path": f"{directory.name}/"})
    for name, data in (
        (LOG_VKEY, (signer.verifier.format() + "\n").encode()),
        (WITNESSES, policy.format().encode()),
        (ELECTIONS, canonical.encode({"logs": logs})),
    ):
        path = root / name
        with contextlib.suppress(FileNotFoundError):
            if path.read_bytes() == data:
                continue
        replace_durably(path, data)


def elections_with_entries() -> list[Election]:
    """Every election whose log has an entry, by slug."""
    entries = LedgerEntry.objects.filter(election=OuterRef("pk"))
    return list(Election.objects.filter(Exists(entries)).order_by("slug"))


def publish_all(
    elections: Sequence[Election] | None = None,
    *,
    progress: Progress | None = None,
    wait_for_state: bool = False,
) -> list[Published]:
    """:func:`publish` for every election with entries (or those given), then the site's
    files. A log that cannot be published is logged and left for the next round; the others
    go on."""
    signer = log_signer()  # a configuration that cannot sign stops here, before anything
    policy = witness_policy()
    write_site(signer, policy)
    done = []
    for election in elections if elections is not None else elections_with_entries():
        try:
            done.append(publish(election, progress=progress, wait_for_state=wait_for_state))
        except PublishError as exc:
            log.error("%s: %s", origin(election.slug), exc)
            done.append(Published(election.slug, 0, 0, "failed", str(exc)))
    write_site(signer, policy)
    return done
