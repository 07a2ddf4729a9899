"""Protocols through the JSON API: totals equal the simulator's files; every kind of bad
input gets a 4xx with a code and leaves the database unchanged; idempotency; concurrency."""

from __future__ import annotations

import csv
import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from secki.bundle.read import read_bundle
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from secki.ledger.chain import verify
from secki.ledger.models import LedgerEntry
from secki.protocols.models import Protocol, ProtocolEvent, ProtocolValue
from secki.results.tabulate import Tabulation
from secki.simulator import SimulationConfig, simulate, write_bundle
from tests.factories import PROTOCOLS, write_small_bundle
from tests.personas import Persona, make_personas

pytestmark = pytest.mark.django_db


def register_only(directory: Path, **settings: Any) -> Election:
    bundle = read_bundle(directory)
    election = import_bundle(dataclasses.replace(bundle, turnout=[], protocols=[]))
    for key, value in settings.items():
        setattr(election, key, value)
    election.save()
    return election


def values_of(row: list[Any], columns: list[str]) -> dict[str, Any]:
    return {c: v for c, v in zip(columns[1:], row[1:], strict=True) if v not in (None, "")}


COLUMNS = [
    "station",
    "L1",
    "L1a",
    "L1b",
    "L1c",
    "L1d",
    "L2",
    "L3",
    "L5",
    "L6",
    "L7",
    "L8",
    "L9",
    "L12",
    "L13",
    "L14",
    "L15a",
    "L15b",
    "L16",
    "L17",
    "C1",
    "C2",
    "C3",
]


def post(client: Client, url: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def state() -> tuple[int, ...]:
    return (
        Protocol.objects.count(),
        ProtocolValue.objects.count(),
        ProtocolEvent.objects.count(),
        LedgerEntry.objects.count(),
    )


@pytest.fixture
def small(tmp_path: Path) -> tuple[Election, dict[str, Persona]]:
    election = register_only(write_small_bundle(tmp_path / "small"))
    return election, make_personas(election)


def test_simulated_election_through_the_api_equals_the_files(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    # 60 stations in 3 constituencies: every constituency sum is checked as well
    write_bundle(simulate(SimulationConfig(seed=7, stations=60, constituencies=3)), out)
    election = register_only(out)
    cec = make_personas_for_sim(election)
    client = cec.client()
    with (out / "protocols.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    url = f"/api/v1/elections/{election.slug}/protocols"
    for row in rows:
        # counts as JSON numbers, the completion time L17 as an ISO 8601 text
        values = {
            k: v if k == "L17" else int(v) for k, v in row.items() if k != "station" and v != ""
        }
        response = post(client, url, {"station": row["station"], "values": values})
        assert response.status_code == 201, response.content
    # national, every constituency and every station equal the file's sums
    tab = Tabulation(election)
    expected: dict[str, dict[str, int]] = {}
    unit_of = {s.code: s.unit.code for s in election.stations.select_related("unit")}
    for row in rows:
        for scope in ("national", unit_of[row["station"]]):
            sums = expected.setdefault(scope, {})
            for key, value in row.items():
                if key not in ("station", "L17") and value != "":
                    sums[key] = sums.get(key, 0) + int(value)
    assert tab.result().totals.lines == expected["national"]
    constituencies = election.units.filter(kind="constituency")
    assert constituencies.count() == 3
    for unit in constituencies:
        assert tab.result(unit).totals.lines == expected.get(unit.code, {}), unit.code
    api = Client().get(f"/api/v1/elections/{election.slug}/results").json()
    assert api["stations_reported"] == len(rows)
    assert api["lines"] == expected["national"]
    for row in rows[:10]:
        station = (
            Client()
            .get(f"/api/v1/elections/{election.slug}/results/stations/{row['station']}")
            .json()
        )
        assert station["values"] == {
            k: int(v) for k, v in row.items() if k not in ("station", "L17") and v != ""
        }
    assert verify().ok


def make_personas_for_sim(election: Election) -> Persona:
    from django.contrib.auth import get_user_model

    from secki.accounts.models import ApiToken, Membership, Role

    user = get_user_model().objects.create_user(username="cec-sim")
    Membership.objects.create(user=user, election=election, role=Role.CEC_ADMIN)
    return Persona("cec", user, ApiToken.issue(user, "sim")[1])


def good(station: str = "1-1") -> dict[str, Any]:
    row = next(r for r in PROTOCOLS if r[0] == station)
    return {"station": station, "values": values_of(row, COLUMNS)}


def spoiled(field: str, value: Any, station: str = "1-1") -> dict[str, Any]:
    body = good(station)
    body["values"][field] = value
    return body


BAD: list[tuple[str, str, dict[str, Any], int, str, str]] = [
    # id, persona, body, status, code, text in message
    # what the schema forbids (a count is a JSON integer 0 ≤ n < 10,000,000): 400 naming it
    ("non-integer", "cec", spoiled("L5", "6x0"), 400, "invalid_request", "values.L5"),
    ("digit string", "cec", spoiled("L5", "640"), 400, "invalid_request", "values.L5"),
    ("float", "cec", spoiled("C1", 12.5), 400, "invalid_request", "values.C1"),
    ("negative", "cec", spoiled("C2", -4), 400, "invalid_request", "values.C2"),
    ("boolean", "cec", spoiled("C2", True), 400, "invalid_request", "values.C2"),
    ("null", "cec", spoiled("L9", None), 400, "invalid_request", "values.L9"),
    ("blank station", "cec", {**good(), "station": " "}, 400, "missing_station", "station"),
    # what only the election's protocol form says: 422 naming the line
    (
        "instant in a count line",
        "cec",
        spoiled("L5", "2024-02-07T21:30"),
        422,
        "invalid_value",
        "L5",
    ),
    ("count in a datetime line", "cec", spoiled("L17", 2024), 422, "invalid_value", "L17"),
    ("missing line", "cec", {"station": "1-1", "values": {"L1": 1000}}, 422, "missing_line", "L2"),
    ("unknown line", "cec", spoiled("L99", 1), 422, "unknown_line", "L99"),
    ("unknown candidate", "cec", spoiled("C4", 1), 422, "unknown_candidate", "C4"),
    ("unknown station", "cec", {**good(), "station": "9-9"}, 422, "unknown_station", "9-9"),
    ("hard check", "cec", spoiled("L14", 1), 422, "hard_check_failed", "AZ-5"),
    ("mobile box without act", "cec", spoiled("L6", 0), 422, "hard_check_failed", "AZ"),
    ("wrong role", "observer", good(), 403, "forbidden_role", "enter_protocol"),
    ("wrong role supervisor", "supervisor", good(), 403, "forbidden_role", "enter_protocol"),
    ("no role", "outsider", good(), 403, "forbidden_role", "enter_protocol"),
    ("wrong territory station", "st11", good("1-2"), 403, "forbidden_territory", "1-2"),
    ("wrong territory constituency", "con1", good("2-1"), 403, "forbidden_territory", "2-1"),
    ("malformed body", "cec", {"station": "1-1"}, 400, "invalid_request", "values"),
]


@pytest.mark.parametrize(
    ("persona", "body", "status", "code", "text"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_api_input_is_refused_and_nothing_stored(
    small: tuple[Election, dict[str, Persona]],
    persona: str,
    body: dict[str, Any],
    status: int,
    code: str,
    text: str,
) -> None:
    election, people = small
    before = state()
    response = post(people[persona].client(), f"/api/v1/elections/{election.slug}/protocols", body)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert text in error["message"]
    assert state() == before


def test_other_election_closed_election_and_anonymous(
    small: tuple[Election, dict[str, Persona]], tmp_path: Path
) -> None:
    election, people = small
    other = register_only(write_small_bundle(tmp_path / "other", slug="other-2024"))
    other.stations.filter(code="1-1").update(code="7-7")
    before = state()
    cec = people["cec"].client()
    response = post(
        cec, f"/api/v1/elections/{election.slug}/protocols", {**good(), "station": "7-7"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "other_election"
    assert "other-2024" in response.json()["error"]["message"]
    response = post(Client(), f"/api/v1/elections/{election.slug}/protocols", good())
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    response = post(
        Client(HTTP_AUTHORIZATION="Bearer secki_nonsense"),
        f"/api/v1/elections/{election.slug}/protocols",
        good(),
    )
    assert response.status_code == 401
    election.status = "closed"
    election.save()
    response = post(cec, f"/api/v1/elections/{election.slug}/protocols", good())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "election_closed"
    response = post(cec, "/api/v1/elections/nope/protocols", good())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert state() == before


def test_duplicate_and_conflicting_second_submission(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    election, people = small
    cec = people["cec"].client()
    url = f"/api/v1/elections/{election.slug}/protocols"
    assert post(cec, url, good()).status_code == 201
    before = state()
    response = post(cec, url, good())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate"
    response = post(cec, url, spoiled("L2", 4))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_accepted"
    assert state() == before


def test_idempotency_key_returns_the_first_answer(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    election, people = small
    cec = people["cec"].client()
    url = f"/api/v1/elections/{election.slug}/protocols"
    first = post(cec, url, good(), HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == 201
    before = state()
    again = post(cec, url, good(), HTTP_IDEMPOTENCY_KEY="abc-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert state() == before
    reused = post(cec, url, good("1-2"), HTTP_IDEMPOTENCY_KEY="abc-1")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert state() == before


def test_act_lifts_the_mobile_box_check_and_is_recorded(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    election, people = small
    body = spoiled("L12", 16)  # 16 ballots in the mobile box, 15 issued: AZ-2
    body["values"]["L13"] = body["values"]["L13"] - 1
    url = f"/api/v1/elections/{election.slug}/protocols"
    response = post(people["cec"].client(), url, body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "act_required"
    body["act"] = "PEC act No. 3 of 7 Feb: 16 ballots in the mobile box, 15 issued; all invalid"
    response = post(people["cec"].client(), url, body)
    assert response.status_code == 201, response.content
    protocol = Protocol.objects.get(station__code="1-1")
    assert protocol.decision_ref.startswith("PEC act No. 3")
    assert ProtocolEvent.objects.filter(protocol=protocol, kind="act_recorded").exists()
    # the act is on the record (decision_ref, the event); the public log has the values
    entry = LedgerEntry.objects.latest("seq")
    assert entry.kind == "protocol.accepted" and json.loads(entry.body)["lines"]["L12"] == 16


@pytest.mark.django_db(transaction=True)
def test_parallel_identical_submissions_make_one_version(tmp_path: Path) -> None:
    election = register_only(write_small_bundle(tmp_path / "p"))
    people = make_personas(election)
    url = f"/api/v1/elections/{election.slug}/protocols"
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def submit(key: str | None) -> None:
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        try:
            barrier.wait()
            response = post(people["cec"].client(), url, good(), **headers)
            statuses.append(response.status_code)
        finally:
            connection.close()

    for key in (None, "same-key"):
        statuses.clear()
        Protocol.objects.all().delete()
        threads = [threading.Thread(target=submit, args=(key,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert Protocol.objects.filter(station__code="1-1").count() == 1
        if key is None:
            assert sorted(statuses) == [201, 409]
        else:  # the retry with the same key gets the first answer, not an error
            assert statuses == [201, 201]
    assert verify().ok
