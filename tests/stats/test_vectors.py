"""Every ✔ test vector of spec/statistics.md."""

from __future__ import annotations

import numpy as np
import pytest

from secki.stats import (
    bravo_asn,
    bravo_sample_size,
    exit_poll,
    macro_initial_sample_size,
    ndi_sample_size,
    pvt_estimate,
    second_digit_benford,
)
from secki.stats.digits import SECOND_DIGIT_MEAN


def test_second_digit_benford_probabilities() -> None:
    expected = [0.1197, 0.1139, 0.1088, 0.1043, 0.1003, 0.0967, 0.0934, 0.0904, 0.0876, 0.0850]
    assert np.round(second_digit_benford(), 4).tolist() == expected
    assert second_digit_benford().sum() == pytest.approx(1.0)
    assert round(SECOND_DIGIT_MEAN, 3) == 4.187


@pytest.mark.parametrize(
    ("share", "asn10", "asn05"),
    [(0.9, 8, 9), (0.8, 14, 17), (0.7, 31, 39), (0.6, 119, 154), (0.55, 470, 608)],
)
def test_bravo_asn_two_candidates(share: float, asn10: int, asn05: int) -> None:
    assert bravo_asn(share, 1 - share, alpha=0.10) == asn10
    assert bravo_asn(share, 1 - share, alpha=0.05) == asn05


@pytest.mark.parametrize(
    ("votes", "total", "asn"),
    [
        ({"A": 600, "B": 400}, 1000, 119),
        ({"A": 600, "B": 200, "C": 100}, 900, 22),
        ({"A": 300, "B": 200, "C": 200}, 1000, 238),
    ],
)
def test_bravo_asn_multi_candidate(votes: dict[str, int], total: int, asn: int) -> None:
    assert bravo_sample_size(votes, total_ballots=total, alpha=0.10).asn == asn


@pytest.mark.parametrize(("u", "n"), [(5, 11), (10, 22), (20, 45), (50, 114)])
def test_macro_initial_sample(u: float, n: int) -> None:
    assert macro_initial_sample_size(u, alpha=0.1) == n


def test_pvt_toy() -> None:
    est = pvt_estimate(
        [400, 350, 500, 420, 380, 450],
        {"A": [240, 200, 310, 250, 215, 270]},
        stratum_sizes=600,
        z=1.96,
    ).estimates["A"]
    assert round(est.estimate, 4) == 0.5940
    assert round(est.se, 5) == 0.00827
    assert (round(est.interval[0], 4), round(est.interval[1], 4)) == (0.5778, 0.6102)


def test_ndi_sample_size_peru_2001() -> None:
    size = ndi_sample_size(14_570_774, 0.0032, z=2.58, voters_per_station=160)
    assert size.voters == 160_717
    assert size.stations == 1005  # "about 1,000"


def test_exit_poll_design_effect() -> None:
    r = exit_poll(0.939, respondents=2000, stations=100, rho=0.05, official=0.9212)
    assert round(r.deff, 2) == 1.95
    assert round(r.se, 5) == 0.00747
    assert r.z is not None and round(r.z, 2) == -2.38
    assert r.consistent is True  # |z| <= 2.58 at 99 %
    assert "non-response" in r.caveat
