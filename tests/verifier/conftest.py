"""A site for the verifier's tests, published as the platform's publisher lays it out (see
secki.verifier.site): a log key, two real witness servers (quorum 2), and an election log
written with TileWriter, checkpoints cosigned through the witnesses' add-checkpoint, results,
scans, register files and hints."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import random
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from tests.witness.conftest import NOW, log_key, make_witness, serving

from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint, Witness, WitnessPolicy
from secki.tlog.entries import (
    Prev,
    election_published,
    protocol_accepted,
    protocol_amended,
    register_published,
    replay,
    scan_uploaded,
    turnout_reported,
)
from secki.tlog.merkle import consistency_proof, leaf_hash, memory_subtree, root_of
from secki.tlog.note import Signer, sign_note
from secki.tlog.results import build_results, results_path
from secki.tlog.tiles import TileWriter
from secki.verifier.check import Options, Report, Status, verify
from secki.witness.client import collect

SITE = "example.test/log"
ELECTION = "2026-parl"
ORIGIN = f"{SITE}/{ELECTION}"
START = dt.datetime(2026, 3, 8, 8, 0, tzinfo=dt.UTC)
CODES = ("L1", "L2", "L3", "L5", "C1", "C2", "C3")


def station_lines(rng: random.Random) -> dict[str, int]:
    """Line values shaped like the simulator's: registered, ballots, candidates' votes."""
    registered = rng.randint(400, 1800)
    cast = rng.randint(registered // 3, registered)
    invalid = rng.randint(0, 30)
    valid = cast - invalid
    c1 = rng.randint(valid // 2, valid)
    c2 = rng.randint(0, valid - c1)
    return {
        "L1": registered,
        "L2": rng.randint(0, 5),
        "L3": cast,
        "L5": invalid,
        "C1": c1,
        "C2": c2,
        "C3": valid - c1 - c2,
    }


class Publisher:
    """The operator's side: one election log under ``root/<election>/`` and the site files."""

    def __init__(
        self, root: Path, signer: Signer, policy: WitnessPolicy, election: str = ELECTION
    ) -> None:
        self.root = root
        self.signer = signer
        self.policy = policy
        self.election = election
        self.origin = f"{signer.name}/{election}"
        self.dir = root / election
        self.entries: list[bytes] = []
        self.published = 0  # the size of the last checkpoint the witnesses cosigned
        self.clock = START
        root.mkdir(parents=True, exist_ok=True)
        (root / "log.vkey").write_text(signer.verifier.format() + "\n")
        (root / "witnesses.txt").write_text(policy.format())
        self.list_elections([(election, self.origin)])
        self.writer = TileWriter(self.dir, durable=False)

    def list_elections(self, logs: Sequence[tuple[str, str]]) -> None:
        value = {"logs": [{"election": e, "origin": o, "path": f"{e}/"} for e, o in logs]}
        (self.root / "elections.json").write_bytes(canonical.encode(value))

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(seconds=7)
        return self.clock

    def file(self, folder: str, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.dir / folder / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return digest

    def append(self, *entries: bytes) -> None:
        self.writer.append(entries)
        self.entries.extend(entries)

    # -- what an election day logs --------------------------------------------------------------

    def open_election(self, register: dict[str, bytes]) -> None:
        files = {name: self.file("register", data) for name, data in register.items()}
        settings = self.file("register", f'{{"slug": "{self.election}"}}\n'.encode())
        self.append(
            election_published(self.election, settings, self.tick()),
            register_published(self.election, 1, files, self.tick()),
        )

    def station_day(self, code: str, lines: dict[str, int], *, scan: bytes | None = None) -> None:
        """Two turnout reports, the protocol, its scan."""
        for time, share in (("10:00", 5), ("15:00", 2)):
            voters = lines["L3"] // share
            self.append(turnout_reported(self.election, code, time, voters, self.tick()))
        scan = scan if scan is not None else f"%PDF-1.7 protocol of {code}\n".encode()
        digest = self.file("scans", scan)
        self.append(
            protocol_accepted(self.election, code, lines, self.tick(), scan_sha256=digest),
            scan_uploaded(
                self.election, code, 1, digest, len(scan), "application/pdf", self.tick()
            ),
        )

    def amend(self, code: str, lines: dict[str, int]) -> None:
        index, version = self.effective(code)
        scan = f"%PDF-1.7 protocol of {code}, version {version + 1}\n".encode()
        self.append(
            protocol_amended(
                self.election,
                code,
                version + 1,
                Prev.of(index, self.entries[index]),
                lines,
                self.tick(),
                scan_sha256=self.file("scans", scan),
                reason="recount",
            )
        )

    def effective(self, code: str) -> tuple[int, int]:
        """The index and version of the station's effective protocol."""
        state = replay(self.entries)
        current = state.protocols[(self.election, code)]
        return current.index, current.version

    # -- publishing -----------------------------------------------------------------------------

    def proof(self, old: int) -> list[bytes]:
        hashes = [leaf_hash(e) for e in self.entries]
        return consistency_proof(old, len(hashes), memory_subtree(hashes))

    def sign(self) -> str:
        root = root_of([leaf_hash(e) for e in self.entries])
        return sign_note(Checkpoint(self.origin, len(self.entries), root).format(), self.signer)

    def cosign(self, note: str) -> str:
        """The witnesses' cosignatures (QuorumError if they refuse)."""
        return collect(self.policy, note, self.published, self.proof, timeout=30)

    def publish(self, *, results: bool = True, hints: bool = True) -> str:
        """Sign, collect the quorum, then write the checkpoint, the results and the hints."""
        note = self.cosign(self.sign())
        self.published = len(self.entries)
        self.write_checkpoint(note)
        if results:
            self.write_results(note)
        if hints:
            self.write_hints()
        return note

    def write_checkpoint(self, note: str) -> None:
        (self.dir / "checkpoint").write_text(note)

    def write_results(self, note: str) -> None:
        root = root_of([leaf_hash(e) for e in self.entries])
        data = build_results(replay(self.entries).tally(self.election), root, note)
        (self.dir / "results").mkdir(exist_ok=True)
        (self.dir / results_path(len(self.entries))).write_bytes(data)
        (self.dir / "results" / "latest.json").write_bytes(data)

    def write_hints(self) -> None:
        by_station: dict[str, list[int]] = {}
        for index, entry in enumerate(self.entries):
            station = canonical.decode(entry).get("station")
            if isinstance(station, str):
                by_station.setdefault(station, []).append(index)
        for station, indexes in by_station.items():
            path = self.dir / "hints" / self.election / f"{station}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            value = {"election": self.election, "station": station, "indexes": indexes}
            path.write_bytes(canonical.encode(value))

    def rewrite(self, entries: list[bytes]) -> None:
        """The operator replaces the log's history: every tile and bundle rebuilt from
        ``entries`` (the checkpoint, results and scans are left as they are)."""
        shutil.rmtree(self.dir / "tile")
        self.entries = []
        self.writer = TileWriter(self.dir, durable=False)
        self.append(*entries)


def honest_day(
    publisher: Publisher, stations: int = 60, seed: int = 5
) -> dict[str, dict[str, int]]:
    """The register, then a day of ``stations`` stations: 1 + 2 + 4 × stations entries."""
    rng = random.Random(seed)
    publisher.open_election(
        {
            "units.csv": b"code,name\n1,Capital\n7,North\n",
            "stations.csv": "".join(f"7-{i},7,{i}\n" for i in range(stations)).encode(),
        }
    )
    lines = {}
    for i in range(stations):
        code = f"7-{i}"
        lines[code] = station_lines(rng)
        publisher.station_day(code, lines[code])
    return lines


@contextlib.contextmanager
def witnesses(tmp_path: Path, count: int = 2) -> Iterator[WitnessPolicy]:
    """``count`` witness servers on loopback ports, and the policy naming them (quorum 2)."""
    with contextlib.ExitStack() as stack:
        made = [make_witness(tmp_path, n) for n in range(1, count + 1)]
        servers = [stack.enter_context(serving(w)) for w in made]
        yield WitnessPolicy(
            tuple(Witness(w.signer.verifier, s.url) for w, s in zip(made, servers, strict=True)),
            2,
        )


@pytest.fixture
def policy(tmp_path: Path) -> Iterator[WitnessPolicy]:
    with witnesses(tmp_path) as running:
        yield running


@pytest.fixture
def site(tmp_path: Path, policy: WitnessPolicy) -> Publisher:
    """A site whose election log holds the register and a day of 60 stations, published."""
    publisher = Publisher(tmp_path / "site", log_key(SITE), policy)
    honest_day(publisher)
    publisher.publish()
    return publisher


def run(
    publisher: Publisher | Path,
    state: Path | None,
    *,
    pin: bool = True,
    **options: object,
) -> tuple[Report, str]:
    """Verify the site (keys pinned as the policy and log key, unless ``pin`` is False);
    returns the report and the printed lines."""
    # (not isinstance(…, Publisher): pytest imports this module once as a conftest and once
    # as tests.verifier.conftest, two Publisher classes)
    root = publisher if isinstance(publisher, Path) else publisher.root
    out = io.StringIO()
    options.setdefault("now", NOW + 60)  # the witnesses' clock, a minute later
    if pin and not isinstance(publisher, Path):
        options.setdefault("log_key", publisher.signer.verifier)
        options.setdefault("policy", publisher.policy)
    report = verify(Options(str(root), state_path=state, **options), out)  # type: ignore[arg-type]
    return report, out.getvalue()


def failures(report: Report) -> list[str]:
    return [v.format() for v in report.verdicts if v.status == Status.FAIL]
