"""Benchmark the forensics suite: 1,000 Monte-Carlo replicates on 100,000 stations.

    python bench/bench_forensics.py [--stations N] [--replicates R] [--loop-replicates L]
    python bench/bench_forensics.py --quick   # 20,000 stations, loop timed on 100 replicates
    python bench/bench_forensics.py --database [--stations N] [--runs K] [--url URL]

``--database`` measures what the app runs (as bench_national's forensics phase): a
simulated N-station election on a throwaway PostgreSQL (register through ``secki import``,
protocols through ``secki upload-protocols``; ``--url`` reuses a database that holds one),
then, in a child process, ``station_arrays.load`` (reading the station arrays) and
``analysis.analyse`` (the tests, with the settings' replicates and bootstraps), K times;
printed with the ratio to the 1,000,000-station target (120 s) scaled to N stations.

Prints one line per figure; the integer test is compared with the straightforward
per-replicate numpy loop (``method="binomial"``: two binomial draws per station per
replicate). With ``--loop-replicates L < R`` the loop is timed on L replicates and
scaled to R (said so in the output). Target: the whole suite <= 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from _common import base_env, secki
from secki.stats import (
    digit_tests_by_group,
    fingerprint,
    fit_klimek,
    integer_percentage_test,
    risk_scores,
    simulate_klimek,
)

T = TypeVar("T")
TARGET = 10.0
#: bench_national's forensics target on 1,000,000 stations
NATIONAL_TARGET = 120.0
NATIONAL_STATIONS = 1_000_000
SLUG = "az-2024-simulated"
FORENSICS = """
import os
import time
from secki.elections.models import Election
from secki.integrity import analysis
from secki.integrity.station_arrays import load
from secki.ledger.chain import ledger_head
election = Election.objects.get(slug=%r)
def cpu():
    t = os.times()
    return t.user + t.system
for run in range(%d):
    started, cpu0 = time.perf_counter(), cpu()
    data = load(election, public=False, head=ledger_head())
    loaded, cpu1 = time.perf_counter() - started, cpu()
    result = analysis.analyse(data, analysis.AnalysisConfig.from_settings())
    total, cpu2 = time.perf_counter() - started, cpu()
    print("RUN", total, loaded, data.n, result.integer is not None, result.fit is not None,
          cpu1 - cpu0, cpu2 - cpu1)
"""


def build(url: str, stations: int, work: Path) -> None:
    """A simulated election of ``stations`` stations with every protocol accepted."""
    env = base_env(DATABASE_URL=url, SECKI_VAR_DIR=str(work / "var"))
    bundle = work / "bundle"
    secki(env, "manage", "migrate", "-v", "0")
    secki(env, "simulate", "--quiet", "--out", str(bundle), "--stations", str(stations))
    protocols = work / "protocols.csv"
    shutil.move(bundle / "protocols.csv", protocols)
    (bundle / "turnout.csv").unlink()
    started = time.perf_counter()
    secki(env, "import", "--no-migrate", str(bundle))
    secki(
        env,
        "manage",
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('bulk', 'b@example.org', None)",
    )
    secki(env, "upload-protocols", str(protocols), "--election", SLUG, "--user", "bulk")
    print(f"# built in {time.perf_counter() - started:.0f} s", flush=True)


def measure(url: str, stations: int, runs: int, work: Path) -> None:
    env = base_env(DATABASE_URL=url, SECKI_VAR_DIR=str(work / "var"))
    out = secki(env, "manage", "shell", "-c", FORENSICS % (SLUG, runs)).stdout
    target = NATIONAL_TARGET * stations / NATIONAL_STATIONS
    for line in out.splitlines():
        if not line.startswith("RUN "):
            continue
        _, total_s, loaded_s, n, integer, fit, cpu_load, cpu_tests = line.split()
        total, loaded = float(total_s), float(loaded_s)
        print(
            f"forensics {int(n):,} stations: {total:.1f} s (target <= {target:.1f} s, "
            f"{NATIONAL_TARGET:.0f} s at 1,000,000 scaled: {total / target:.2f}x target, "
            f"{'OK' if total <= target else 'MISSED'}); reading the station arrays "
            f"{loaded:.1f} s, the tests {total - loaded:.1f} s (integer test {integer}, "
            f"Klimek fit {fit}); this process's CPU time: reading {float(cpu_load):.1f} s, "
            f"the tests {float(cpu_tests):.1f} s (on 2 threads); load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )


def database(args: argparse.Namespace) -> None:
    from secki.devtools.pgserver import Cluster

    print(f"# {args.stations:,} stations on PostgreSQL, {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="secki-bench-forensics-") as tmp:
        work = Path(tmp)
        if args.url:
            measure(args.url, args.stations, args.runs, work)
            return
        cluster = Cluster()
        try:
            cluster.start()
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import psycopg, sys; psycopg.connect(sys.argv[1], "
                    "autocommit=True).execute('CREATE DATABASE bench_forensics')",
                    cluster.url.replace("postgres://", "postgresql://", 1),
                ],
                check=True,
            )
            url = cluster.url.rsplit("/", 1)[0] + "/bench_forensics"
            build(url, args.stations, work)
            measure(url, args.stations, args.runs, work)
        finally:
            cluster.remove()


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=100_000)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--loop-replicates", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    parser.add_argument(
        "--database", action="store_true", help="the app's forensics on a PostgreSQL election"
    )
    parser.add_argument("--runs", type=int, default=2, help="--database: measurements")
    parser.add_argument("--url", default=None, help="--database: an existing database")
    args = parser.parse_args()
    if args.database:
        database(args)
        return
    if args.quick:
        args.stations = min(args.stations, 20_000)
        args.loop_replicates = args.loop_replicates or 100
    n, reps = args.stations, args.replicates
    loop_reps = min(args.loop_replicates or reps, reps)

    e = simulate_klimek(n, seed=2024, f_i=0.1, f_e=0.01, theta=0.2, n_groups=80)
    v, b, ld, g = e.voters, e.ballots, e.leader, e.groups
    print(f"# {n:,} simulated stations, {os.cpu_count()} CPUs")

    res, t_int = timed(
        lambda: integer_percentage_test(v, b, b, ld, seed=1, groups=g, replicates=reps)
    )
    _, t_loop = timed(
        lambda: integer_percentage_test(
            v, b, b, ld, seed=1, groups=g, replicates=loop_reps, method="binomial"
        )
    )
    t_loop_scaled = t_loop * reps / loop_reps
    note = "" if loop_reps == reps else f" (timed on {loop_reps} replicates, scaled)"
    print(
        f"integer test {n} stations x {reps} replicates: {t_int:.1f} s (target <= {TARGET:.0f} s);"
        f" per-replicate loop: {t_loop_scaled:.1f} s{note}; speed-up {t_loop_scaled / t_int:.1f}x"
    )
    print(
        f"  observed {res.either.observed}, null {res.either.null_mean:.1f} ± "
        f"{res.either.null_sd:.1f}, p = {res.pvalue:.4f}"
    )
    _, t_dig = timed(lambda: digit_tests_by_group(b, g, seed=1, registered=v))
    print(f"digit tests by group ({len(set(g.tolist()))} groups): {t_dig:.2f} s")
    _, t_fp = timed(lambda: fingerprint(v, b, ld))
    print(f"fingerprint histogram: {t_fp:.2f} s")
    fit, t_fit = timed(lambda: fit_klimek(v, b, ld, seed=1))
    print(
        f"Klimek fit with {fit.bootstrap} bootstrap refits: {t_fit:.1f} s "
        f"(f_i {fit.f_i:.3f} [{fit.f_i_interval[0]:.3f}, {fit.f_i_interval[1]:.3f}] true 0.1; "
        f"f_e {fit.f_e:.4f} [{fit.f_e_interval[0]:.4f}, {fit.f_e_interval[1]:.4f}] true 0.01)"
    )
    _, t_risk = timed(lambda: risk_scores(v, b, b, ld, groups=g))
    print(f"risk scores: {t_risk:.2f} s")
    total = t_int + t_dig + t_fp + t_fit + t_risk
    print(
        f"full forensics suite {n} stations incl. {reps} Monte-Carlo replicates: {total:.1f} s "
        f"(target <= {TARGET:.0f} s) {'OK' if total <= TARGET else 'OVER TARGET'}"
    )


if __name__ == "__main__":
    main()
