"""Election statistics: forensics, parallel vote tabulation, exit polls and audit math.

Imports only the standard library, numpy and scipy (enforced by ``ruff.toml`` here). One
module per method, each citing its paper; random functions take an explicit ``seed``;
results are frozen dataclasses carrying the statistic, its p-value or interval, the method
and the citation. Formulas and test vectors: ``spec/statistics.md``.
"""

from secki.stats.bravo import (
    BravoAudit,
    BravoPlan,
    BravoResult,
    bravo_asn,
    bravo_majority_test,
    bravo_sample_size,
    bravo_test,
)
from secki.stats.digits import (
    DigitTestResult,
    digit_tests,
    digit_tests_by_group,
    second_digit_benford,
)
from secki.stats.exit_polls import ExitPollResult, design_effect, exit_poll
from secki.stats.fingerprint import FingerprintResult, KlimekFit, fingerprint, fit_klimek
from secki.stats.integer_percentages import (
    IntegerGroupResult,
    IntegerPercentageResult,
    IntegerStatistic,
    integer_percentage_test,
    is_integer_percentage,
)
from secki.stats.macro import (
    MacroResult,
    macro_audit,
    macro_error_bounds,
    macro_initial_sample_size,
    macro_pvalue,
    macro_taint,
    ppeb_draws,
)
from secki.stats.pvt import (
    PvtEstimate,
    PvtVerdict,
    RatioEstimate,
    SampleSize,
    ndi_sample_size,
    pvt_estimate,
    pvt_verdict,
)
from secki.stats.risk import RiskResult, risk_scores
from secki.stats.sampling import (
    proportional_allocation,
    sample_with_replacement,
    sample_without_replacement,
    stratified_sample,
    ticket,
)
from secki.stats.simulation import (
    SimulatedElection,
    rewrite_to_integer_percentages,
    simulate_klimek,
)

__all__ = [
    "BravoAudit",
    "BravoPlan",
    "BravoResult",
    "DigitTestResult",
    "ExitPollResult",
    "FingerprintResult",
    "IntegerGroupResult",
    "IntegerPercentageResult",
    "IntegerStatistic",
    "KlimekFit",
    "MacroResult",
    "PvtEstimate",
    "PvtVerdict",
    "RatioEstimate",
    "RiskResult",
    "SampleSize",
    "SimulatedElection",
    "bravo_asn",
    "bravo_majority_test",
    "bravo_sample_size",
    "bravo_test",
    "design_effect",
    "digit_tests",
    "digit_tests_by_group",
    "exit_poll",
    "fingerprint",
    "fit_klimek",
    "integer_percentage_test",
    "is_integer_percentage",
    "macro_audit",
    "macro_error_bounds",
    "macro_initial_sample_size",
    "macro_pvalue",
    "macro_taint",
    "ndi_sample_size",
    "ppeb_draws",
    "proportional_allocation",
    "pvt_estimate",
    "pvt_verdict",
    "rewrite_to_integer_percentages",
    "risk_scores",
    "sample_with_replacement",
    "sample_without_replacement",
    "second_digit_benford",
    "simulate_klimek",
    "stratified_sample",
    "ticket",
]
