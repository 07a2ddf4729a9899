"""Exit polls: design effect of a cluster sample, sampling interval, z against the result.

Kish, L. (1965), *Survey Sampling*, Wiley, §5.4 — design effect deff = 1 + (m − 1)ρ for m
interviews per sampled station with intra-station correlation ρ.

SE = √(deff · p̂(1 − p̂)/n); z = (official − p̂)/SE. Exit polls also carry non-response and
selection bias (stated answers, refusals) that this interval does not include; a PVT (observed
counts) is stronger evidence than an exit poll.

Example
-------
>>> r = exit_poll(0.939, respondents=2000, stations=100, rho=0.05, official=0.9212)
>>> round(r.deff, 2), round(r.se, 5), round(r.z, 2)
(1.95, 0.00747, -2.38)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CITATION = "Kish (1965), Survey Sampling, 5.4 (design effect of cluster samples)"
CAVEAT = "sampling error only: non-response and selection bias of exit polls are not included"


@dataclass(frozen=True)
class ExitPollResult:
    estimate: float
    respondents: int
    stations: int
    rho: float
    deff: float
    se: float
    z_critical: float
    interval: tuple[float, float]
    official: float | None
    #: (official − estimate)/SE, None without an official result
    z: float | None
    consistent: bool | None
    caveat: str = CAVEAT
    method: str = "Kish design effect for a cluster sample"
    citation: str = CITATION


def design_effect(interviews_per_station: float, rho: float) -> float:
    """Kish: deff = 1 + (m − 1)·ρ."""
    return 1.0 + (interviews_per_station - 1.0) * rho


def exit_poll(
    estimate: float,
    *,
    respondents: int,
    stations: int,
    rho: float,
    official: float | None = None,
    z_critical: float = 2.58,
) -> ExitPollResult:
    """Interval and z for an exit-poll share from ``respondents`` in ``stations`` stations."""
    if not 0 <= estimate <= 1:
        raise ValueError("estimate must be a proportion")
    if respondents <= 0 or stations <= 0:
        raise ValueError("respondents and stations must be positive")
    deff = design_effect(respondents / stations, rho)
    se = math.sqrt(deff * estimate * (1 - estimate) / respondents)
    z = None if official is None or se == 0 else (official - estimate) / se
    return ExitPollResult(
        estimate=estimate,
        respondents=respondents,
        stations=stations,
        rho=rho,
        deff=deff,
        se=se,
        z_critical=z_critical,
        interval=(estimate - z_critical * se, estimate + z_critical * se),
        official=official,
        z=z,
        consistent=None if z is None else abs(z) <= z_critical,
    )
