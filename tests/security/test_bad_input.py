"""Issue 12, Low items of the intake: each answered 500 (nothing was stored) and now gets a 4xx
that names the field or rule, with nothing stored.

* NUL characters in ``station``, ``reason`` or ``act`` (PostgreSQL cannot store or compare
  them): 422 naming the field; text that is not valid Unicode (a lone surrogate from a JSON
  escape): 400 naming the field, by the request's schema;
* a protocol's completion time outside the range of dates and times (``_utc`` overflowed);
* counts ≥ 2^63 (the count bounds: tests/security/test_count_bounds.py has every path);
* a NUL character in a ``/data/`` path (404, not 500);
* reason texts longer than their column (2 MB were stored on SQLite; 500 on PostgreSQL): the
  column's length is the request schema's, so 400 naming the field;
* publishing in a closed election (409, as every other write).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.elections.models import Election
from secki.ledger.models import LedgerEntry
from secki.opendata import files, snapshots
from secki.protocols.models import Protocol, ProtocolEntry, ProtocolEvent, ProtocolValue
from secki.turnout.actions import report_turnout
from secki.turnout.models import TurnoutReport
from tests.factories import PROTOCOLS, write_small_bundle
from tests.personas import Persona, make_personas
from tests.protocols.test_api import COLUMNS, register_only, values_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def election(tmp_path: Path) -> Election:
    """Testland with 2-2's protocol accepted but not published (the election does not publish
    automatically), and 1-1's turnout at 10:00 reported; 1-1 waits for its protocol."""
    return register_only(write_small_bundle(tmp_path), auto_publish=False)


@pytest.fixture
def people(election: Election) -> dict[str, Persona]:
    people = make_personas(election)
    response = post(people["cec"], election, "protocols", {"station": "2-2", "values": row("2-2")})
    assert response.status_code == 201, response.content
    report_turnout(
        election, election.stations.get(code="1-1"), "10:00", 150, actor=people["cec"].user
    )
    return people


def row(code: str, **changes: Any) -> dict[str, Any]:
    values = values_of(next(r for r in PROTOCOLS if r[0] == code), COLUMNS)
    values.update(changes)
    return values


def post(persona: Persona, election: Election, path: str, body: Any) -> Any:
    return persona.client().post(
        f"/api/v1/elections/{election.slug}/{path}",
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
    )


def state() -> tuple[int, ...]:
    return tuple(
        m.objects.count()
        for m in (Protocol, ProtocolValue, ProtocolEvent, ProtocolEntry, LedgerEntry, TurnoutReport)
    )


def refused(response: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert error.get("field") == field, error
    return error


NUL = "a\x00b"
SURROGATE = '"\\ud800"'  # a lone surrogate, as JSON escapes it


# -- NUL and invalid Unicode ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["nul", "surrogate"])
@pytest.mark.parametrize(
    ("persona", "path", "field", "body"),
    [
        ("st11", "protocols", "station", {"station": "TEXT", "values": row("1-1")}),
        ("st11", "protocols", "act", {"station": "1-1", "values": row("1-1"), "act": "TEXT"}),
        ("st11", "protocols-check", "station", {"station": "TEXT", "values": row("1-1")}),
        (
            "cec",
            "protocols/2-2/amend",
            "reason",
            {"values": row("2-2", L9=21), "reason": "TEXT"},
        ),
        (
            "cec",
            "protocols/2-2/amend",
            "act",
            {"values": row("2-2", L9=21), "reason": "recount", "act": "TEXT"},
        ),
        ("supervisor", "protocols/2-2/resolve", "reason", {"values": row("2-2"), "reason": "TEXT"}),
        ("cec", "protocols/2-2/annul", "decision_ref", {"decision_ref": "TEXT"}),
        ("cec", "protocols/2-2/annul", "reason", {"decision_ref": "D-1", "reason": "TEXT"}),
        ("st11", "turnout", "station", {"station": "TEXT", "time": "12:00", "voters": 300}),
        (
            "st11",
            "turnout",
            "reason",
            {"station": "1-1", "time": "10:00", "voters": 160, "reason": "TEXT"},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_nul_and_invalid_unicode_are_refused_naming_the_field(
    election: Election,
    people: dict[str, Persona],
    persona: str,
    path: str,
    field: str,
    body: dict[str, Any],
    text: str,
) -> None:
    before = state()
    raw = json.dumps(body).replace('"TEXT"', json.dumps(NUL) if text == "nul" else SURROGATE)
    response = post(people[persona], election, path, raw)
    if text == "nul":
        error = refused(response, 422, "invalid_text", field)
        assert error["message"].startswith(f"{field}: contains a NUL character or invalid Unicode")
    else:  # a lone surrogate is no Unicode string: the request's schema refuses it
        error = refused(response, 400, "invalid_request", field)
        assert error["message"].startswith(f"{field}: Input should be a valid string")
    assert state() == before


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "protocols/1-1%00x"),
        ("post", "protocols/1-1%00x/amend"),
        ("post", "protocols/1-1%00x/resolve"),
        ("post", "protocols/1-1%00x/annul"),
        ("post", "protocols/1-1%00x/publish"),
        ("get", "turnout/1-1%00x"),
    ],
)
def test_a_nul_in_a_station_or_unit_of_the_url_is_not_found(
    election: Election, people: dict[str, Persona], method: str, url: str
) -> None:
    before = state()
    client = people["cec"].client()
    target = f"/api/v1/elections/{election.slug}/{url}"
    if method == "get":
        response = client.get(target)
    else:
        body = {"values": row("1-1"), "reason": "r", "decision_ref": "D-1"}
        response = client.post(target, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert state() == before


@pytest.mark.parametrize("url", ["turnout-summary", "turnout-missing", "turnout-anomalies"])
def test_a_nul_in_a_query_parameter_is_refused_naming_it(
    election: Election, people: dict[str, Persona], url: str
) -> None:
    """secki.textguard answers before the view: 400 in the API's shape, naming the parameter."""
    target = f"/api/v1/elections/{election.slug}/{url}?unit=1%00"
    response = people["cec"].client().get(target)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_request", "unit")


def test_a_nul_in_the_forms_is_refused(election: Election, people: dict[str, Persona]) -> None:
    """The entry form's station, the amend form's reason and act, the annul form's decision,
    the turnout phone form's reason and its station in the URL."""
    before = state()
    operator, chair = Client(), Client()
    operator.force_login(people["st11"].user)
    chair.force_login(people["cec"].user)
    form = {k: str(v) for k, v in row("1-1").items()} | {"L17": "2024-02-07T21:30"}
    response = operator.post(f"/staff/e/{election.slug}/protocol/", {**form, "station": NUL})
    assert (response.status_code, response.context["problem"].field) == (422, "station")
    changed = {k: str(v) for k, v in row("2-2", L9=21).items()} | {"L17": "2024-02-07T21:30"}
    for extra, field in [({"reason": NUL}, "reason"), ({"reason": "r", "act": NUL}, "act")]:
        response = chair.post(f"/staff/e/{election.slug}/stations/2-2/amend/", {**changed, **extra})
        assert (response.status_code, response.context["problem"].field) == (422, field)
    response = chair.post(f"/staff/e/{election.slug}/stations/2-2/annul/", {"decision_ref": NUL})
    assert (response.status_code, response.context["problem"].field) == (422, "decision_ref")
    response = operator.post(
        f"/staff/turnout/{election.slug}/station/1-1/",
        {"time": "10:00", "voters": "160", "reason": NUL},
    )
    assert (response.status_code, response.context["error"].field) == (422, "reason")
    response = operator.get(f"/staff/turnout/{election.slug}/station/1-1%00/")
    assert response.status_code == 404
    response = operator.get(f"/staff/turnout/{election.slug}/station/?code=1-1%00")
    assert response.status_code == 400  # secki.textguard, before the view
    assert state() == before


# -- completion time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "instant", ["0001-01-01T00:00:00+04:00", "9999-12-31T23:59:59-04:00", "0001-01-01T01:00"]
)
def test_a_completion_time_out_of_range_is_refused(
    election: Election, people: dict[str, Persona], instant: str
) -> None:
    before = state()
    error = refused(
        post(
            people["st11"],
            election,
            "protocols",
            {"station": "1-1", "values": row("1-1", L17=instant)},
        ),
        422,
        "invalid_value",
        "L17",
    )
    assert "outside the range of dates and times" in error["message"]
    cells = [instant if c == "L17" else v for c, v in zip(COLUMNS, PROTOCOLS[0], strict=True)]
    content = ",".join(COLUMNS) + "\n" + ",".join("" if v is None else str(v) for v in cells)
    response = (
        people["st11"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/protocols-bulk",
            data=content.encode(),
            content_type="text/csv",
        )
    )
    detail = refused(response, 422, "invalid_file", "file")["details"][0]
    assert (detail["line"], detail["field"]) == (2, "L17")
    assert "outside the range of dates and times" in detail["message"]
    assert state() == before


def test_counts_of_2_to_the_63_and_more_are_refused(
    election: Election, people: dict[str, Persona]
) -> None:
    before = state()
    for value in (2**63, 2**64, 10**30):  # beyond the schema's bound of a count: 400
        body = {"station": "1-1", "values": row("1-1", L1=value)}
        response = post(people["st11"], election, "protocols", body)
        refused(response, 400, "invalid_request", "values.L1")
    assert state() == before


# -- /data/ paths ---------------------------------------------------------------------------


def test_a_nul_in_a_data_path_is_not_found(
    election: Election, settings: Any, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path / "var"
    settings.SECKI_SNAPSHOT_AUTO = False
    release = snapshots.make_release(election)
    good = f"/data/{election.slug}/{release.name}/stations.csv.gz"
    assert Client().get(good).status_code == 200
    for name in ["stations.csv.gz%00", "a%00b/c", "%00", "x" * 300 + ".csv"]:
        response = Client().get(f"/data/{election.slug}/{release.name}/{name}")
        assert response.status_code == 404, name
    assert files.resolve(election.slug, release.name, "stations\x00.csv.gz") is None
    assert files.resolve(election.slug, release.name, "x" * 5000) is None


# -- text lengths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "path", "field", "limit", "body"),
    [
        ("cec", "protocols/2-2/amend", "reason", 500, {"values": row("2-2", L9=21)}),
        ("supervisor", "protocols/2-2/resolve", "reason", 500, {"values": row("2-2")}),
        ("cec", "protocols/2-2/annul", "reason", 500, {"decision_ref": "D-1"}),
        ("cec", "protocols/2-2/annul", "decision_ref", 200, {}),
        ("st11", "protocols", "act", 200, {"station": "1-1", "values": row("1-1")}),
        ("st11", "turnout", "reason", 500, {"station": "1-1", "time": "10:00", "voters": 160}),
    ],
)
@pytest.mark.parametrize("size", ["limit + 1", "2 MB"])
def test_texts_longer_than_their_column_are_refused(
    election: Election,
    people: dict[str, Persona],
    persona: str,
    path: str,
    field: str,
    limit: int,
    body: dict[str, Any],
    size: str,
) -> None:
    before = state()
    length = limit + 1 if size == "limit + 1" else 2_000_000
    base = {"reason": "recount"} if field != "reason" and "amend" in path else {}
    response = post(people[persona], election, path, {**base, **body, field: "x" * length})
    # the column's length is the request schema's (maxLength): 400 naming the field
    error = refused(response, 400, "invalid_request", field)
    assert error["message"] == f"{field}: at most {limit} characters"
    assert state() == before


def test_a_text_at_its_limit_is_stored_whole(
    election: Election, people: dict[str, Persona]
) -> None:
    reason = "r" * 500
    response = post(
        people["cec"],
        election,
        "protocols/2-2/amend",
        {"values": row("2-2", L9=21), "reason": reason},
    )
    assert response.status_code == 201, response.content
    assert response.json()["reason"] == reason


# -- publishing in a closed election --------------------------------------------------------


def test_publishing_in_a_closed_election_is_refused(
    election: Election, people: dict[str, Persona]
) -> None:
    Election.objects.filter(pk=election.pk).update(status="closed")
    before = state()
    refused(
        post(people["supervisor"], election, "protocols/2-2/publish", {}),
        409,
        "election_closed",
        None,
    )
    page = Client()
    page.force_login(people["supervisor"].user)
    response = page.post(f"/staff/e/{election.slug}/stations/2-2/publish/")
    assert response.status_code == 409
    assert response.context["problem"].code == "election_closed"
    assert not page.get(f"/staff/e/{election.slug}/stations/2-2/").context["can_publish"]
    assert Protocol.objects.get(station__code="2-2").status == "accepted"
    assert state() == before
    # the same protocol is published once the election is open again
    Election.objects.filter(pk=election.pk).update(status="open")
    response = post(people["supervisor"], election, "protocols/2-2/publish", {})
    assert response.status_code == 200 and response.json()["status"] == "published"
