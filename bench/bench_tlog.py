"""The transparency log's writer and the standalone verifier (issue 14 targets).

    python bench/bench_tlog.py [--quick] [--entries N] [--batch B]

1. Appending entries with tiles and checkpoints: N protocol entries (100,000) appended in
   batches of B (100), each batch followed by a checkpoint signed by the log key, cosigned by
   one witness key (in process: the witnesses' HTTP round trip is not counted) and written in
   place atomically, everything synced to disk (TileWriter's ``durable``); printed as
   entries/s beside writing the same bytes (the bundles' length-prefixed entries) to one file
   with one fsync per batch, and the ratio of the two. The same without syncing, for the CPU
   cost alone.
2. The verifier's full check (``secki-verify`` in a fresh process, no progress bar): every
   bundle read and checked against its tile, the root, every entry's validity, the totals
   recomputed and compared with results/<N>.json (national and every unit's), the register
   files and election.json — on a log shaped like
   the default election (6,537 stations from ``secki simulate``, their ~5 turnout reports and
   1 protocol each; target ≤ 5 s) and on 100,000 stations (target ≤ 60 s). --quick: 20,000
   appended entries and the default election only.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint, Witness, WitnessPolicy
from secki.tlog.entries import (
    election_published,
    protocol_accepted,
    register_published,
    replay,
    turnout_reported,
)
from secki.tlog.note import KeyType, Signer, add_signatures, cosign, sign_note
from secki.tlog.results import build_results, results_path
from secki.tlog.tiles import TileWriter, encode_bundle
from secki.verifier.register import read_register

SITE = "bench.example/log"
LOG_KEY = Signer.from_seed(SITE, KeyType.ED25519, bytes([1]) * 32)
WITNESSES = [
    Signer.from_seed(f"w{i}.bench.example", KeyType.COSIGNATURE, bytes([10 + i]) * 32)
    for i in (1, 2)
]
T0 = dt.datetime(2024, 2, 7, 8, 0, tzinfo=dt.UTC)
TARGETS = {6_537: 5.0, 100_000: 60.0}
REGISTER_FILES = ("units.csv", "stations.csv", "candidates.csv")


def checkpoint_note(origin: str, size: int, root: bytes, witnesses: list[Signer]) -> str:
    text = Checkpoint(origin, size, root).format()
    stamp = int(time.time())
    return add_signatures(sign_note(text, LOG_KEY), [cosign(text, w, stamp) for w in witnesses])


def synthetic_protocols(count: int) -> list[bytes]:
    lines = {"L1": 900, "L3": 912, "L5": 680, "L6": 24, "C1": 637, "C2": 13, "C3": 21}
    return [
        protocol_accepted("bench", f"{i // 100}-{i % 100}", {**lines, "C2": i % 50}, T0)
        for i in range(count)
    ]


def append_bench(directory: Path, entries: list[bytes], batch: int, durable: bool) -> float:
    """Seconds to append ``entries`` in batches, each with its cosigned checkpoint."""
    writer = TileWriter(directory, durable=durable)
    origin = f"{SITE}/bench"
    start = time.perf_counter()
    for at in range(0, len(entries), batch):
        size, root = writer.append(entries[at : at + batch])
        note = checkpoint_note(origin, size, root, WITNESSES[:1])
        temporary = directory / ".checkpoint.tmp"
        with open(temporary, "w") as f:
            f.write(note)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(temporary, directory / "checkpoint")
        if durable:
            fd = os.open(directory, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
    return time.perf_counter() - start


def one_file_bench(path: Path, entries: list[bytes], batch: int, durable: bool) -> float:
    """Seconds to append the same bytes (length-prefixed entries) to one file."""
    start = time.perf_counter()
    with open(path, "ab") as f:
        for at in range(0, len(entries), batch):
            f.write(encode_bundle(entries[at : at + batch]))
            f.flush()
            if durable:
                os.fsync(f.fileno())
    return time.perf_counter() - start


def appending(tmp: Path, count: int, batch: int) -> None:
    entries = synthetic_protocols(count)
    size_mb = sum(len(e) + 2 for e in entries) / 1e6
    print(
        f"appending {count:,} protocol entries ({size_mb:.1f} MB) in batches of {batch}, "
        "a cosigned checkpoint after each batch:"
    )
    for durable in (False, True):  # unsynced first, before the synced run's writeback
        log_dir, one_file = tmp / f"log-{durable}", tmp / f"one-{durable}.bin"
        log_dir.mkdir()
        tiles = append_bench(log_dir, entries, batch, durable)
        plain = one_file_bench(one_file, entries, batch, durable)
        how = "synced to disk" if durable else "not synced (page cache)"
        print(
            f"  {how}: tiles + checkpoints {tiles:.2f} s = {count / tiles:,.0f} entries/s; "
            f"the same bytes to one file {plain:.2f} s = {count / plain:,.0f} entries/s; "
            f"ratio {tiles / plain:.1f}× the one-file time"
        )


# -- the verifier on a simulated election ---------------------------------------------------------


def simulate(out: Path, stations: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "secki.cli",
            "simulate",
            "--quiet",
            "--out",
            str(out),
            "--stations",
            str(stations),
            "--seed",
            "3",
        ],
        check=True,
        env={**os.environ, "SECKI_DEVELOPMENT": "1"},
    )


def election_entries(sim: Path, slug: str, site: Path) -> list[bytes]:
    """The log of a simulated election day: published, register, turnout reports by report
    time, then every protocol (its integer lines)."""
    register = {}
    for name in REGISTER_FILES:
        data = (sim / name).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        (site / slug / "register").mkdir(parents=True, exist_ok=True)
        (site / slug / "register" / digest).write_bytes(data)
        register[name] = digest
    settings_data = (sim / "election.json").read_bytes()
    settings = hashlib.sha256(settings_data).hexdigest()
    (site / slug / "register" / settings).write_bytes(settings_data)
    entries = [
        election_published(slug, settings, T0),
        register_published(slug, 1, register, T0),
    ]
    with (sim / "turnout.csv").open() as f:
        reports = sorted(csv.DictReader(f), key=lambda r: r["time"])
    entries += [
        turnout_reported(slug, r["station"], r["time"], int(r["voters"]), T0) for r in reports
    ]
    with (sim / "protocols.csv").open() as f:
        for row in csv.DictReader(f):
            lines = {k: int(v) for k, v in row.items() if k not in ("station", "L17") and v}
            entries.append(protocol_accepted(slug, row["station"], lines, T0))
    return entries


def publish(site: Path, slug: str, entries: list[bytes], sim: Path) -> None:
    """The log's files and results/<N>.json with every unit's totals, as the publisher
    writes them."""
    origin = f"{SITE}/{slug}"
    size, root = TileWriter(site / slug, durable=False).append(entries)
    note = checkpoint_note(origin, size, root, WITNESSES)
    (site / slug / "checkpoint").write_text(note)
    register = read_register({n: (sim / n).read_bytes() for n in REGISTER_FILES})
    tally = replay(entries).tally(slug)
    units: dict[str, dict[str, int]] = {code: {} for code in register.parents}
    units.update({code: u.totals for code, u in tally.by_unit(register.units_of()).items()})
    results = build_results(tally, root, note, units=units)
    (site / slug / "results").mkdir()
    (site / slug / results_path(size)).write_bytes(results)
    (site / slug / "results" / "latest.json").write_bytes(results)
    (site / "log.vkey").write_text(LOG_KEY.verifier.format() + "\n")
    (site / "witnesses.txt").write_text(policy().format())
    logs = {"logs": [{"election": slug, "origin": origin, "path": f"{slug}/"}]}
    (site / "elections.json").write_bytes(canonical.encode(logs))


def policy() -> WitnessPolicy:
    return WitnessPolicy(tuple(Witness(w.verifier) for w in WITNESSES), 2)


def verifying(tmp: Path, stations: int) -> None:
    sim, site = tmp / f"sim-{stations}", tmp / f"site-{stations}"
    simulate(sim, stations)
    slug = "az-2024-simulated"
    entries = election_entries(sim, slug, site)
    publish(site, slug, entries, sim)
    (tmp / "witnesses.txt").write_text(policy().format())
    command = [
        sys.executable,
        "-m",
        "secki.verifier.cli",
        str(site),
        "--log-key",
        LOG_KEY.verifier.format(),
        "--witnesses",
        str(tmp / "witnesses.txt"),
        "--state",
        str(tmp / f"state-{stations}.json"),
        "--no-progress",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        raise SystemExit(f"the verifier failed on the {stations:,}-station log")
    bundles = (len(entries) + 255) // 256
    target = TARGETS.get(stations)
    versus = f" (target ≤ {target:.0f} s: {seconds / target:.2f} of the target)" if target else ""
    print(
        f"verifier full check, {stations:,} stations ({len(entries):,} entries, "
        f"{bundles:,} bundles): {seconds:.2f} s{versus}; CPU {cpu:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--entries", type=int, default=None)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    count = args.entries or (20_000 if args.quick else 100_000)
    with tempfile.TemporaryDirectory(prefix="bench-tlog-") as tmp:
        appending(Path(tmp), count, args.batch)
        for stations in (6_537,) if args.quick else (6_537, 100_000):
            verifying(Path(tmp), stations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
