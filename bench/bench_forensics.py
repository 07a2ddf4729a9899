"""Benchmark the forensics suite: 1,000 Monte-Carlo replicates on 100,000 stations.

    python bench/bench_forensics.py [--stations N] [--replicates R] [--loop-replicates L]
    python bench/bench_forensics.py --quick   # 20,000 stations, loop timed on 100 replicates

Prints one line per figure; the integer test is compared with the straightforward
per-replicate numpy loop (``method="binomial"``: two binomial draws per station per
replicate). With ``--loop-replicates L < R`` the loop is timed on L replicates and
scaled to R (said so in the output). Target: the whole suite <= 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import TypeVar

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
    args = parser.parse_args()
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
