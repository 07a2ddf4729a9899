"""Run the whole forensics suite of :mod:`secki.stats` on a :class:`StationTable`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from secki.forensics.loading import StationTable
from secki.stats import (
    DigitTestResult,
    FingerprintResult,
    IntegerPercentageResult,
    IntegerStatistic,
    KlimekFit,
    RiskResult,
    digit_tests,
    digit_tests_by_group,
    fingerprint,
    fit_klimek,
    integer_percentage_test,
    risk_scores,
)
from secki.stats._common import jsonable
from secki.stats.fingerprint import THETA_GRID
from secki.stats.integer_percentages import Convention

STEPS = ("integer percentages", "digit tests", "fingerprint", "Klimek fit", "risk scores")


@dataclass
class SuiteResult:
    table: StationTable
    integer: IntegerPercentageResult
    digits: dict[str, tuple[DigitTestResult, dict[str, DigitTestResult]]]
    fingerprint: FingerprintResult
    fit: KlimekFit | None
    fit_error: str | None
    risk: RiskResult
    seed: int
    replicates: int
    integer_convention: str = "exact"

    def warnings(self) -> list[str]:
        """Everything the reader should distrust: the file's ids and the fit's bounds."""
        out = list(self.table.warnings)
        if self.fit is not None:
            out += [f"Klimek fit: {w}" for w in self.fit.warnings]
        elif self.fit_error:
            out.append(f"Klimek fit not possible: {self.fit_error}")
        return out

    def to_json(self, top: int = 20) -> dict[str, Any]:
        t = self.table
        integer = self.integer
        out: dict[str, Any] = {
            "mapping": {"description": t.mapping.description, "columns": t.mapping.columns},
            "seed": self.seed,
            "input": {"read": list(t.notes)},
            "warnings": self.warnings(),
            "rows": {
                "total": t.total_rows,
                "used": int(t.rows.size),
                "invalid": t.invalid_rows,
                "invalid_examples": [str(p) for p in t.invalid[:20]],
                "zero_registered": len(t.zero_registered),
                "zero_registered_rows": t.zero_registered[:20],
            },
            "integer_test": {
                "stations": integer.stations,
                "included": integer.included,
                "excluded": integer.excluded,
                "replicates": integer.replicates,
                "statistic": integer.statistic,
                "pvalue": integer.pvalue,
                "either": asdict(integer.either),
                "leader": asdict(integer.leader),
                "turnout": asdict(integer.turnout),
                "groups": [asdict(g) for g in integer.groups],
                "method": integer.method,
                "convention": self.integer_convention,
                "citation": integer.citation,
            },
            "digits": {
                name: {
                    "all": _digits_json(total),
                    "groups": {g: _digits_json(r) for g, r in by.items()},
                }
                for name, (total, by) in self.digits.items()
            },
            "fingerprint": {
                k: v for k, v in asdict(self.fingerprint).items() if k not in ("counts",)
            }
            | {"bins": int(self.fingerprint.counts.shape[0])},
            "klimek_fit": asdict(self.fit) if self.fit is not None else {"error": self.fit_error},
            "risk": {
                "signals": {k: int(v.sum()) for k, v in self.risk.signals.items()},
                "weights": self.risk.weights,
                "top": [
                    {
                        "row": int(t.rows[i]),
                        "station": t.ids[i],
                        "group": str(t.groups[i]),
                        "score": float(self.risk.scores[i]),
                        "reasons": list(self.risk.explanations[i]),
                    }
                    for i in self.risk.top(top)
                ],
                "method": self.risk.method,
                "citation": self.risk.citation,
            },
        }
        out["fingerprint"].pop("turnout_edges", None)
        out["fingerprint"].pop("share_edges", None)
        result: dict[str, Any] = jsonable(out)
        return result


def _digits_json(r: DigitTestResult) -> dict[str, Any]:
    d = asdict(r)
    d.pop("second_digit_probabilities", None)
    return d


def run_suite(
    table: StationTable,
    *,
    seed: int,
    replicates: int = 1000,
    fit_bootstrap: int = 50,
    step: Callable[[str], None] | None = None,
    integer_convention: Convention = "exact",
    theta_grid: tuple[float, ...] = THETA_GRID,
) -> SuiteResult:
    """All analyses, each from its own child seed of ``seed`` (so each is reproducible)."""
    seeds = np.random.SeedSequence(seed).spawn(len(STEPS))
    rngs = [np.random.default_rng(s) for s in seeds]

    def tick(name: str) -> None:
        if step is not None:
            step(name)

    t = table
    groups = t.groups
    integer = integer_percentage_test(
        t.registered,
        t.given,
        t.received,
        t.leader,
        seed=rngs[0],
        groups=groups,
        replicates=replicates,
        convention=integer_convention,
    )
    tick(STEPS[0])
    digits: dict[str, tuple[DigitTestResult, dict[str, DigitTestResult]]] = {}
    for name in t.mapping.digits:
        counts = t.field(name)
        reg = t.registered
        digits[name] = (
            digit_tests(counts, seed=rngs[1], registered=reg),
            digit_tests_by_group(counts, groups, seed=rngs[1], registered=reg),
        )
    tick(STEPS[1])
    fp = fingerprint(t.registered, t.given, t.leader, received=t.received)
    tick(STEPS[2])
    fit: KlimekFit | None = None
    fit_error: str | None = None
    try:
        fit = fit_klimek(
            t.registered,
            t.given,
            t.leader,
            received=t.received,
            seed=rngs[3],
            bootstrap=max(fit_bootstrap, 1),
            thetas=theta_grid,
        )
    except ValueError as exc:
        fit_error = str(exc)
    tick(STEPS[3])
    risk = risk_scores(t.registered, t.given, t.received, t.leader, groups=groups)
    tick(STEPS[4])
    return SuiteResult(
        table=t,
        integer=integer,
        digits=digits,
        fingerprint=fp,
        fit=fit,
        fit_error=fit_error,
        risk=risk,
        seed=seed,
        replicates=replicates,
        integer_convention=integer_convention,
    )


def describe_stat(s: IntegerStatistic) -> str:
    return (
        f"{s.observed:>8,}  null {s.null_mean:>10,.1f} ± {s.null_sd:>6.1f}"
        f"  anomaly {s.anomaly:>+9,.1f}  99.9% {s.null_p999:>9,.0f}  p = {s.pvalue:.4f}"
    )
