"""Benchmark ``secki import`` of the default simulated election on the embedded SQLite database.

    python bench/bench_import.py [--stations N]
    python bench/bench_import.py --register --stations 100000   # PostgreSQL, register only

Target: the default election (6,537 stations, 32,500 turnout reports, 6,537 protocols with
every line) in < 20 s. The import runs as the real command in a child process on a fresh
SQLite file (migrations applied first and not timed), then the result is checked by exporting
it again and comparing the files byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 20.0
TARGET_REGISTER_S = 300.0  # 1,000,000 stations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--stations", type=int, default=6_537)
    parser.add_argument(
        "--register",
        action="store_true",
        help="register only (no turnout, no protocols) on a throwaway durable PostgreSQL",
    )
    args = parser.parse_args()
    if args.register:
        return register(args.stations)
    with tempfile.TemporaryDirectory(prefix="secki-bench-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "SECKI_VAR_DIR": str(root / "var")}
        env.setdefault("SECKI_DEVELOPMENT", "1")  # a throwaway key in the throwaway var dir
        env.pop("DATABASE_URL", None)
        secki = [sys.executable, "-m", "secki.cli"]
        subprocess.run(
            [
                *secki,
                "simulate",
                "--quiet",
                "--out",
                str(root / "in"),
                "--stations",
                str(args.stations),
            ],
            check=True,
            env=env,
        )
        subprocess.run([*secki, "manage", "migrate", "-v", "0"], check=True, env=env)
        start = time.perf_counter()
        subprocess.run(
            [*secki, "import", "--no-migrate", str(root / "in")],
            check=True,
            env=env,
            capture_output=True,
        )
        elapsed = time.perf_counter() - start
        subprocess.run(
            [*secki, "export", str(root / "out")], check=True, env=env, capture_output=True
        )
        same = all(
            filecmp.cmp(root / "in" / name, root / "out" / name, shallow=False)
            for name in (
                "election.json",
                "units.csv",
                "stations.csv",
                "candidates.csv",
                "turnout.csv",
                "protocols.csv",
            )
        )
    print(
        f"import {args.stations:,} stations on SQLite: {elapsed:.2f} s "
        f"(target < {TARGET_S:.0f} s, {elapsed / TARGET_S:.2f}x target); "
        f"export round-trip {'identical' if same else 'DIFFERS'}"
    )
    return 0 if same else 1


def timed_peak(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``command``; return its wall time (s) and its peak resident set size (GB)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    assert child.stdout is not None and child.stderr is not None
    out, err = child.stdout.read(), child.stderr.read()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.stderr.write(out.decode() + err.decode())
        raise subprocess.CalledProcessError(child.returncode, command)
    return elapsed, usage.ru_maxrss * 1024 / 1024**3


def register(stations: int) -> int:
    from bench_national import copy_same_rows, id_marks, rows_line
    from secki.devtools.pgserver import Cluster

    cluster = Cluster(durable=True)
    cluster.set(max_wal_size="8GB", shared_buffers="1GB", checkpoint_timeout="15min")
    cluster.start()
    try:
        with tempfile.TemporaryDirectory(prefix="secki-bench-") as tmp:
            root = Path(tmp)
            env = {
                **os.environ,
                "SECKI_VAR_DIR": str(root / "var"),
                "DATABASE_URL": cluster.url,
                "SECKI_LOG_NAME": "bench.secki/log",
            }
            env.setdefault("SECKI_DEVELOPMENT", "1")
            secki = [sys.executable, "-m", "secki.cli"]
            bundle = root / "in"
            subprocess.run(
                [*secki, "simulate", "--quiet", "--out", str(bundle), "--stations", str(stations)],
                check=True,
                env=env,
            )
            (bundle / "turnout.csv").unlink()
            (bundle / "protocols.csv").unlink()
            subprocess.run([*secki, "manage", "migrate", "-v", "0"], check=True, env=env)
            before = id_marks(cluster.url)
            elapsed, peak = timed_peak([*secki, "import", "--no-migrate", str(bundle)], env)
            copied, rows = copy_same_rows(cluster.url, before, root)
            verified = subprocess.run(
                [*secki, "verify-log"], env=env, capture_output=True, text=True
            )
    finally:
        cluster.stop()
        cluster.remove()
    target = TARGET_REGISTER_S * stations / 1_000_000
    print(
        f"register import {stations:,} stations on PostgreSQL: {elapsed:.1f} s "
        f"(target <= {target:.1f} s pro rata of 5 min at 1,000,000: {elapsed / target:.2f}x); "
        f"peak RSS of the import {peak:.2f} GB; plain COPY of the same rows {copied:.1f} s, "
        f"ratio {elapsed / copied:.1f}x ({rows_line(rows)}); verify-log "
        f"{'passed' if verified.returncode == 0 else 'FAILED'}"
    )
    if verified.returncode != 0:
        sys.stderr.write(verified.stdout + verified.stderr)
    return verified.returncode


if __name__ == "__main__":
    sys.exit(main())
