"""Turnout API: report (idempotent), errors in the one shape, bulk, summary, tracking, flags."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from secki.elections.models import Election
from secki.turnout.actions import report_turnout
from secki.turnout.models import TurnoutReport
from tests.turnout.conftest import People, counts, station, token

pytestmark = pytest.mark.django_db


def post(path: str, body: dict[str, Any], raw_token: str | None = None, **headers: str) -> Any:
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    if raw_token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {raw_token}"
    return Client().post(path, json.dumps(body), content_type="application/json", **extra)


def get(path: str, raw_token: str | None = None) -> Any:
    extra = {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"} if raw_token else {}
    return Client().get(path, **extra)


def url(election: Election, tail: str) -> str:
    return f"/api/v1/elections/{election.slug}/{tail}"


def test_report_and_read_back(election: Election, people: People) -> None:
    key = token(people.clerk)
    answer = post(
        url(election, "turnout"), {"station": "1-1", "time": "10:00", "voters": 150.0}, key
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert {
        k: body[k] for k in ("station", "time", "voters", "version", "is_current", "reason")
    } == {
        "station": "1-1",
        "time": "10:00",
        "voters": 150,
        "version": 1,
        "is_current": True,
        "reason": "",
    }
    listed = get(url(election, "turnout/1-1")).json()
    assert [(r["time"], r["voters"]) for r in listed] == [("10:00", 150)]


def test_a_retry_with_the_same_key_stores_once(election: Election, people: People) -> None:
    key = token(people.clerk)
    body = {"station": "1-1", "time": "10:00", "voters": 150}
    first = post(url(election, "turnout"), body, key, **{"Idempotency-Key": "abc-1"})
    again = post(url(election, "turnout"), body, key, **{"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert TurnoutReport.objects.count() == 1
    # without the key, the same report again is a duplicate
    third = post(url(election, "turnout"), body, key)
    assert (third.status_code, third.json()["error"]["code"]) == (409, "duplicate")


@pytest.mark.parametrize(
    ("who", "body", "status", "code"),
    [
        ("clerk", {"station": "9-9", "time": "10:00", "voters": 1}, 422, "unknown_station"),
        ("clerk", {"station": "1-1", "time": "10:30", "voters": 1}, 422, "unknown_time"),
        # what the schema forbids (voters: a JSON integer 0 ≤ n < 10,000,000): 400
        ("clerk", {"station": "1-1", "time": "10:00", "voters": "12a"}, 400, "invalid_request"),
        ("clerk", {"station": "1-1", "time": "10:00", "voters": "150"}, 400, "invalid_request"),
        ("clerk", {"station": "1-1", "time": "10:00", "voters": 2.5}, 400, "invalid_request"),
        ("clerk", {"station": "1-1", "time": "10:00", "voters": -1}, 400, "invalid_request"),
        ("clerk", {"station": "1-1", "time": "10:00", "voters": True}, 400, "invalid_request"),
        ("clerk", {"station": "", "time": "10:00", "voters": 1}, 400, "missing_station"),
        ("clerk", {"station": "1-1", "time": "10:00", "voters": 5000}, 422, "above_registered"),
        ("clerk", {"station": "1-1", "time": "10:00"}, 400, "invalid_request"),
        ("clerk", {"station": "1-2", "time": "10:00", "voters": 1}, 403, "forbidden_territory"),
        ("observer", {"station": "1-1", "time": "10:00", "voters": 1}, 403, "forbidden_role"),
        (None, {"station": "1-1", "time": "10:00", "voters": 1}, 401, "not_authenticated"),
    ],
)
def test_refusals_have_one_shape_and_store_nothing(
    election: Election,
    people: People,
    who: str | None,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    stored = counts()
    answer = post(url(election, "turnout"), body, token(getattr(people, who)) if who else None)
    assert answer.status_code == status, answer.content
    error = answer.json()["error"]
    assert error["code"] == code and error["message"]
    assert counts() == stored


def test_a_correction_through_the_api_needs_a_reason(election: Election, people: People) -> None:
    key = token(people.clerk)
    post(url(election, "turnout"), {"station": "1-1", "time": "10:00", "voters": 150}, key)
    stored = counts()
    refused = post(
        url(election, "turnout"), {"station": "1-1", "time": "10:00", "voters": 155}, key
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "reason_required")
    assert refused.json()["error"]["field"] == "reason"
    assert counts() == stored
    ok = post(
        url(election, "turnout"),
        {"station": "1-1", "time": "10:00", "voters": 155, "reason": "wrong key pressed"},
        key,
    )
    assert ok.status_code == 201 and ok.json()["version"] == 2


def test_bulk_upload(election: Election, people: People) -> None:
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token(people.cec)}"}
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile("turnout.csv", b"station,time,voters\n1-1,10:00,150\n1-2,10:00,9000\n")
    stored = counts()
    refused = client.post(url(election, "turnout-bulk"), {"file": bad}, **auth)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_file"
    assert [(d["line"], d["code"]) for d in error["details"]] == [(3, "above_registered")]
    assert counts() == stored
    good = SimpleUploadedFile("turnout.csv", b"station,time,voters\n1-1,10:00,150\n1-2,10:00,90\n")
    answer = client.post(url(election, "turnout-bulk"), {"file": good}, **auth)
    assert answer.status_code == 201, answer.content
    assert answer.json() == {
        "election": election.slug,
        "accepted": 2,
        "reported": 2,
        "corrected": 0,
    }


def test_summary_is_public(election: Election, people: People) -> None:
    report_turnout(election, station(election, "1-1"), "10:00", 150, actor=people.cec)
    body = get(url(election, "turnout-summary")).json()
    ten = body["reports"][0]
    assert (ten["time"], ten["voters"], ten["stations_reporting"], ten["turnout"]) == (
        "10:00",
        150,
        1,
        15.0,
    )
    assert [c["unit"]["code"] for c in body["children"]] == ["1", "2"]
    north = get(url(election, "turnout-summary?unit=1")).json()
    assert north["unit"]["code"] == "1" and north["reports"][0]["voters"] == 150
    missing = get(url(election, "turnout-summary?unit=nope"))
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


def test_missing_stations_for_reporting_staff(election: Election, people: People) -> None:
    report_turnout(election, station(election, "1-1"), "19:00", 700, actor=people.cec)
    body = get(url(election, "turnout-missing?time=19:00"), token(people.north)).json()
    assert body["time"] == "19:00" and body["missing"] == 1
    assert body["stations"][0]["station"] == "1-2"  # constituency 1 only; 1-1 has reported
    everything = get(url(election, "turnout-missing"), token(people.cec)).json()
    assert everything["time"] == "19:00"  # that election day is over: its last report time
    assert [s["station"] for s in everything["stations"]] == ["1-2", "2-1", "2-2"]
    clerk_view = get(url(election, "turnout-missing?time=10:00"), token(people.clerk)).json()
    assert [s["station"] for s in clerk_view["stations"]] == ["1-1"]
    assert clerk_view["stations"][0]["operators"] == ["clerk@example.org"]
    assert get(url(election, "turnout-missing"), token(people.observer)).status_code == 403
    assert get(url(election, "turnout-missing")).status_code == 401
    # the report times are the election's: another is refused for what it means
    bad = get(url(election, "turnout-missing?time=11:00"), token(people.cec))
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "unknown_time")
    assert bad.json()["error"]["field"] == "time"


def test_anomaly_flags_as_json_and_csv(election: Election, people: People) -> None:
    report_turnout(election, station(election, "2-2"), "19:00", 310, actor=people.cec)
    body = get(url(election, "turnout-anomalies"), token(people.observer)).json()
    assert body["counts"]["above_100"] == 1
    assert [(f["station"], f["kind"], f["time"]) for f in body["flags"]] == [
        ("2-2", "above_100", "19:00")
    ]
    assert body["settings"] == {"jump": 15.0, "k": 3.0}
    csv_answer = get(url(election, "turnout-anomalies?format=csv"), token(people.observer))
    assert csv_answer["Content-Type"].startswith("text/csv")
    assert csv_answer.content.decode().splitlines()[1].startswith("2-2,Station 2,2,300,above_100,")
    # a constituency operator of constituency 1 sees its own stations' flags only
    assert get(url(election, "turnout-anomalies"), token(people.north)).json()["flags"] == []
    assert get(url(election, "turnout-anomalies?kind=bogus"), token(people.cec)).status_code == 400
    assert get(url(election, "turnout-anomalies?jump=0"), token(people.cec)).status_code == 400
    assert get(url(election, "turnout-anomalies"), token(people.outsider)).status_code == 403
    assert get(url(election, "turnout-anomalies")).status_code == 401
