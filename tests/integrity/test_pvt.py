"""PVT samples drawn from a public seed, observers' counts (API and form), the estimate against
secki.stats.pvt_estimate, the verdict against the official results, and bad input."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from secki.integrity.models import ObserverGroup, PvtCount, PvtSample, PvtStation
from secki.ledger.models import LedgerEntry
from secki.simulator import SimulationConfig
from secki.stats import (
    ndi_sample_size,
    proportional_allocation,
    pvt_estimate,
    stratified_sample,
    ticket,
)
from tests.integrity.conftest import Imported, import_simulated, module_transaction

pytestmark = pytest.mark.django_db

SEED = "2024-02-01 lottery 17 42 08 33 91"
SIZE = 100
CANDIDATES = [f"C{n}" for n in range(1, 8)]


@pytest.fixture(scope="module")
def sim(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[Imported]:
    with module_transaction(django_db_blocker):
        yield import_simulated(
            tmp_path_factory.mktemp("pvt"), SimulationConfig(stations=600, seed=11)
        )


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def protocols(imported: Imported) -> dict[str, dict[str, int]]:
    with (imported.directory / "protocols.csv").open() as handle:
        return {
            row["station"]: {k: int(v) for k, v in row.items() if v and k[0] in "LC" and k != "L17"}
            for row in csv.DictReader(handle)
        }


def honest(row: dict[str, int], station: str) -> dict[str, Any]:
    """What an observer copies from the station's protocol (az-presidential roles)."""
    return {
        "station": station,
        "registered": row["L1"],
        "participants": row["L5"] + row["L6"],
        "valid": row["L14"],
        "votes": {c: row[c] for c in CANDIDATES},
    }


def register(imported: Imported, who: str = "observer", **body: Any) -> Any:
    payload = {"group": "Citizens for Fair Counts", "contact": "pvt@example.org"}
    payload.update(body)
    return post(
        imported.people[who].client(), f"/api/v1/elections/{imported.election.slug}/pvt", payload
    )


def expected_sample(imported: Imported, seed: str, n: int) -> set[str]:
    """The draw redone from the published rule with nothing but secki.stats and the bundle."""
    units = imported.station_units()
    codes = list(units)
    sizes = dict(Counter(units.values()))
    allocation = {h: min(sizes[h], max(2, a)) for h, a in proportional_allocation(sizes, n).items()}
    drawn = stratified_sample(codes, [units[c] for c in codes], allocation, seed=seed)
    return {str(c) for picked in drawn.values() for c in picked}


def test_sample_is_reproducible_from_the_published_seed(sim: Imported) -> None:
    response = register(sim, method="seed", seed=SEED, size=SIZE)
    assert response.status_code == 201, response.content
    body = response.json()
    codes = set(body["stations"])
    assert codes == expected_sample(sim, SEED, SIZE)
    assert len(codes) >= SIZE and set(body["allocation"]) == set(sim.station_units().values())
    assert all(n >= 2 for n in body["allocation"].values())
    sample = PvtSample.objects.get(pk=body["id"])
    for row in PvtStation.objects.filter(sample=sample).select_related("station"):
        assert row.ticket == ticket(SEED, row.station.code, 1)
        assert row.stratum == sim.station_units()[row.station.code]
    digest = hashlib.sha256("\n".join(sorted(codes)).encode()).hexdigest()
    assert body["digest"] == digest
    entry = LedgerEntry.objects.get(kind="integrity.pvt_sample", election=sim.election)
    logged = json.loads(entry.body)
    assert (logged["seed"], logged["digest"], logged["stations"]) == (SEED, digest, len(codes))

    # another group drawing with the same seed through the page gets the same stations
    cec = Client()
    cec.force_login(sim.people["cec"].user)
    page = cec.post(
        f"/integrity/e/{sim.election.slug}/pvt/",
        {
            "group": "Second Group",
            "contact": "b@example.org",
            "method": "seed",
            "seed": SEED,
            "size": str(SIZE),
        },
    )
    assert page.status_code == 302
    again = PvtSample.objects.get(group__name="Second Group")
    assert set(again.stations.values_list("station__code", flat=True)) == codes
    # a different seed, a different sample
    assert expected_sample(sim, SEED + "!", SIZE) != codes

    # a group registers one sample per election: the second attempt stores nothing
    before = (PvtSample.objects.count(), PvtStation.objects.count(), LedgerEntry.objects.count())
    dup = register(sim, method="seed", seed="other", size=50)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "sample_exists"
    after = (PvtSample.objects.count(), PvtStation.objects.count(), LedgerEntry.objects.count())
    assert after == before


def test_sample_size_from_a_margin_and_the_ndi_helper(sim: Imported) -> None:
    registered = sum(sim.election.stations.values_list("registered", flat=True))
    per_station = registered / 600
    helper = (
        sim.people["observer"]
        .client()
        .get(f"/api/v1/elections/{sim.election.slug}/pvt/sample-size?margin=0.02")
    )
    assert helper.status_code == 200
    expected = ndi_sample_size(registered, 0.02, z=2.58, voters_per_station=per_station)
    assert helper.json()["sizes"][0]["stations"] == expected.stations
    assert helper.json()["sizes"][0]["voters"] == expected.voters
    response = register(sim, group="Margin Group", method="seed", seed="m", margin=0.02)
    assert response.status_code == 201, response.content
    assert set(response.json()["stations"]) == expected_sample(sim, "m", expected.stations or 0)
    browser = Client()
    browser.force_login(sim.people["observer"].user)
    page = browser.get(f"/integrity/e/{sim.election.slug}/pvt/").content.decode()
    assert 'id="sizes"' in page and f"{expected.stations:,}" in page


def test_imported_sample_and_its_bad_lists(sim: Imported) -> None:
    before = (PvtSample.objects.count(), PvtStation.objects.count(), ObserverGroup.objects.count())
    for codes, code in (
        (["1-1", "1-2", "1-1"], "duplicate_station"),
        (["1-1", "nope-7"], "unknown_station"),
        (["1-1"], "missing_value"),
    ):
        bad = register(sim, group="Import Group", method="import", stations=codes)
        assert bad.status_code == 422, codes
        assert bad.json()["error"]["code"] == code
    # what the schema says (a list of codes, one of the methods, an integer): 400
    for change in ({"stations": 42}, {"method": "lottery"}, {"size": "ten"}, {"size": 2.5}):
        bad = register(sim, group="G", **{"method": "import", "seed": "s", **change})
        assert bad.status_code == 400, change
        assert bad.json()["error"]["field"].startswith(next(iter(change)))
    assert register(sim, group="G", method="seed", size=5).json()["error"]["code"] == (
        "missing_value"
    )
    assert register(sim, group="G", method="seed", seed="s", size=99999).status_code == 422
    assert register(sim, who="supervisor", group="G", seed="s", size=10).status_code == 403
    assert register(sim, who="outsider", group="G", seed="s", size=10).status_code == 403
    anonymous = {"group": "G", "seed": "s", "size": 10}
    url = f"/api/v1/elections/{sim.election.slug}/pvt"
    assert post(Client(), url, anonymous).status_code == 401
    after = (PvtSample.objects.count(), PvtStation.objects.count(), ObserverGroup.objects.count())
    assert after == before
    ok = register(sim, group="Import Group", method="import", stations="1-1, 1-2\n2-1 2-2")
    assert ok.status_code == 201
    assert sorted(ok.json()["stations"]) == ["1-1", "1-2", "2-1", "2-2"]
    assert ok.json()["seed"] is None and ok.json()["method"] == "import"


def enter(client: Client, slug: str, sample_id: int, body: dict[str, Any]) -> Any:
    return post(client, f"/api/v1/elections/{slug}/pvt/{sample_id}/counts", body)


def test_estimate_equals_pvt_estimate_and_the_verdict_follows_the_counts(sim: Imported) -> None:
    slug = sim.election.slug
    sample_id = register(sim, method="seed", seed=SEED, size=SIZE).json()["id"]
    sample = PvtSample.objects.get(pk=sample_id)
    strata = dict(sample.stations.values_list("station__code", "stratum"))
    rows = protocols(sim)
    client = sim.people["observer"].client()
    order = sorted(strata)

    # a few counts in: an estimate already, small constituencies collapsed, and said so
    for code in order[:12]:
        assert enter(client, slug, sample_id, honest(rows[code], code)).status_code == 201
    early = client.get(f"/api/v1/elections/{slug}/pvt/{sample_id}").json()
    assert early["reported"] == 12 and early["sampled"] == len(order)
    assert early["estimates"]["C1"]["margin"] > 0
    assert early["estimate_error"] is None and early["verdict"] is not None
    assert any("fewer than two reported stations" in note for note in early["notes"])

    for code in order[12:]:
        assert enter(client, slug, sample_id, honest(rows[code], code)).status_code == 201
    body = client.get(f"/api/v1/elections/{slug}/pvt/{sample_id}").json()
    assert body["reported"] == body["sampled"] == len(order) and body["notes"] == []

    x = [rows[c]["L14"] for c in order]
    y = {k: [rows[c][k] for c in order] for k in CANDIDATES}
    direct = pvt_estimate(x, y, stratum_sizes=sample.frame, strata=[strata[c] for c in order])
    for k in CANDIDATES:
        mine = body["estimates"][k]
        assert mine["estimate"] == pytest.approx(direct.estimates[k].estimate, rel=1e-12)
        assert mine["se"] == pytest.approx(direct.estimates[k].se, rel=1e-12)
        assert mine["margin"] == pytest.approx(2.58 * direct.estimates[k].se, rel=1e-12)
    turnout = pvt_estimate(
        [rows[c]["L1"] for c in order],
        {"turnout": [rows[c]["L5"] + rows[c]["L6"] for c in order]},
        stratum_sizes=sample.frame,
        strata=[strata[c] for c in order],
    )
    assert body["estimates"]["turnout"]["estimate"] == pytest.approx(
        turnout.estimates["turnout"].estimate, rel=1e-12
    )

    # official: the published totals, complete (the bundle's protocols are all published)
    valid = sum(r["L14"] for r in rows.values())
    assert body["official"]["complete"] is True
    assert body["official"]["shares"]["C1"] == pytest.approx(
        sum(r["C1"] for r in rows.values()) / valid
    )
    verdict = body["verdict"]
    assert verdict["consistent"] is True, verdict
    assert all(abs(z) <= 2.58 for z in verdict["z"].values())
    assert set(verdict["z"]) == {*CANDIDATES, "turnout"}

    browser = Client()
    browser.force_login(sim.people["observer"].user)
    page = browser.get(f"/integrity/e/{slug}/pvt/{sample_id}/").content.decode()
    assert 'data-consistent="1"' in page and 'id="estimates"' in page

    # the observers' copies now show 8 % of the leader's votes going to candidate 2: the
    # official results no longer follow from them
    for code in order:
        row = honest(rows[code], code)
        moved = round(0.08 * row["votes"]["C1"])
        row["votes"]["C1"] -= moved
        row["votes"]["C2"] += moved
        row["reason"] = "re-checked against the copy signed by the commission"
        assert enter(client, slug, sample_id, row).status_code == 201
    altered = client.get(f"/api/v1/elections/{slug}/pvt/{sample_id}").json()
    assert altered["verdict"]["consistent"] is False
    found = {name: (direction, z) for name, direction, z in altered["verdict"]["discrepancies"]}
    assert found["C1"][0] == "higher" and found["C1"][1] > 2.58
    assert found["C2"][0] == "lower" and found["C2"][1] < -2.58
    assert "turnout" not in found
    page = browser.get(f"/integrity/e/{slug}/pvt/{sample_id}/").content.decode()
    assert 'data-consistent="0"' in page and "official C1 is higher" in page
    assert PvtCount.objects.filter(sample=sample).count() == 2 * len(order)
    assert PvtCount.objects.filter(sample=sample, is_current=True).count() == len(order)


BAD_COUNTS = [
    # what the schema says (whole numbers 0 … 10,000,000, an object of them): 400
    ({"registered": "12.5"}, 400, "invalid_request", "registered"),
    ({"registered": 12.5}, 400, "invalid_request", "registered"),
    ({"participants": True}, 400, "invalid_request", "participants"),
    ({"valid": "abc"}, 400, "invalid_request", "valid"),
    ({"valid": -3}, 400, "invalid_request", "valid"),
    ({"registered": None}, 400, "invalid_request", "registered"),
    ({"registered": 10_000_001}, 400, "invalid_request", "registered"),
    ({"votes": {"C1": 1.5}}, 400, "invalid_request", "votes.C1"),
    ({"votes": "many"}, 400, "invalid_request", "votes"),
    # what it means: 422
    ({"votes": {"C99": 1}}, 422, "unknown_candidate", "votes.C99"),
    ({"station": "1-1-nope"}, 422, "unknown_station", "station"),
]


def test_bad_counts_get_a_code_and_store_nothing(sim: Imported) -> None:
    slug = sim.election.slug
    sample_id = register(sim, method="seed", seed=SEED, size=SIZE).json()["id"]
    sample = PvtSample.objects.get(pk=sample_id)
    inside = sorted(sample.stations.values_list("station__code", flat=True))
    outside = next(c for c in sim.station_units() if c not in inside)
    rows = protocols(sim)
    good = honest(rows[inside[0]], inside[0])
    client = sim.people["observer"].client()

    def refused(body: dict[str, Any], status: int, code: str, field: str | None) -> None:
        before = PvtCount.objects.count()
        response = enter(client, slug, sample_id, body)
        assert response.status_code == status, (body, response.content)
        error = response.json()["error"]
        assert error["code"] == code, body
        if field is not None:
            assert error["field"] == field
        assert PvtCount.objects.count() == before

    for change, status, code, field in BAD_COUNTS:
        refused({**good, **change}, status, code, field)
    missing = {**good, "votes": {k: v for k, v in good["votes"].items() if k != "C7"}}
    refused(missing, 422, "missing_value", "votes.C7")
    off = {**good, "votes": {**good["votes"], "C1": good["votes"]["C1"] + 1}}
    refused(off, 422, "votes_do_not_add_up", "votes")
    refused({**good, "valid": good["participants"] + 1}, 422, "valid_above_participants", "valid")
    refused(
        {**good, "participants": 2 * good["registered"] + 10},
        422,
        "participants_above_registered",
        "participants",
    )
    refused(honest(rows[outside], outside), 422, "not_in_sample", "station")

    # wrong role: only observers of this election and CEC administrators enter counts
    before = PvtCount.objects.count()
    for who, status in (("supervisor", 403), ("con1", 403), ("st11", 403), ("outsider", 403)):
        response = enter(sim.people[who].client(), slug, sample_id, good)
        assert response.status_code == status, who
        assert response.json()["error"]["code"] == "forbidden_role"
    assert enter(Client(), slug, sample_id, good).status_code == 401
    assert PvtCount.objects.count() == before

    # first entry, the same numbers again (a retry), a different second entry
    assert enter(client, slug, sample_id, good).status_code == 201
    retry = enter(client, slug, sample_id, good)
    assert retry.status_code == 200 and retry.json()["version"] == 1
    changed = {**good, "registered": good["registered"] + 1}
    refused(changed, 409, "already_entered", "reason")
    fixed = enter(sim.people["cec"].client(), slug, sample_id, {**changed, "reason": "typo"})
    assert fixed.status_code == 201 and fixed.json()["version"] == 2
    assert fixed.json()["reason"] == "typo"
    assert PvtCount.objects.filter(sample=sample, station__code=inside[0]).count() == 2

    # the form: errors shown with their code, the typed values kept, nothing stored
    browser = Client()
    browser.force_login(sim.people["observer"].user)
    url = f"/integrity/e/{slug}/pvt/{sample_id}/"
    form = {
        "station": inside[1],
        "registered": "1000",
        "participants": "7OO",
        "valid": "600",
        **dict.fromkeys(CANDIDATES, "0"),
    }
    before = PvtCount.objects.count()
    page = browser.post(url, form)
    assert page.status_code == 422
    html = page.content.decode()
    assert 'data-code="invalid_value"' in html and 'data-field="participants"' in html
    assert 'value="7OO"' in html
    assert PvtCount.objects.count() == before
    second = honest(rows[inside[1]], inside[1])
    form = {
        "station": inside[1],
        "registered": str(second["registered"]),
        "participants": str(second["participants"]),
        "valid": str(second["valid"]),
        **{c: str(v) for c, v in second["votes"].items()},
    }
    assert browser.post(url, form).status_code == 302
    assert PvtCount.objects.get(sample=sample, station__code=inside[1]).valid == second["valid"]
    # the supervisor's browser is refused too
    supervisor = Client()
    supervisor.force_login(sim.people["supervisor"].user)
    assert supervisor.post(url, form).status_code == 403


def test_estimate_before_the_official_results_and_the_verdict_once_they_are_in(
    tmp_path: Any,
) -> None:
    early = import_simulated(
        tmp_path / "early",
        SimulationConfig(stations=120, seed=5, slug="early-2024-simulated"),
        protocols=False,
    )
    slug = early.election.slug
    sample_id = register(early, method="seed", seed="before election day", size=40).json()["id"]
    rows = protocols(early)
    client = early.people["observer"].client()
    sample = PvtSample.objects.get(pk=sample_id)
    for code in sample.stations.values_list("station__code", flat=True):
        assert enter(client, slug, sample_id, honest(rows[code], code)).status_code == 201
    body = client.get(f"/api/v1/elections/{slug}/pvt/{sample_id}").json()
    assert body["estimate_error"] is None
    lead = body["estimates"]["C1"]
    assert 0 < lead["margin"] < 0.05
    assert lead["interval"] == pytest.approx(
        [lead["estimate"] - lead["margin"], lead["estimate"] + lead["margin"]]
    )
    assert body["official"]["complete"] is False and body["verdict"] is None
    browser = Client()
    browser.force_login(early.people["observer"].user)
    page = browser.get(f"/integrity/e/{slug}/pvt/{sample_id}/").content.decode()
    assert "not complete yet (0 of 120 stations published)" in page
    assert 'id="estimates"' in page

    # the official results arrive through the protocol API (published on acceptance)
    cec = early.people["cec"].client()
    with (early.directory / "protocols.csv").open() as handle:
        for row in csv.DictReader(handle):
            values = {
                k: v if k == "L17" else int(v)  # counts as JSON numbers
                for k, v in row.items()
                if k != "station" and v != ""
            }
            response = post(
                cec,
                f"/api/v1/elections/{slug}/protocols",
                {"station": row["station"], "values": values},
            )
            assert response.status_code == 201, response.content
    after = client.get(f"/api/v1/elections/{slug}/pvt/{sample_id}").json()
    assert after["official"]["complete"] is True
    assert after["estimates"] == body["estimates"]
    assert after["verdict"]["consistent"] is True


@pytest.mark.parametrize("field", ["group", "contact", "seed"])
def test_a_nul_character_in_a_text_is_refused_naming_it(sim: Imported, field: str) -> None:
    body: dict[str, Any] = {"method": "seed", "seed": SEED, "size": SIZE}
    body[field] = "Citizens\x00"
    response = register(sim, **body)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_text", field)
    assert not PvtSample.objects.exists()
