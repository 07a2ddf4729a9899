"""The checks of a citizen (spec §0, §5.5), each printed as one verdict line.

For the site: the log key and the witness policy, pinned (``--log-key``, ``--witnesses``, or
the state file) or, on first use, taken from the site with a warning; a published key or
policy that differs from the pinned one is a failure.

For each election log (all of ``elections.json``, or one):

1. **checkpoint** — the log's signature (§3.4) and a quorum of distinct policy witnesses'
   cosignatures (§4.4). A checkpoint the log signed but the witnesses did not is refused; its
   consistency is still checked, since an inconsistent one is evidence against the operator.
2. **consistency** — with the checkpoint saved for the origin in the state file: PROOF from
   the tiles, verified (§1.5, §2.6); the same size needs the same root.
3. **station** (``--station``) — its entries, located by the hints file (or by reading every
   bundle when there is none), each checked against its level-0 tile and with an inclusion
   path from the tiles (§1.3); every scan it names, downloaded and hashed.
4. **entries**, **results**, **register** (unless ``--no-totals``) — every bundle up to the
   checkpoint's size, each entry against its tile; all of them hashing to the root; their
   validity (§5.3); the totals recomputed at the size of ``results/latest.json`` and compared
   number by number with ``results/<N>.json`` (§5.4), every unit's too (the register the log
   published says which units a station lies under); the register files and ``election.json``
   against the SHA-256 the ``register.published`` and ``election.published`` entries give;
   the open-data release ``opendata.json`` names, at the log size its manifest states,
   station by station (:mod:`secki.verifier.release`). With ``--station``, the hints are
   also checked to list every entry of the station.

The state file is updated at the end: the keys (unless one disagreed) and, for each election
that passed every check, its checkpoint.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import io
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar, cast

from secki.tlog.checkpoint import (
    Checkpoint,
    CheckpointError,
    OpenedCheckpoint,
    WitnessPolicy,
    open_checkpoint,
)
from secki.tlog.entries import (
    ELECTION_PUBLISHED,
    PROTOCOL_ANNULLED,
    REGISTER_PUBLISHED,
    Entry,
    EntryError,
    InvalidEntry,
    Replay,
    Tally,
    parse_entry,
)
from secki.tlog.merkle import ProofError, leaf_hash, root_of, verify_consistency
from secki.tlog.note import NoteError, VerifierKey, split_note
from secki.tlog.results import (
    ResultsDocument,
    ResultsError,
    compare_results,
    compare_units,
    parse_results,
    results_path,
)
from secki.tlog.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    Source,
    TileError,
    TileReader,
    decode_bundle,
    tile_at,
)
from secki.verifier.progress import Progress
from secki.verifier.register import Register, RegisterError, read_register
from secki.verifier.release import FILES as RELEASE_FILES
from secki.verifier.release import MANIFEST, compare_release
from secki.verifier.site import (
    NAME,
    OPENDATA,
    ElectionLog,
    Site,
    SiteError,
    hints_path,
    open_site,
    parse_elections,
    parse_hints,
    parse_manifest,
    parse_opendata,
)
from secki.verifier.state import State, StateError, load_state, save_state

T = TypeVar("T")


class Status(enum.StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Verdict:
    status: Status
    subject: str
    message: str

    def format(self) -> str:
        return f"{self.status:<4}  {self.subject}: {self.message}"


class Report:
    """The verdicts of a run, printed to ``out`` as they come."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self.verdicts: list[Verdict] = []

    def add(self, status: Status, subject: str, message: str) -> None:
        verdict = Verdict(status, subject, message)
        self.verdicts.append(verdict)
        if self.out is not None:
            print(verdict.format(), file=self.out, flush=True)

    def ok(self, subject: str, message: str) -> None:
        self.add(Status.PASS, subject, message)

    def warn(self, subject: str, message: str) -> None:
        self.add(Status.WARN, subject, message)

    def fail(self, subject: str, message: str) -> None:
        self.add(Status.FAIL, subject, message)

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == Status.FAIL]

    @property
    def failed(self) -> bool:
        return bool(self.failures)


@dataclass(frozen=True)
class Options:
    """What to verify: ``location`` (a directory or an ``http(s)://`` prefix); one election or
    all; one station's inclusion; pinned keys; the state file (None: remember nothing); the
    full totals check; a progress bar on the error stream; the clock (POSIX seconds)."""

    location: str
    election: str | None = None
    station: str | None = None
    log_key: VerifierKey | None = None
    policy: WitnessPolicy | None = None
    state_path: Path | None = None
    totals: bool = True
    progress: bool = False
    now: int | None = None


def verify(options: Options, out: TextIO | None = None, err: TextIO | None = None) -> Report:
    """Run every check of ``options``; the verdicts are printed to ``out`` and returned."""
    report = Report(out)
    _Run(options, report, err).run()
    return report


def _same_policy(a: WitnessPolicy, b: WitnessPolicy) -> bool:
    return (a.quorum, sorted(w.key.format() for w in a.witnesses)) == (
        b.quorum,
        sorted(w.key.format() for w in b.witnesses),
    )


def _short(root: bytes) -> str:
    return base64.b64encode(root).decode()


@dataclass(frozen=True)
class _Results:
    """``results/latest.json``, parsed, and the name of the file it copies."""

    data: bytes
    document: ResultsDocument

    @property
    def name(self) -> str:
        return results_path(self.document.tree_size)


@dataclass(frozen=True)
class _Release:
    """An open-data release linked beside the log: its version, the log size it reflects,
    the leaf hash of that size's last entry, and its files' bytes by name."""

    version: str
    size: int
    ledger_hash: str
    files: dict[str, bytes]


def _fetch_named(source: Source, digest: str, name: str) -> bytes:
    """``opendata/<digest>``, which must hash to it."""
    path = f"opendata/{digest}"
    data = source(path)
    if data is None:
        raise SiteError(f"{path} ({name}) is missing")
    got = hashlib.sha256(data).hexdigest()
    if got != digest:
        raise SiteError(f"{path} ({name}) has SHA-256 {got}: altered")
    return data


#: differences printed per file before the rest are counted
MAX_PROBLEMS = 20
#: a fact outside the spec's kinds: settings changed, with the new election.json's SHA-256
ELECTION_SETTINGS = "election.settings"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Run:
    def __init__(self, options: Options, report: Report, err: TextIO | None) -> None:
        self.options = options
        self.report = report
        self.err = err
        self.now = options.now if options.now is not None else int(time.time())
        self.state = State()
        self.keys_ok = True
        self.several = False  # more than one election log is checked

    # -- site ----------------------------------------------------------------------------------

    def run(self) -> None:
        options, report = self.options, self.report
        subject = "site"
        try:
            site = open_site(options.location)
        except SiteError as exc:
            report.fail(subject, str(exc))
            return
        if options.state_path is not None:
            try:
                self.state = load_state(options.state_path)
            except StateError as exc:
                report.fail("state", str(exc))
                return
        keys = self._keys(site)
        if keys is None:
            return
        log_key, policy = keys
        logs = self._elections(site, log_key)
        self.several = len(logs) > 1
        passed: dict[str, str] = {}
        for log in logs:
            before = len(report.failures)
            note = self._election(site, log, log_key, policy)
            if note is not None and len(report.failures) == before:
                passed[log.origin] = note
        self._save(log_key, policy, passed)
        checks = [v for v in report.verdicts if v.status != Status.WARN]
        warnings = len(report.verdicts) - len(checks)
        noted = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
        failed = len(report.failures)
        if failed:
            report.fail("verdict", f"{failed} of {len(checks)} checks failed{noted}")
        else:
            report.ok("verdict", f"all {len(checks)} checks passed{noted}")

    def _keys(self, site: Site) -> tuple[VerifierKey, WitnessPolicy] | None:
        options, report, state = self.options, self.report, self.state
        try:
            published_key_data = site.fetch("log.vkey")
            published_policy_data = site.fetch("witnesses.txt")
        except TileError as exc:
            report.fail("site", str(exc))
            return None
        published_key = published_policy = None
        try:
            if published_key_data is not None:
                published_key = VerifierKey.parse(published_key_data.decode().strip())
        except (NoteError, UnicodeDecodeError) as exc:
            report.fail("log key", f"the site's log.vkey is malformed: {exc}")
        try:
            if published_policy_data is not None:
                published_policy = WitnessPolicy.parse(published_policy_data.decode())
        except (CheckpointError, UnicodeDecodeError) as exc:
            report.fail("witnesses", f"the site's witnesses.txt is malformed: {exc}")
        try:
            pinned_key = VerifierKey.parse(state.log_key) if state.log_key else None
            pinned_policy = WitnessPolicy.parse(state.witnesses) if state.witnesses else None
        except (NoteError, CheckpointError) as exc:
            report.fail("state", f"the state file's keys are malformed: {exc}")
            return None

        log_key = self._choose(
            "log key",
            options.log_key,
            pinned_key,
            published_key,
            lambda a, b: a == b,
            lambda k: k.format(),
            "log.vkey",
        )
        policy = self._choose(
            "witnesses",
            options.policy,
            pinned_policy,
            published_policy,
            _same_policy,
            lambda p: (
                f"quorum {p.quorum} of " + ", ".join(w.key.format() for w in p.witnesses)
                if p.witnesses
                else "no witnesses (quorum 0)"
            ),
            "witnesses.txt",
        )
        if log_key is None or policy is None:
            return None
        if log_key.key_type != 0x01:
            report.fail("log key", f"{log_key.name} is not a log key (type 0x01)")
            return None
        return log_key, policy

    def _choose(
        self,
        what: str,
        given: T | None,
        pinned: T | None,
        published: T | None,
        same: Callable[[T, T], bool],
        show: Callable[[T], str],
        file: str,
    ) -> T | None:
        report = self.report
        state_name = str(self.options.state_path)
        if given is not None:
            chosen, how = given, "given on the command line"
            if pinned is not None and not same(given, pinned):
                report.warn(what, f"replaces the one pinned in {state_name}: {show(pinned)}")
        elif pinned is not None:
            chosen, how = pinned, f"pinned in {state_name}"
        elif published is not None:
            report.warn(
                what,
                f"taken from the site's {file} (trust on first use): {show(published)} — "
                "compare it with the one published out of band",
            )
            return published
        else:
            report.fail(what, f"none pinned and the site publishes no {file}")
            return None
        if published is not None and not same(chosen, published):
            self.keys_ok = False
            report.fail(
                what, f"the site's {file} has {show(published)}, not {show(chosen)} ({how})"
            )
        else:
            report.ok(what, f"{show(chosen)} ({how})")
        return chosen

    def _elections(self, site: Site, log_key: VerifierKey) -> list[ElectionLog]:
        report, wanted = self.report, self.options.election
        try:
            data = site.fetch("elections.json")
            if data is None:
                report.fail("elections", "the site publishes no elections.json")
                return []
            listed = parse_elections(data)
        except (TileError, SiteError) as exc:
            report.fail("elections", str(exc))
            return []
        logs = []
        for log in listed:
            expected = f"{log_key.name}/{log.election}"
            if log.origin != expected:
                report.fail(log.election, f"its origin is {log.origin!r}, not {expected!r}")
            elif wanted is None or log.election == wanted:
                logs.append(log)
        if wanted is not None and not logs:
            if not any(log.election == wanted for log in listed):
                report.fail(wanted, "elections.json does not list this election")
            return logs
        if wanted is None:
            listed_origins = {log.origin for log in listed}
            for origin, note in sorted(self.state.checkpoints.items()):
                if origin.startswith(log_key.name + "/") and origin not in listed_origins:
                    try:
                        size: int | str = Checkpoint.parse(split_note(note).text).size
                    except (CheckpointError, NoteError):
                        size = "?"
                    report.fail(
                        origin, f"elections.json no longer lists it (last verified at size {size})"
                    )
        return logs

    def _save(self, log_key: VerifierKey, policy: WitnessPolicy, passed: dict[str, str]) -> None:
        path = self.options.state_path
        if path is None:
            return
        state = self.state
        if self.keys_ok:
            state.log_key = log_key.format()
            state.witnesses = policy.format()
        state.checkpoints.update(passed)
        try:
            save_state(path, state)
        except OSError as exc:
            self.report.fail("state", f"cannot save {path}: {exc}")

    # -- one election --------------------------------------------------------------------------

    def _election(
        self, site: Site, log: ElectionLog, log_key: VerifierKey, policy: WitnessPolicy
    ) -> str | None:
        """Every check of one election log; returns the checkpoint note to save, if any."""
        slug = log.election
        source = site.under(log.path)
        try:
            data = source("checkpoint")
        except TileError as exc:
            self.report.fail(slug, str(exc))
            return None
        if data is None:
            self.report.fail(slug, f"{log.path}checkpoint is missing")
            return None
        opened, accepted = self._open(f"{slug} checkpoint", data, log_key, policy, log.origin)
        if opened is None:
            return None
        note = data.decode()
        results = None
        if self.options.totals and accepted:
            results = self._latest_results(slug, source)
            if results is not None and results.document.tree_size > opened.checkpoint.size:
                # published after the checkpoint was read: verify at its (cosigned) size
                note = results.document.checkpoint
                newer, accepted = self._open(
                    f"{slug} {results.name} checkpoint", note.encode(), log_key, policy, log.origin
                )
                if newer is None:
                    return None
                opened = newer
        checkpoint = opened.checkpoint
        reader = TileReader(source, checkpoint.size, checkpoint.root)
        self._consistency(slug, log.origin, checkpoint, reader)
        if not accepted:
            return None
        files = site.under(log.path, large=True)
        hinted = None
        if self.options.station is not None:
            hinted = self._station(slug, self.options.station, files, reader)
        if self.options.totals:
            self._totals(log, files, reader, results, hinted, (log_key, policy))
        return note

    def _open(
        self,
        subject: str,
        data: bytes,
        log_key: VerifierKey,
        policy: WitnessPolicy,
        origin: str,
    ) -> tuple[OpenedCheckpoint | None, bool]:
        """(the checkpoint if the log signed it, whether the witness quorum holds)."""
        report = self.report
        try:
            signed = open_checkpoint(data, log_key, WitnessPolicy((), 0), origin, self.now)
        except (CheckpointError, NoteError) as exc:
            report.fail(subject, str(exc))
            return None, False
        size = signed.checkpoint.size
        try:
            opened = open_checkpoint(data, log_key, policy, origin, self.now)
        except (CheckpointError, NoteError) as exc:
            report.fail(
                subject,
                f"size {size} is signed by the log but refused: {exc} — not accepted; "
                "its consistency is checked below as evidence",
            )
            return signed, False
        cosigners = ", ".join(
            f"{c.witness.name} at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(c.timestamp))}"
            for c in opened.cosignatures
        )
        report.ok(
            subject,
            f"size {size}, root {_short(opened.checkpoint.root)}, signed by {log_key.name}"
            + (f", cosigned by {cosigners}" if cosigners else "")
            + f" (quorum {policy.quorum})",
        )
        return opened, True

    def _latest_results(self, slug: str, source: Source) -> _Results | None:
        report = self.report
        subject = f"{slug} results"
        try:
            data = source("results/latest.json")
            if data is None:
                report.fail(subject, "results/latest.json is missing")
                return None
            return _Results(data, parse_results(data))
        except (TileError, ResultsError) as exc:
            report.fail(subject, f"results/latest.json: {exc}")
            return None

    def _consistency(
        self, slug: str, origin: str, checkpoint: Checkpoint, reader: TileReader
    ) -> None:
        report = self.report
        subject = f"{slug} consistency"
        saved_note = self.state.checkpoints.get(origin)
        if saved_note is None:
            if self.options.state_path is not None:
                report.warn(subject, "no checkpoint saved for this log yet: this one will be")
            return
        try:
            saved = Checkpoint.parse(split_note(saved_note).text)
        except (CheckpointError, NoteError) as exc:
            report.fail(subject, f"the saved checkpoint is malformed: {exc}")
            return
        m, n = saved.size, checkpoint.size
        if m > n:
            report.fail(
                subject,
                f"the site shows size {n}, smaller than the {m} saved: a stale copy, or a log "
                "that lost entries",
            )
            return
        if m == n:
            if saved.root == checkpoint.root:
                report.ok(subject, f"the same checkpoint as the one saved (size {m})")
            else:
                report.fail(
                    subject,
                    f"size {m} was saved with root {_short(saved.root)}, the site now shows "
                    f"root {_short(checkpoint.root)}: two different logs of one size, both signed "
                    "(keep both notes: proof of misbehaviour)",
                )
            return
        if m == 0:
            report.ok(subject, "the saved checkpoint was of the empty log")
            return
        try:
            proof = reader.consistency_proof(m)
            verify_consistency(m, n, saved.root, checkpoint.root, proof)
        except (TileError, ProofError) as exc:
            report.fail(
                subject,
                f"size {n} does not extend the checkpoint saved at size {m}: {exc} — the "
                "history was rewritten (keep both notes: proof of misbehaviour)",
            )
            return
        report.ok(subject, f"extends the checkpoint saved at size {m} ({len(proof)}-hash proof)")

    # -- a station -----------------------------------------------------------------------------

    def _station(
        self, slug: str, code: str, source: Source, reader: TileReader
    ) -> list[int] | None:
        """§5.5 step 1 for ``--station``; returns the hinted indexes (None without hints)."""
        report = self.report
        subject = f"{slug} station {code}"
        hinted: list[int] | None = None
        try:
            data = source(hints_path(slug, code)) if NAME.fullmatch(code) else None
            if data is not None:
                hinted = parse_hints(data, slug, code)
        except (TileError, SiteError) as exc:
            report.fail(subject, str(exc))
            return None
        size = reader.size
        if hinted is None:
            report.warn(subject, f"no hints file: reading all {size} entries to find it")
            try:
                indexes = [
                    i
                    for i, entry in enumerate(reader.entries())
                    if _is_station(parse_entry(entry), slug, code)
                ]
            except (TileError, EntryError) as exc:
                report.fail(subject, f"reading the entries: {exc}")
                return None
        else:
            indexes = [i for i in hinted if i < size]
            if len(indexes) < len(hinted):
                report.warn(
                    subject,
                    f"{len(hinted) - len(indexes)} hinted entries are beyond size {size} "
                    "(a newer checkpoint has them)",
                )
        if not indexes:
            message = f"no entry of this station in the log at size {size}"
            if self.several:  # the station may belong to another of the site's elections
                report.warn(subject, message)
            else:
                report.fail(subject, message)
            return hinted
        entries: list[tuple[int, Entry]] = []
        for index in indexes:
            try:
                entry = parse_entry(reader.verified_entry(index))
            except (TileError, ProofError) as exc:
                report.fail(subject, f"entry {index}: {exc}")
                return hinted
            except EntryError as exc:
                report.fail(subject, f"entry {index} is not a valid entry: {exc}")
                return hinted
            if not _is_station(entry, slug, code):
                report.fail(
                    subject,
                    f"the hints name entry {index}, which is a {entry.kind} of "
                    f"{entry.fields.get('station', 'no station')!r}, not of this station",
                )
                return hinted
            entries.append((index, entry))
        listed = ", ".join(f"{i} ({e.kind} v{e.fields.get('version', '?')})" for i, e in entries)
        report.ok(subject, f"{len(entries)} entries included in size {size}: {listed}")
        protocols = [(i, e) for i, e in entries if e.kind.startswith("protocol.")]
        if protocols:
            index, last = protocols[-1]
            if last.kind == PROTOCOL_ANNULLED:
                report.ok(subject, f"its protocol was annulled (entry {index})")
            else:
                values = ", ".join(f"{k}={v}" for k, v in last.lines.items())
                report.ok(
                    subject,
                    f"protocol of entry {index} (version {last.number('version')}): {values}",
                )
        self._scans(subject, source, entries)
        return hinted

    def _scans(self, subject: str, source: Source, entries: Sequence[tuple[int, Entry]]) -> None:
        report = self.report
        seen = set()
        for index, entry in entries:
            digest = entry.fields.get("scan_sha256")
            if not isinstance(digest, str) or digest in seen:
                continue
            seen.add(digest)
            path = f"scans/{digest}"
            try:
                data = source(path)
            except TileError as exc:
                report.fail(subject, f"{path}: {exc}")
                continue
            if data is None:
                report.fail(subject, f"{path} (named by entry {index}) is missing")
                continue
            got = hashlib.sha256(data).hexdigest()
            if got != digest:
                report.fail(
                    subject,
                    f"{path} (named by entry {index}) has SHA-256 {got}: the scan was altered",
                )
            else:
                report.ok(subject, f"{path} ({len(data):,} bytes) matches entry {index}")

    # -- the whole log -------------------------------------------------------------------------

    def _totals(
        self,
        log: ElectionLog,
        source: Source,
        reader: TileReader,
        results: _Results | None,
        hinted: list[int] | None,
        keys: tuple[VerifierKey, WitnessPolicy],
    ) -> None:
        report = self.report
        slug = log.election
        size = reader.size
        target = results.document.tree_size if results is not None else None
        release = self._release(slug, source, size)
        wanted = {t for t in (target, release.size if release else None) if t is not None}
        replay = Replay()
        tallies: dict[int, Tally] = {0: replay.tally(slug)} if 0 in wanted else {}
        registers: list[tuple[int, Entry]] = []
        published: list[tuple[int, Entry]] = []
        station_indexes: list[int] = []
        code = self.options.station
        progress = Progress(
            self.err or io.StringIO(),
            size,
            f"{slug}: entries",
            enabled=self.options.progress and self.err is not None,
        )
        subject = f"{slug} entries"
        try:
            for n in range((size + TILE_WIDTH - 1) >> TILE_HEIGHT):
                try:
                    bundle = reader.bundle(n)
                except TileError as exc:
                    why = _first_bad_entry(reader, n) or (
                        " — the published files are not the log of the signed checkpoint "
                        f"(size {size})"
                    )
                    report.fail(subject, f"{exc}{why}")
                    return
                for data in bundle:
                    try:
                        entry = replay.add(data)
                    except InvalidEntry as exc:
                        report.fail(subject, f"invalid: {exc}")
                        return
                    if entry.fields.get("election") == slug:
                        if entry.kind == REGISTER_PUBLISHED:
                            registers.append((replay.size - 1, entry))
                        elif entry.kind in (ELECTION_PUBLISHED, ELECTION_SETTINGS):
                            published.append((replay.size - 1, entry))
                    if code is not None and _is_station(entry, slug, code):
                        station_indexes.append(replay.size - 1)
                    if replay.size in wanted:
                        tallies[replay.size] = replay.tally(slug)
                progress.advance(len(bundle))
        finally:
            progress.close()
        got = root_of(replay.leaf_hashes)
        if got != reader.root:
            report.fail(
                subject,
                f"the {size} entries hash to {_short(got)}, not the checkpoint's root "
                f"{_short(reader.root)}",
            )
            return
        report.ok(subject, f"all {size} entries hash to the checkpoint's root and are valid")
        if code is not None and hinted is not None:
            missing = sorted(set(station_indexes) - set(hinted))
            if missing:
                report.fail(
                    f"{slug} station {code}",
                    f"{hints_path(slug, code)} omits entries {', '.join(map(str, missing))} "
                    "of this station",
                )
        named = self._registers(slug, source, registers, published)
        if results is not None and target in tallies:
            register = None
            if results.document.units is not None:
                register = self._register_at(slug, registers, named, target)
            self._compare(
                log, results, tallies[target], replay.leaf_hashes, got, source, keys, register
            )
        if release is not None and release.size in tallies:
            self._compare_release(
                slug,
                release,
                tallies[release.size],
                replay.leaf_hashes,
                registers,
                published,
                named,
            )

    def _compare(
        self,
        log: ElectionLog,
        results: _Results,
        tally: Tally,
        leaf_hashes: Sequence[bytes],
        log_root: bytes,
        source: Source,
        keys: tuple[VerifierKey, WitnessPolicy],
        register: Register | None,
    ) -> None:
        report = self.report
        document, name = results.document, results.name
        subject = f"{log.election} {name}"
        try:
            data = source(name)
        except TileError as exc:
            report.fail(subject, str(exc))
            return
        if data is None:
            report.fail(
                subject, f"missing, though results/latest.json is of size {document.tree_size}"
            )
            return
        if data != results.data:
            report.fail(subject, "differs from results/latest.json, which claims to copy it")
            return
        try:
            opened = open_checkpoint(document.checkpoint, *keys, log.origin, self.now)
        except (CheckpointError, NoteError) as exc:
            report.fail(subject, f"its checkpoint: {exc}")
            return
        if (
            opened.checkpoint.size != document.tree_size
            or opened.checkpoint.root != document.root_hash
        ):
            report.fail(subject, "its tree_size and root_hash are not those of its checkpoint")
            return
        if document.tree_size == len(leaf_hashes):
            root = log_root  # all the entries, already found to hash to it
        else:
            root = root_of(leaf_hashes[: document.tree_size])
        if root != document.root_hash:
            report.fail(
                subject,
                f"root_hash {_short(document.root_hash)} is not the root of the log's first "
                f"{document.tree_size} entries ({_short(root)})",
            )
            return
        problems = compare_results(document, tally)
        units = ""
        if document.units is not None:
            if register is None:
                problems.append(
                    f"its units cannot be checked: no register published at size "
                    f"{document.tree_size}"
                )
            else:
                try:
                    problems += compare_units(document, tally, register.units_of())
                except ValueError as exc:  # a counted station missing from the register
                    problems.append(str(exc))
                units = f" and {len(document.units)} units"
        for problem in problems[:MAX_PROBLEMS]:
            report.fail(subject, problem)
        if len(problems) > MAX_PROBLEMS:
            report.fail(subject, f"… and {len(problems) - MAX_PROBLEMS} more differences")
        if not problems:
            report.ok(
                subject,
                f"every number equals the log's at size {document.tree_size}: "
                f"{len(tally.totals)} lines over {tally.stations_counted} stations{units}",
            )

    def _registers(
        self,
        slug: str,
        source: Source,
        registers: Sequence[tuple[int, Entry]],
        published: Sequence[tuple[int, Entry]],
    ) -> dict[str, bytes]:
        """The files the ``register.published`` and ``election.published`` entries name, each
        fetched from ``register/<sha256>`` and checked; returns those that match, by SHA-256."""
        report = self.report
        subject = f"{slug} register"
        if not registers:
            report.warn(subject, "the log has no register.published entry")
        named: list[tuple[int, str, str]] = []
        for index, entry in registers:
            files = cast(dict[str, str], entry.fields["files"])  # the entry's schema checked it
            named += [(index, name, digest) for name, digest in sorted(files.items())]
        for index, entry in published:
            digest = entry.fields.get("settings_sha256")
            if isinstance(digest, str) and _SHA256.fullmatch(digest):
                named.append((index, "election.json", digest))
            elif digest is not None:
                report.fail(
                    subject, f"entry {index} ({entry.kind}): settings_sha256 is not a SHA-256"
                )
        found: dict[str, bytes] = {}
        bad = False
        for index, file_name, digest in named:
            if digest in found:
                continue
            path = f"register/{digest}"
            try:
                data = source(path)
            except TileError as exc:
                report.fail(subject, f"{path}: {exc}")
                bad = True
                continue
            if data is None:
                report.fail(subject, f"{path} ({file_name} of entry {index}) is missing")
                bad = True
            elif hashlib.sha256(data).hexdigest() != digest:
                report.fail(
                    subject,
                    f"{path} ({file_name} of entry {index}) has SHA-256 "
                    f"{hashlib.sha256(data).hexdigest()}: altered",
                )
                bad = True
            else:
                found[digest] = data
        if not bad and named:
            last = registers[-1][1].number("version") if registers else 0
            report.ok(
                subject,
                f"{len(found)} files match the register.published (version {last}) and "
                f"election.published entries",
            )
        return found

    def _register_files(
        self, registers: Sequence[tuple[int, Entry]], named: dict[str, bytes], size: int
    ) -> dict[str, bytes] | None:
        """The files of the last register published among the first ``size`` entries."""
        before = [entry for index, entry in registers if index < size]
        if not before:
            return None
        files = cast(dict[str, str], before[-1].fields["files"])
        if not all(digest in named for digest in files.values()):
            return None  # reported by _registers
        return {name: named[digest] for name, digest in files.items()}

    def _register_at(
        self,
        slug: str,
        registers: Sequence[tuple[int, Entry]],
        named: dict[str, bytes],
        size: int,
    ) -> Register | None:
        files = self._register_files(registers, named, size)
        if files is None:
            return None
        try:
            return read_register(files)
        except RegisterError as exc:
            self.report.fail(f"{slug} register", f"at size {size}: {exc}")
            return None

    # -- the open-data release -----------------------------------------------------------------

    def _release(self, slug: str, source: Source, size: int) -> _Release | None:
        """The release ``opendata.json`` names, its manifest and files fetched and checked
        against their SHA-256 (None, with a verdict, when there is none or it is broken)."""
        report = self.report
        subject = f"{slug} open data"
        try:
            data = source(OPENDATA)
            if data is None:
                report.warn(subject, f"no {OPENDATA}: no open-data release to compare yet")
                return None
            index = parse_opendata(data, slug)
            manifest_data = _fetch_named(source, index.manifest, MANIFEST)
            manifest = parse_manifest(manifest_data, slug)
            files = {}
            for name in RELEASE_FILES:
                if name not in manifest.files:
                    raise SiteError(f"its {MANIFEST} lists no {name}")
                files[name] = _fetch_named(source, manifest.files[name], name)
        except (TileError, SiteError) as exc:
            report.fail(subject, f"release named by {OPENDATA}: {exc}")
            return None
        if manifest.log_size > size:
            report.fail(
                subject,
                f"release {index.release} is of log size {manifest.log_size}, beyond the "
                f"checkpoint's {size}",
            )
            return None
        return _Release(index.release, manifest.log_size, manifest.ledger_hash, files)

    def _compare_release(
        self,
        slug: str,
        release: _Release,
        tally: Tally,
        leaf_hashes: Sequence[bytes],
        registers: Sequence[tuple[int, Entry]],
        published: Sequence[tuple[int, Entry]],
        named: dict[str, bytes],
    ) -> None:
        report = self.report
        subject = f"{slug} open data {release.version}"
        size = release.size
        if leaf_hashes[size - 1].hex() != release.ledger_hash:
            report.fail(
                subject,
                f"{MANIFEST}: ledger_hash {release.ledger_hash} is not the leaf hash of log "
                f"entry {size - 1} ({leaf_hashes[size - 1].hex()})",
            )
            return
        files = self._register_files(registers, named, size)
        register = self._register_at(slug, registers, named, size)
        if files is None or register is None:
            report.fail(subject, f"the log publishes no readable register at size {size}")
            return
        settings = [(i, e) for i, e in published if i < size]
        last = settings[-1] if settings else None
        digest = last[1].fields.get("settings_sha256") if last else None
        settings_data = named.get(digest) if isinstance(digest, str) else None
        check_settings = last is None or digest is not None
        if not check_settings and last is not None:
            report.warn(
                subject,
                f"election.json not compared: entry {last[0]} ({last[1].kind}) changed the "
                "settings without naming the file",
            )
        problems = compare_release(
            release.files, register, files, settings_data, tally, check_settings=check_settings
        )
        for problem in problems[:MAX_PROBLEMS]:
            report.fail(subject, problem)
        if len(problems) > MAX_PROBLEMS:
            report.fail(subject, f"… and {len(problems) - MAX_PROBLEMS} more differences")
        if not problems:
            report.ok(
                subject,
                f"{', '.join(RELEASE_FILES)} equal the log at size {size}: "
                f"{len(register.stations)} stations, {tally.stations_counted} counted, "
                f"{len(register.candidates)} candidates",
            )


def _is_station(entry: Entry, election: str, station: str) -> bool:
    return entry.fields.get("election") == election and entry.fields.get("station") == station


def _first_bad_entry(reader: TileReader, n: int) -> str:
    """For a bundle that failed its check: which log entry is the first that does not hash to
    its level-0 tile's hash, and whose it claims to be (a diagnosis; nothing here is trusted)."""
    try:
        tile = tile_at(0, n, reader.size)
        hashes = reader.tile(0, n)
        data = reader.source(tile.bundle_path)
        if data is None:
            return ""
        entries = decode_bundle(data)
    except (TileError, ValueError):
        return ""
    for i, (entry, expected) in enumerate(zip(entries, hashes, strict=False)):
        if leaf_hash(entry) != expected:
            try:
                claimed = parse_entry(entry)
                about = f", a {claimed.kind} of station {claimed.fields.get('station', '?')}"
            except EntryError:
                about = ""
            return f" — log entry {(n << TILE_HEIGHT) + i}{about}, was changed after it was logged"
    return ""
