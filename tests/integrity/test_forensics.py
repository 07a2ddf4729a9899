"""Live forensics on simulated elections imported through the bundle import: the analysis of
the database flags injected integer rewriting and ballot stuffing, leaves a clean election
alone, and gives exactly what secki.stats gives on the simulator's own arrays."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from django.test import Client

from secki.integrity import analysis
from secki.integrity.analysis import snapshot
from secki.simulator import SimulationConfig, parse_fraud
from secki.stats import (
    digit_tests,
    digit_tests_by_group,
    fingerprint,
    fit_klimek,
    integer_percentage_test,
    risk_scores,
)
from tests.integrity.conftest import Imported, import_simulated, module_transaction

pytestmark = pytest.mark.django_db

STATIONS = 3000
FRAUD = "stuffing:fi=0.1,fe=0.02;integer:share=0.05"


@pytest.fixture(scope="module")
def fraud(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Imported]:
    with module_transaction(django_db_blocker):
        yield import_simulated(
            tmp_path_factory.mktemp("fraud"),
            SimulationConfig(stations=STATIONS, seed=7, fraud=parse_fraud(FRAUD)),
        )


@pytest.fixture(scope="module")
def clean(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Imported]:
    with module_transaction(django_db_blocker):
        yield import_simulated(
            tmp_path_factory.mktemp("clean"),
            SimulationConfig(stations=STATIONS, seed=7, slug="clean-2024-simulated"),
        )


def browser(imported: Imported, who: str) -> Client:
    client = Client()
    client.force_login(imported.people[who].user)
    return client


def sim_arrays(imported: Imported, codes: list[str]) -> dict[str, Any]:
    """The simulator's own station arrays (not read back from the database), in ``codes``
    order, with the constituency of each station from the bundle's stations.csv."""
    sim = imported.sim
    index = {c: i for i, c in enumerate(sim.station_codes())}
    order = np.array([index[c] for c in codes])
    lines = sim.protocols.lines
    units = imported.station_units()
    return {
        "registered": lines["L1"][order],
        "given": (lines["L5"] + lines["L6"])[order],
        "received": (lines["L12"] + lines["L13"])[order],
        "leader": sim.protocols.votes[order, 0],
        "groups": np.array([units[c] for c in codes]),
    }


def test_injected_fraud_is_flagged_and_a_clean_election_is_not(
    fraud: Imported, clean: Imported
) -> None:
    bad = snapshot(fraud.election, public=False).result
    good = snapshot(clean.election, public=False).result
    assert bad is not None and good is not None
    assert bad.data.n == good.data.n == STATIONS
    assert bad.integer_flagged and bad.high_high_flagged
    assert bad.integer is not None and bad.integer.either.pvalue <= analysis.ALPHA
    assert bad.fingerprint is not None and bad.fingerprint.high_high_share >= 0.015
    assert not good.integer_flagged and not good.high_high_flagged
    assert good.integer is not None and good.integer.either.pvalue > 0.05
    assert good.fingerprint is not None and good.fingerprint.high_high_share < 0.01
    # the Klimek fit sees the extreme fraud only where it was injected
    assert bad.fit is not None and bad.fit.f_e_interval[0] > 0.005
    assert good.fit is not None and good.fit.f_e < 0.005


def test_numbers_equal_secki_stats_on_the_same_arrays(fraud: Imported) -> None:
    a = snapshot(fraud.election, public=False).result
    assert a is not None
    cfg = a.config
    x = sim_arrays(fraud, a.data.codes)
    assert a.data.leader is not None and a.data.leader.number == 1
    for name, mine in (
        ("registered", a.data.registered),
        ("given", a.data.participants),
        ("received", a.data.cast),
        ("leader", a.data.leader_votes()),
    ):
        np.testing.assert_array_equal(mine, x[name], err_msg=name)
    args = (x["registered"], x["given"], x["received"], x["leader"])

    ip = integer_percentage_test(
        *args, seed=cfg.seed, groups=x["groups"], replicates=cfg.replicates
    )
    assert a.integer is not None
    for which in ("either", "leader", "turnout"):
        assert getattr(a.integer, which) == getattr(ip, which), which
    assert a.integer.groups == ip.groups
    np.testing.assert_array_equal(a.integer.null_either, ip.null_either)

    for name, counts in (("cast", x["received"]), ("leader", x["leader"])):
        total, by_group = a.digits[name]
        direct = digit_tests(
            counts, seed=cfg.seed, registered=x["registered"], bootstrap=cfg.digit_bootstrap
        )
        assert total.second_digit_mean_ci == direct.second_digit_mean_ci
        assert total.second_digit_chi2 == direct.second_digit_chi2
        assert (total.c05s, total.p05s, total.skew) == (direct.c05s, direct.p05s, direct.skew)
        groups = digit_tests_by_group(
            counts,
            x["groups"],
            seed=cfg.seed,
            registered=x["registered"],
            bootstrap=cfg.digit_bootstrap,
        )
        assert sorted(by_group) == sorted(groups)
        for g, r in groups.items():
            assert by_group[g].second_digit_mean_ci == r.second_digit_mean_ci, g
            assert by_group[g].last_digit_pvalue == r.last_digit_pvalue, g

    fp = fingerprint(x["registered"], x["given"], x["leader"], received=x["received"])
    assert a.fingerprint is not None
    np.testing.assert_array_equal(a.fingerprint.counts, fp.counts)
    assert (a.fingerprint.high_high, a.fingerprint.high_high_share) == (
        fp.high_high,
        fp.high_high_share,
    )

    fit = fit_klimek(
        x["registered"],
        x["given"],
        x["leader"],
        received=x["received"],
        seed=cfg.seed,
        bootstrap=cfg.fit_bootstrap,
    )
    assert a.fit == fit

    risk = risk_scores(*args, groups=x["groups"])
    assert a.risk is not None
    np.testing.assert_array_equal(a.risk.scores, risk.scores)
    assert a.risk.explanations == risk.explanations


def test_api_json_carries_the_same_numbers(fraud: Imported) -> None:
    a = snapshot(fraud.election, public=False).result
    assert a is not None and a.integer is not None and a.fingerprint is not None
    response = (
        fraud.people["observer"]
        .client()
        .get(f"/api/v1/elections/{fraud.election.slug}/integrity?top=10")
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready" and not body["computing"] and not body["stale"]
    assert body["published_only"] is False
    assert body["stations"] == {"analysed": STATIONS, "total": STATIONS}
    assert body["flags"]["integer_percentages"] is True
    assert body["flags"]["high_high"] is True
    assert body["integer_test"]["statistic"] == a.integer.statistic
    assert body["integer_test"]["pvalue"] == a.integer.pvalue
    assert body["integer_test"]["either"]["anomaly"] == a.integer.either.anomaly
    assert body["fingerprint"]["high_high"] == a.fingerprint.high_high
    assert sum(c[2] for c in body["fingerprint"]["cells"]) == a.fingerprint.stations
    assert body["klimek_fit"]["f_e"] == pytest.approx(a.fit.f_e if a.fit else -1)
    assert set(body["digits"]) == {"cast", "leader"}
    assert (
        len(body["digits"]["cast"]["groups"])
        == fraud.election.units.filter(kind="constituency").count()
    )
    top = body["risk"]["top"]
    assert len(top) == 10
    assert [r["score"] for r in top] == sorted((r["score"] for r in top), reverse=True)
    assert all(r["reasons"] for r in top)
    assert top[0]["url"] == f"/e/{fraud.election.slug}/s/{top[0]['station']}/"
    for key in ("integer_test", "fingerprint", "klimek_fit", "digits", "risk", "turnout"):
        assert body["explanations"][key]["shows"] and body["explanations"][key]["cannot"]
    assert "not proof of fraud" in body["caveat"]


def test_risk_table_points_at_the_touched_stations(fraud: Imported) -> None:
    a = snapshot(fraud.election, public=False).result
    assert a is not None and a.risk is not None
    truth = fraud.truth()
    top = [a.data.codes[i] for i in a.risk.top(50)]
    touched = [
        c
        for c in top
        if truth.get(c, {}).get("stuffing") or truth.get(c, {}).get("integer_rewrite") == "1"
    ]
    # in a clean station the top signals are rare: most of the top 50 were touched
    assert len(touched) >= 40, (len(touched), top)


def test_page_shows_findings_explanations_svg_and_links(fraud: Imported, clean: Imported) -> None:
    page = browser(fraud, "observer").get(f"/integrity/e/{fraud.election.slug}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="finding-integer" data-flagged="1"' in html
    assert 'id="finding-high-high" data-flagged="1"' in html
    assert "An anomaly is not proof of fraud" in html
    assert "Digit tests are weak signals" in html
    assert '<svg class="fingerprint"' in html and "</svg>" in html
    assert re.search(r'<rect x="[\d.]+" y="[\d.]+" width="6" height="6" fill="#', html)
    first = re.search(r'<tr data-station="([^"]+)"><td>1</td>', html)
    assert first is not None
    assert f'href="/e/{fraud.election.slug}/s/{first.group(1)}/"' in html
    assert 'data-status="ready"' in html
    calm = browser(clean, "observer").get(f"/integrity/e/{clean.election.slug}/").content.decode()
    assert 'id="finding-integer" data-flagged="0"' in calm
    assert 'id="finding-high-high" data-flagged="0"' in calm


def test_plots_are_png_from_the_forensics_helpers(fraud: Imported) -> None:
    client = browser(fraud, "observer")
    for name in ("fingerprint", "integer", "digits-cast"):
        response = client.get(f"/integrity/e/{fraud.election.slug}/plots/{name}.png")
        assert response.status_code == 200, name
        assert response["Content-Type"] == "image/png"
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert client.get(f"/integrity/e/{fraud.election.slug}/plots/nope.png").status_code == 404
