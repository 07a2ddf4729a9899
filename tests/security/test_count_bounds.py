"""Issue 12, High: one station operator could take an election's results offline. A count line
had no upper bound: ``"L9": 9223372036854775807`` for one station (L9 is in no check) was
accepted and published, after which every results page of the election answered 500 on
SQLite (SUM overflow); values ≥ 2^63 or 1e308 answered 500 on both databases.

Now every count is an integer below :data:`secki.protocol_schema.schema.MAX_COUNT` and within what
the station's register allows (:func:`secki.protocol_schema.schema.count_bound`: 2 × registered +
1,000 for a protocol line; registered plus the turnout allowance for a turnout report), on
every intake path: the JSON API (single, check, amend, resolve, bulk), the officials' forms
(entry, amend, the turnout phone form), the turnout API and bulk file, a bundle's import and
the replay (which calls the actions with numbers it read itself). Each refusal names the line,
and nothing is stored; the results pages, map and results API answer 200 throughout. The JSON
API's schemas carry the technical limit (400 ``invalid_request`` naming ``values.L9`` or
``voters``); the register's bound is the action's (422).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.bundle.read import BundleError, read_bundle
from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.ledger.models import LedgerEntry
from secki.portal import http
from secki.protocol_schema.schema import MAX_COUNT, count_bound
from secki.protocols import actions
from secki.protocols.data import ProtocolData
from secki.protocols.models import Protocol, ProtocolEntry, ProtocolEvent, ProtocolValue
from secki.results import tabulate
from secki.turnout.actions import report_turnout
from secki.turnout.models import TurnoutReport
from tests.factories import PROTOCOLS, write_small_bundle
from tests.personas import Persona, make_personas
from tests.protocols.test_api import COLUMNS, register_only, values_of

pytestmark = pytest.mark.django_db

# Station 1-1 has 1,000 registered voters: its count lines may reach 3,000, its turnout 1,050.
OVER_REGISTER = count_bound(1000) + 1
HUGE: dict[str, Any] = {
    "2^63-1": 2**63 - 1,
    "2^63": 2**63,
    "1e308": 1e308,
    "10,000,001": 10_000_001,
    "over the register": OVER_REGISTER,
}
#: the refusal each value gets (code, and words its message holds besides the line)
EXPECTED = {
    "2^63-1": ("value_too_large", ["9223372036854775807", "10,000,000"]),
    "2^63": ("value_too_large", ["9223372036854775808", "10,000,000"]),
    "1e308": ("value_too_large", ["1e+308", "10,000,000"]),  # JSON: a number without fraction
    "10,000,001": ("value_too_large", ["10000001", "10,000,000"]),
    "over the register": ("above_register", ["3,001", "1-1", "at most 3,000", "1,000 registered"]),
}
#: what the JSON API answers for a count beyond any count (its schema's bound; 400 naming the
#: line) — a bound of the station's register is the action's (422), as on the other paths
SCHEMA_REFUSAL = ("invalid_request", ["less than 10000000"])
TURNOUT_EXPECTED = {
    "2^63-1": ("value_too_large", ["9223372036854775807"]),
    "2^63": ("value_too_large", ["9223372036854775808"]),
    "1e308": ("value_too_large", ["1e+308"]),
    "10,000,001": ("value_too_large", ["10000001"]),
    "over the register": ("above_registered", ["3001", "1050"]),
}
#: what a CSV cell or a form field says for each value
AS_TEXT = {name: "1e308" if name == "1e308" else str(value) for name, value in HUGE.items()}
TEXT_EXPECTED = {**EXPECTED, "1e308": ("invalid_value", ["1e308"])}
TURNOUT_TEXT_EXPECTED = {**TURNOUT_EXPECTED, "1e308": ("invalid_value", ["1e308"])}


@pytest.fixture(autouse=True)
def _fresh_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The public pages' caches hold nothing of another test's election (as in tests/portal)."""
    monkeypatch.setattr(http, "ROW_SECONDS", 0.0)  # every request sees the latest ledger head
    http.pages.clear()
    tabulate._cache.clear()
    yield
    http.pages.clear()
    tabulate._cache.clear()


@pytest.fixture
def election(tmp_path: Path) -> Election:
    """Testland with three stations' protocols and some turnout accepted (published); 1-1,
    the station operator's station, waits for its protocol."""
    election = register_only(write_small_bundle(tmp_path))
    return election


@pytest.fixture
def people(election: Election) -> dict[str, Persona]:
    people = make_personas(election)
    cec = people["cec"].client()
    for row in PROTOCOLS[1:]:
        response = cec.post(
            f"/api/v1/elections/{election.slug}/protocols",
            data=json.dumps({"station": row[0], "values": values_of(row, COLUMNS)}),
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
    report_turnout(election, station("1-1"), "10:00", 150, actor=people["cec"].user)
    return people


def station(code: str) -> Station:
    return Station.objects.get(code=code, election__slug="testland-2024")


def state() -> tuple[int, ...]:
    return tuple(
        m.objects.count()
        for m in (Protocol, ProtocolValue, ProtocolEvent, ProtocolEntry, LedgerEntry, TurnoutReport)
    )


def results_answer(election: Election) -> None:
    """The public pages, the map and the results API of the election answer 200, with the
    totals of the three good protocols."""
    client = Client()
    for url in [
        f"/e/{election.slug}/",
        f"/e/{election.slug}/u/1/",
        f"/e/{election.slug}/s/1-1/",
        f"/e/{election.slug}/s/1-2/",
        f"/e/{election.slug}/map/",
        f"/e/{election.slug}/turnout/",
        f"/api/v1/elections/{election.slug}/results",
        f"/api/v1/elections/{election.slug}/results/units/1",
        f"/api/v1/elections/{election.slug}/results/stations/1-2",
        f"/api/v1/elections/{election.slug}/turnout-summary",
    ]:
        assert client.get(url).status_code == 200, url
    national = client.get(f"/api/v1/elections/{election.slug}/results").json()
    assert national["stations_reported"] == 3
    assert national["lines"]["L9"] == sum(r[COLUMNS.index("L9")] for r in PROTOCOLS[1:])


def row_of(code: str, **changes: Any) -> dict[str, Any]:
    row = next(r for r in PROTOCOLS if r[0] == code)
    values = values_of(row, COLUMNS)
    values.update(changes)
    return values


def api_refusal(response: Any, field: str, schema_field: str | None = None) -> tuple[str, str]:
    """The code and message of an API refusal: 400 for what the request's schema forbids
    (naming ``schema_field``, the field's path in the body), 422 for what only the station's
    register says (naming ``field``)."""
    error = response.json()["error"]
    schema = error["code"] == "invalid_request"
    assert response.status_code == (400 if schema else 422), response.content
    assert error["field"] == (schema_field or field if schema else field), error
    return error["code"], error["message"]


def refused(message: str, code: str, words: list[str], *, got: str) -> None:
    assert got == code, message
    assert "L9" in message, message
    for word in words:
        assert word in message, message


Attempt = Callable[[Election, dict[str, Persona], Any], tuple[str, str]]


def api_submit(election: Election, people: dict[str, Persona], value: Any) -> tuple[str, str]:
    response = (
        people["st11"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/protocols",
            data=json.dumps({"station": "1-1", "values": row_of("1-1", L9=value)}),
            content_type="application/json",
        )
    )
    return api_refusal(response, "L9", "values.L9")


def api_check(election: Election, people: dict[str, Persona], value: Any) -> tuple[str, str]:
    response = (
        people["st11"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/protocols-check",
            data=json.dumps({"station": "1-1", "values": row_of("1-1", L9=value)}),
            content_type="application/json",
        )
    )
    return api_refusal(response, "L9", "values.L9")


def api_amend(election: Election, people: dict[str, Persona], value: Any) -> tuple[str, str]:
    """An amendment of 2-2's accepted protocol (2-2 has 300 registered: bound 1,600)."""
    response = (
        people["cec"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/protocols/2-2/amend",
            data=json.dumps({"values": row_of("2-2", L9=value), "reason": "recount"}),
            content_type="application/json",
        )
    )
    return api_refusal(response, "L9", "values.L9")


def api_resolve(election: Election, people: dict[str, Persona], value: Any) -> tuple[str, str]:
    """A supervisor's values are bounded before anything else is looked at."""
    response = (
        people["supervisor"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/protocols/1-2/resolve",
            data=json.dumps({"values": row_of("1-2", L9=value), "reason": "paper"}),
            content_type="application/json",
        )
    )
    return api_refusal(response, "L9", "values.L9")


def replay(election: Election, people: dict[str, Persona], value: Any) -> tuple[str, str]:
    """What the demo's replay and any other caller of the actions do: numbers they read
    themselves, straight into ``submit_protocol``."""
    counts = {k: v for k, v in row_of("1-1", L9=value).items() if not k.startswith(("C", "L17"))}
    data = ProtocolData(counts, {}, (500, 120, 60))
    with pytest.raises(IntakeError) as caught:
        actions.submit_protocol(election, station("1-1"), data, actor=people["cec"].user)
    return caught.value.code, caught.value.message


PROTOCOL_PATHS: dict[str, Attempt] = {
    "api submit": api_submit,
    "api check": api_check,
    "api amend": api_amend,
    "api resolve": api_resolve,
    "replay": replay,
}


@pytest.mark.parametrize("name", list(HUGE))
@pytest.mark.parametrize("path", list(PROTOCOL_PATHS))
def test_a_huge_count_is_refused_on_every_protocol_path(
    election: Election, people: dict[str, Persona], path: str, name: str
) -> None:
    before = state()
    value = HUGE[name]
    code, message = PROTOCOL_PATHS[path](election, people, value)
    expected, words = EXPECTED[name]
    if path == "replay" and isinstance(value, float):  # the actions take integers only
        expected, words = "invalid_value", ["1e+308 is not an integer"]
    if path.startswith("api") and name != "over the register":
        expected, words = SCHEMA_REFUSAL
    if path in ("api amend", "api resolve") and name == "over the register":
        # 2-2 has 300 registered voters (bound 1,600), 1-2 has 800 (bound 2,600)
        words = ["3,001", "at most 1,600" if path == "api amend" else "at most 2,600"]
    refused(message, expected, words, got=code)
    assert state() == before
    results_answer(election)


@pytest.mark.parametrize("name", list(HUGE))
def test_a_huge_count_is_refused_by_the_bulk_api(
    election: Election, people: dict[str, Persona], name: str
) -> None:
    before = state()
    row = [
        AS_TEXT[name] if column == "L9" else value
        for column, value in zip(COLUMNS, next(r for r in PROTOCOLS if r[0] == "1-1"), strict=True)
    ]
    content = ",".join(COLUMNS) + "\n" + ",".join("" if v is None else str(v) for v in row)
    response = (
        people["st11"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/protocols-bulk",
            data=content.encode(),
            content_type="text/csv",
        )
    )
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_file"
    detail = error["details"][0]
    assert (detail["line"], detail["field"]) == (2, "L9")
    words = {
        "2^63-1": ["9223372036854775807 is too large", "below 10,000,000"],
        "2^63": ["9223372036854775808 is too large"],
        "1e308": ["'1e308' is not a non-negative integer"],
        "10,000,001": ["10000001 is too large"],
        "over the register": ["3,001 is more than the station can have: at most 3,000"],
    }[name]
    for word in words:
        assert word in detail["message"], detail
    assert state() == before
    results_answer(election)


@pytest.mark.parametrize("name", list(HUGE))
def test_a_huge_count_is_refused_by_the_entry_and_amend_forms(
    election: Election, people: dict[str, Persona], name: str
) -> None:
    before = state()
    text = AS_TEXT[name]
    expected, words = TEXT_EXPECTED[name]
    operator = Client()
    operator.force_login(people["st11"].user)
    form = {k: str(v) for k, v in row_of("1-1", L9=text).items()}
    response = operator.post(
        f"/staff/e/{election.slug}/protocol/", {"station": "1-1", **form, "L17": "2024-02-07T21:30"}
    )
    assert response.status_code == 422
    problem = response.context["problem"]
    refused(problem.message, expected, words, got=problem.code)
    chair = Client()
    chair.force_login(people["cec"].user)
    form = {k: str(v) for k, v in row_of("2-2", L9=text).items()}
    response = chair.post(
        f"/staff/e/{election.slug}/stations/2-2/amend/",
        {**form, "L17": "2024-02-07T21:30", "reason": "recount"},
    )
    assert response.status_code == 422
    problem = response.context["problem"]
    if name == "over the register":
        words = ["3,001", "2-2", "at most 1,600"]
    refused(problem.message, expected, words, got=problem.code)
    assert state() == before
    results_answer(election)


def test_non_numbers_in_json_are_refused(election: Election, people: dict[str, Persona]) -> None:
    """NaN and Infinity (Python's JSON reads them), fractions, booleans and digit strings too
    long to convert: a 4xx naming the line, nothing stored."""
    before = state()
    client = people["st11"].client()
    url = f"/api/v1/elections/{election.slug}/protocols"
    for raw in ["NaN", "Infinity", "-Infinity", "20.5", "true", '"' + "9" * 5000 + '"']:
        body = json.dumps({"station": "1-1", "values": row_of("1-1", L9="PLACEHOLDER")})
        response = client.post(
            url, data=body.replace('"PLACEHOLDER"', raw), content_type="application/json"
        )
        assert 400 <= response.status_code < 500, (raw, response.content)
        error = response.json()["error"]
        assert "L9" in error["message"], error
    assert state() == before
    results_answer(election)


def test_bounds_are_shared_by_every_protocol_channel() -> None:
    """The bound is one function, and the limit sits far below where sums could overflow."""
    assert count_bound(0) == 1000
    assert count_bound(1000) == 3000
    assert count_bound(10**9) == MAX_COUNT - 1
    # a million stations of MAX_COUNT each still sum far inside a signed 64-bit integer
    assert 10**6 * MAX_COUNT < 2**63 // 1000


# -- turnout --------------------------------------------------------------------------------


def turnout_api(election: Election, people: dict[str, Persona], value: Any) -> tuple[str, str]:
    response = (
        people["st11"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/turnout",
            data=json.dumps({"station": "1-1", "time": "12:00", "voters": value}),
            content_type="application/json",
        )
    )
    return api_refusal(response, "voters")


def turnout_bulk(election: Election, people: dict[str, Persona], value: Any) -> tuple[str, str]:
    text = "1e308" if isinstance(value, float) else str(value)
    response = (
        people["st11"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/turnout-bulk",
            data=f"station,time,voters\n1-1,12:00,{text}\n".encode(),
            content_type="text/csv",
        )
    )
    assert response.status_code == 422, response.content
    detail = response.json()["error"]["details"][0]
    assert (detail["line"], detail["field"]) == (2, "voters")
    return detail["code"], detail["message"]


def turnout_form(election: Election, people: dict[str, Persona], value: Any) -> tuple[str, str]:
    text = "1e308" if isinstance(value, float) else str(value)
    client = Client()
    client.force_login(people["st11"].user)
    response = client.post(
        f"/staff/turnout/{election.slug}/station/1-1/",
        {"time": "12:00", "voters": text, "reason": ""},
    )
    assert response.status_code == 422
    error = response.context["error"]
    return error.code, error.message


def turnout_replay(election: Election, people: dict[str, Persona], value: Any) -> tuple[str, str]:
    with pytest.raises(IntakeError) as caught:
        report_turnout(election, station("1-1"), "12:00", value, actor=people["cec"].user)
    return caught.value.code, caught.value.message


TURNOUT_PATHS: dict[str, Attempt] = {
    "api": turnout_api,
    "bulk": turnout_bulk,
    "phone form": turnout_form,
    "replay": turnout_replay,
}


@pytest.mark.parametrize("name", list(HUGE))
@pytest.mark.parametrize("path", list(TURNOUT_PATHS))
def test_a_huge_turnout_is_refused_on_every_path(
    election: Election, people: dict[str, Persona], path: str, name: str
) -> None:
    before = state()
    value = HUGE[name]
    if path == "replay" and isinstance(value, float):
        value = int(value)  # the replay passes integers it parsed itself
        expected, words = "value_too_large", ["10,000,000"]
    elif path in ("bulk", "phone form"):  # text: "1e308" is not digits
        expected, words = TURNOUT_TEXT_EXPECTED[name]
    elif path == "api" and name != "over the register":
        expected, words = SCHEMA_REFUSAL
    else:
        expected, words = TURNOUT_EXPECTED[name]
    code, message = TURNOUT_PATHS[path](election, people, value)
    assert code == expected, message
    assert "voters" in message
    for word in words:
        assert word in message, message
    assert state() == before
    results_answer(election)


# -- bundle import --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HUGE))
def test_a_bundle_with_a_huge_count_is_refused(tmp_path: Path, name: str) -> None:
    directory = write_small_bundle(tmp_path / "b")
    path = directory / "protocols.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("L9")] = AS_TEXT[name]
    path.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    with pytest.raises(BundleError) as caught:
        read_bundle(directory)
    issue = caught.value.issues[0]
    assert (issue.file, issue.line, issue.column) == ("protocols.csv", 2, "L9")
    if name == "over the register":
        assert "3,001 is more than the station can have: at most 3,000" in issue.message
    elif name == "1e308":
        assert "is not a non-negative integer" in issue.message
    else:
        assert "is too large: every count is below 10,000,000" in issue.message


@pytest.mark.parametrize(
    ("file", "column", "cell", "words"),
    [
        ("turnout.csv", "voters", "1051", "1,051 is more than the station can have: at most 1,050"),
        ("turnout.csv", "voters", str(2**63), "is too large"),
        ("stations.csv", "registered", str(2**63 - 1), "is too large"),
        ("stations.csv", "registered", "10000000", "is too large"),
    ],
)
def test_a_bundle_with_a_huge_turnout_or_register_is_refused(
    tmp_path: Path, file: str, column: str, cell: str, words: str
) -> None:
    directory = write_small_bundle(tmp_path / "b")
    path = directory / file
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index(column)] = cell
    path.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    with pytest.raises(BundleError) as caught:
        read_bundle(directory)
    issue = caught.value.issues[0]
    assert (issue.file, issue.line, issue.column) == (file, 2, column)
    assert words in issue.message
