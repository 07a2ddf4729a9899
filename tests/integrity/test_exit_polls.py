"""Exit polls compared with the official result: the spec vector (n = 2,000 in 100 stations,
ρ = 0.05, p̂ = 0.939 against 0.9212 → deff 1.95, SE 0.00747, z −2.38), the caveat, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.bundle.read import read_bundle
from secki.bundle.write import write_table
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from secki.integrity.models import ExitPoll
from secki.protocol_schema import ProtocolSchema
from tests.factories import protocol, write_small_bundle
from tests.personas import Persona, make_personas

pytestmark = pytest.mark.django_db

# Testland's four stations with 2,303 of 2,500 valid votes for candidate 1: 92.12 %
ROWS = [
    protocol("1-1", 1000, 800, [700, 30, 20], 10),
    protocol("1-2", 800, 650, [560, 20, 20], 5),
    protocol("2-1", 1200, 1000, [863, 50, 37], 10),
    protocol("2-2", 300, 220, [180, 10, 10], 3),
]


@pytest.fixture
def testland(tmp_path: Path) -> tuple[Election, dict[str, Persona]]:
    directory = write_small_bundle(tmp_path / "bundle")
    columns = ["station", *ProtocolSchema.builtin().columns(3)]
    write_table(directory / "protocols.csv", columns, ROWS)
    election = import_bundle(read_bundle(directory))
    return election, make_personas(election)


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


VECTOR = {
    "organisation": "Exit Poll Org",
    "stations": 100,
    "respondents": 2000,
    "rho": 0.05,
    "estimates": {"C1": 0.939},
}


def test_exit_poll_z_matches_the_spec_vector(testland: Any) -> None:
    election, people = testland
    url = f"/api/v1/elections/{election.slug}/exit-polls"
    response = post(people["observer"].client(), url, VECTOR)
    assert response.status_code == 201, response.content
    row = response.json()["comparison"][0]
    assert row["candidate"] == "C1"
    assert row["official"] == pytest.approx(0.9212, abs=1e-12)
    assert row["deff"] == pytest.approx(1.95)
    assert round(row["se"], 5) == 0.00747
    assert round(row["z"], 2) == -2.38
    assert row["consistent"] is True  # within 2.58 at 99 %
    assert "non-response" in row["caveat"]

    # the same poll stated with its design effect instead of rho
    stated = {**VECTOR, "organisation": "Deff Org", "design_effect": 1.95}
    del stated["rho"]
    other = post(people["cec"].client(), url, stated).json()["comparison"][0]
    assert other["z"] == pytest.approx(row["z"])
    assert other["se"] == pytest.approx(row["se"])

    listing = Client()
    listing.force_login(people["observer"].user)
    page = listing.get(f"/integrity/e/{election.slug}/exit-polls/").content.decode()
    assert "non-response and selection bias" in page
    assert "−2.38" in page or "-2.38" in page
    body = people["observer"].client().get(url).json()
    assert body["official_complete"] is True
    assert [p["organisation"] for p in body["exit_polls"]] == ["Exit Poll Org", "Deff Org"]
    assert "non-response" in body["caveat"]


def test_exit_poll_form_takes_percentages(testland: Any) -> None:
    election, people = testland
    browser = Client()
    browser.force_login(people["observer"].user)
    form = {
        "organisation": "Form Org",
        "stations": "100",
        "respondents": "2000",
        "rho": "0,05",
        "C1": "93.9",
        "C2": "3",
    }
    assert browser.post(f"/integrity/e/{election.slug}/exit-polls/", form).status_code == 302
    poll = ExitPoll.objects.get(organisation="Form Org")
    assert poll.estimates == {"C1": pytest.approx(0.939), "C2": pytest.approx(0.03)}
    assert poll.rho == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"rho": None}, 422, "missing_value"),
        ({"design_effect": 1.5}, 422, "invalid_value"),
        # what the schema says (a number in [0, 1], an integer): 400, naming the field
        ({"rho": 1.5}, 400, "invalid_request"),
        ({"rho": "x"}, 400, "invalid_request"),
        ({"respondents": 50}, 422, "out_of_range"),
        ({"stations": "ten"}, 400, "invalid_request"),
        ({"estimates": {"C1": 1.2}}, 400, "invalid_request"),
        ({"estimates": {"C1": 0.7, "C2": 0.5}}, 422, "estimates_above_total"),
        ({"estimates": {"C9": 0.5}}, 422, "unknown_candidate"),
        ({"estimates": {}}, 422, "missing_value"),
        ({"organisation": ""}, 422, "missing_value"),
    ],
)
def test_bad_exit_polls_get_a_code_and_store_nothing(
    testland: Any, change: dict[str, Any], status: int, code: str
) -> None:
    election, people = testland
    body = {**VECTOR, **change}
    response = post(
        people["observer"].client(), f"/api/v1/elections/{election.slug}/exit-polls", body
    )
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert not ExitPoll.objects.exists()


def test_only_observers_and_the_cec_register_exit_polls(testland: Any) -> None:
    election, people = testland
    url = f"/api/v1/elections/{election.slug}/exit-polls"
    for who in ("supervisor", "con1", "outsider"):
        response = post(people[who].client(), url, VECTOR)
        assert response.status_code == 403, who
        assert response.json()["error"]["code"] == "forbidden_role"
    assert post(Client(), url, VECTOR).status_code == 401
    assert not ExitPoll.objects.exists()
