"""Benchmark the risk-limiting audit's computations (issue 18).

    python bench/bench_audit.py [--stations N] [--audited M]
    python bench/bench_audit.py --quick   # 100,000 stations, 2,000 audited

Figures (targets: sample-size calculator and drawing for 1,000,000 stations <= 2 s each;
risk measurement over 10,000 audited stations <= 1 s):

* calculator: every station's MACRO error bound, U, the first-round sizes of both audit types
  for the public page's four risk limits (the calculator less its database read);
* drawing: the first round of a batch-comparison audit at 5 % (PPEB over all stations, with
  each draw's SHA-256 ticket, :func:`secki.audits.sampling.draw`), the first round of ballot
  polling at 10 % (ballots of the manifest), and 10,000 PPEB draws for scale;
* risk: the MACRO P-value of M audited stations (:func:`secki.audits.risk.macro_measure`, from
  the per-draw mappings the app holds) and the BRAVO statistic of M drawn ballots.

Votes are synthetic: seven candidates with close leading shares, so that U and the samples
are large; the hand counts equal the reported counts except one station in a hundred.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from secki.audits import risk, sampling
from secki.audits.published import manifest_csv
from secki.stats.bravo import bravo_sample_size
from secki.stats.macro import macro_error_bounds, macro_initial_sample_size

T = TypeVar("T")
SHARES = (0.30, 0.28, 0.15, 0.12, 0.08, 0.04, 0.03)
LIMITS = (0.01, 0.05, 0.10, 0.20)
SEED = "31415926535897932384"
TARGET_CALC = 2.0
TARGET_DRAW = 2.0
TARGET_RISK = 1.0


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--stations", type=int, default=1_000_000)
    parser.add_argument("--audited", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="small run for smoke tests")
    args = parser.parse_args()
    if args.quick:
        args.stations, args.audited = 100_000, 2_000
    n, m = args.stations, args.audited
    rng = np.random.default_rng(2024)
    ballots = rng.integers(200, 1800, size=n)
    pvals = [*(s * 0.98 for s in SHARES), 0.02]  # the last column: invalid ballots
    votes = rng.multinomial(ballots, pvals)[:, : len(SHARES)].astype(np.int64)
    candidates = [f"C{i + 1}" for i in range(len(SHARES))]
    reported = {c: votes[:, i] for i, c in enumerate(candidates)}
    totals = {c: int(v.sum()) for c, v in reported.items()}
    winners = [max(totals, key=lambda c: totals[c])]
    total_ballots = int(ballots.sum())
    print(f"# {n:,} stations, {total_ballots:,} ballots, {os.cpu_count()} CPUs")

    def calculator() -> tuple[float, list[tuple[float, int, int]]]:
        u = macro_error_bounds(reported, ballots, winners)
        big_u = float(u.sum())
        sizes = [
            (
                a,
                macro_initial_sample_size(big_u, alpha=a),
                bravo_sample_size(totals, alpha=a, total_ballots=total_ballots).asn,
            )
            for a in LIMITS
        ]
        return big_u, sizes

    (big_u, sizes), t_calc = timed(calculator)
    print(
        f"sample-size calculator, {n:,} stations: {t_calc:.2f} s "
        f"(target <= {TARGET_CALC:.0f} s, {t_calc / TARGET_CALC:.2f}x target); U = {big_u:,.1f}"
    )
    for a, stations, polled in sizes:
        print(f"  risk limit {a:.0%}: {stations:,} station draws, {polled:,} ballots")
    bounds = macro_error_bounds(reported, ballots, winners).tolist()
    macro_n = next(s for a, s, _ in sizes if a == 0.05)
    bravo_n = next(p for a, _, p in sizes if a == 0.10)
    _drawn, t_macro = timed(lambda: sampling.draw(SEED, n=macro_n, first=1, bounds=bounds))
    print(
        f"drawing, batch comparison at 5 %: {macro_n:,} draws over {n:,} stations: {t_macro:.2f} s "
        f"(target <= {TARGET_DRAW:.0f} s, {t_macro / TARGET_DRAW:.2f}x target)"
    )
    ballot_list = ballots.tolist()
    _, t_bravo = timed(lambda: sampling.draw(SEED, n=bravo_n, first=1, ballots=ballot_list))
    print(
        f"drawing, ballot polling at 10 %: {bravo_n:,} ballots of {total_ballots:,}: "
        f"{t_bravo:.2f} s (target <= {TARGET_DRAW:.0f} s, {t_bravo / TARGET_DRAW:.2f}x target)"
    )
    _, t_big = timed(lambda: sampling.draw(SEED, n=10_000, first=1, bounds=bounds))
    print(f"  for scale: 10,000 PPEB draws over {n:,} stations: {t_big:.2f} s")
    codes = [f"{i // 500 + 1}-{i % 500 + 1}" for i in range(n)]
    _, t_csv = timed(lambda: manifest_csv(codes, ["x"] * n, ballot_list, bounds))
    print(f"  for scale: the published manifest CSV of {n:,} stations: {t_csv:.2f} s")

    picks = [d.position for d in sampling.draw(SEED, n=m, first=1, bounds=bounds)]
    rows_rep = [{c: int(votes[p, i]) for i, c in enumerate(candidates)} for p in picks]
    rows_aud = []
    for k, row in enumerate(rows_rep):
        audited = dict(row)
        if k % 100 == 0:
            audited[winners[0]] -= 5
        rows_aud.append(audited)
    row_bounds = [bounds[p] for p in picks]

    measured, t_risk = timed(
        lambda: risk.macro_measure(
            candidates=candidates,
            totals=totals,
            winners=winners,
            total_error_bound=big_u,
            reported=rows_rep,
            audited=rows_aud,
            bounds=row_bounds,
            alpha=0.05,
        )
    )
    print(
        f"risk measurement, MACRO over {m:,} audited stations: {t_risk:.3f} s "
        f"(target <= {TARGET_RISK:.0f} s, {t_risk / TARGET_RISK:.2f}x target); "
        f"P = {measured.risk:.3g}"
    )
    ballots_drawn = rng.choice(
        [*candidates, None], size=m, p=[*[s * 0.98 for s in SHARES], 0.02]
    ).tolist()
    bravo, t_bravo_risk = timed(
        lambda: risk.bravo_measure(
            totals=totals, ballots=total_ballots, winners=1, sample=ballots_drawn, alpha=0.10
        )
    )
    print(
        f"risk measurement, BRAVO over {m:,} ballots: {t_bravo_risk:.3f} s "
        f"(target <= {TARGET_RISK:.0f} s, {t_bravo_risk / TARGET_RISK:.2f}x target); "
        f"risk = {bravo.risk:.3g}"
    )


if __name__ == "__main__":
    main()
