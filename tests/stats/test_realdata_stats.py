"""Real elections: Albania 2013 digit table (EFToolkit) and Russia 2011 integer test."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from secki.stats import digit_tests_by_group, integer_percentage_test

# prefecture: 2BL mean, P05s, C05s, skew, kurtosis, stations (spec/statistics.md §2)
ALBANIA = {
    "BERAT": (4.244, 0.197, 0.217, 0.261, 3.474, 300),
    "DIBER": (4.167, 0.221, 0.225, 1.685, 4.954, 258),
    "DURRES": (4.572, 0.173, 0.194, 1.354, 3.211, 444),
    "ELBASAN": (4.345, 0.217, 0.196, 1.500, 4.086, 516),
    "FIER": (4.373, 0.208, 0.181, 1.582, 4.572, 558),
    "GJIROKASTER": (4.549, 0.287, 0.228, 0.720, 2.166, 237),
}


@pytest.mark.realdata
def test_albania_2013_digit_table(shared_data: Callable[[str], Path]) -> None:
    with shared_data("albania2013.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5508
    res = digit_tests_by_group(
        [int(r["Ballots"]) for r in rows],
        [r["Prefectures"] for r in rows],
        registered=[int(r["Registered"]) for r in rows],
        seed=1,
    )
    for name, (mean2, p05s, c05s, skew, kurt, n) in ALBANIA.items():
        r = res[name]
        got = (r.second_digit_mean, r.p05s, r.c05s, r.skew, r.kurtosis)
        assert all(g is not None for g in got)
        assert [round(float(g), 3) for g in got] == [mean2, p05s, c05s, skew, kurt], name  # type: ignore[arg-type]
        assert r.stations == n


@pytest.mark.realdata
def test_russia_2011_integer_test(shared_data: Callable[[str], Path]) -> None:
    with zipfile.ZipFile(shared_data("russia2011.csv.zip")) as zf:
        text = zf.read(zf.namelist()[0]).decode("utf-8")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    rows = list(reader)

    def cols(part: str) -> list[int]:
        return [i for i, h in enumerate(header) if part in h]

    def total(idx: list[int]) -> np.ndarray:
        return np.array([sum(int(r[i]) for i in idx) for r in rows])

    voters = total(cols("Число избирателей, внесенных в список"))
    given = total(cols("бюллетеней, выданных"))
    received = total(cols("Число недействительных") + cols("Число действительных"))
    leader = total(cols("ЕДИНАЯ РОССИЯ"))
    assert len(rows) == 95_225
    assert given.sum() / voters.sum() == pytest.approx(0.6021, abs=5e-5)
    assert leader.sum() / received.sum() == pytest.approx(0.4931, abs=5e-5)
    r = integer_percentage_test(voters, given, received, leader, seed=2011)
    assert r.included == 86_718
    assert (r.either.observed, r.leader.observed, r.turnout.observed) == (17_803, 9_708, 9_216)
    assert abs(r.either.anomaly - 1003.5) <= 350
    assert 80 <= r.either.null_sd <= 150
    assert r.pvalue <= 0.001 + 1e-12
