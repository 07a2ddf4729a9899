"""Issue 12: the API answers exactly what its OpenAPI description says (found by schemathesis;
`make fuzz` runs it against the real server, these are the regressions of each class of
failure it found).

* a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (10 MB of JSON) got Django's HTML 400: now the
  API's JSON error, 413, on every operation with a body, documented;
* a multipart body that cannot be parsed got Django's HTML 400 (and a traceback in the log);
* request bodies typed ``Any`` let valid-looking bodies through to a 422 and let bad ones
  through at all: the bodies are typed exactly (strict: ``"5"`` is not a number, ``5.0`` is 5),
  what the schema forbids is 400 naming the field, what a schema cannot say is 422;
* GETs with a bad query or path parameter answered undocumented 400/422 (or 500 for an id
  beyond 64 bits): every such answer is a documented 400;
* responses typed ``dict[str, Any]``: every answer of these routers is validated against its
  declared schema, which declares every key (``additionalProperties: false``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import jsonschema
import jsonschema_rs
import pytest
from django.test import Client

from secki.api.schemas import NOT_BLANK
from secki.bundle.read import read_bundle
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from secki.integrity.models import ExitPoll, PvtSample
from secki.protocols.api import ProtocolOut
from secki.protocols.models import Protocol, ProtocolStatus
from secki.results.anomalies import KINDS
from secki.results.turnout_api import Kind
from secki.turnout.models import TurnoutReport
from tests.factories import PROTOCOLS, write_small_bundle
from tests.personas import Persona, make_personas
from tests.protocols.test_api import COLUMNS, register_only, values_of

pytestmark = pytest.mark.django_db

#: the routers checked here: all of the API's
TAGS = {"elections", "results", "scans", "integrity", "protocols", "turnout"}


@pytest.fixture(autouse=True)
def integrity_settings(settings: Any) -> None:
    settings.SECKI_INTEGRITY_BACKGROUND = False
    settings.SECKI_INTEGRITY_REPLICATES = 50
    settings.SECKI_INTEGRITY_FIT_BOOTSTRAP = 2
    settings.SECKI_INTEGRITY_DIGIT_BOOTSTRAP = 50


@pytest.fixture
def testland(tmp_path: Path) -> tuple[Election, dict[str, Persona]]:
    election = import_bundle(read_bundle(write_small_bundle(tmp_path)))
    return election, make_personas(election)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    from secki.apiroutes import api

    return dict(json.loads(json.dumps(api.get_openapi_schema())))


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, ops in openapi["paths"].items()
        for method, op in ops.items()
        if set(op.get("tags", [])) & TAGS
    ]


def check(openapi: dict[str, Any], path: str, method: str, response: Any) -> Any:
    """The answer's status is documented for the operation and its JSON body fits the
    declared schema; the body is returned."""
    answers = openapi["paths"][path][method]["responses"]
    assert str(response.status_code) in answers, (path, method, response.status_code)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    schema = answers[str(response.status_code)]["content"]["application/json"]["schema"]
    body = response.json()
    jsonschema.Draft202012Validator({**schema, "components": openapi["components"]}).validate(body)
    return body


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


# -- the error shape of bodies Django refuses to read --------------------------------------


def test_a_10_mb_json_body_gets_the_api_error_413(
    testland: tuple[Election, dict[str, Persona]], openapi: dict[str, Any], settings: Any
) -> None:
    election, people = testland
    big = json.dumps({"organisation": "x" * (10 * 1024 * 1024)})
    assert len(big) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    for path, url, who in (
        ("/api/v1/elections/{slug}/exit-polls", "exit-polls", people["observer"].client()),
        ("/api/v1/elections/{slug}/exit-polls", "exit-polls", Client()),
        ("/api/v1/elections/{slug}/pvt", "pvt", people["observer"].client()),
        ("/api/v1/elections/{slug}/protocols", "protocols", people["cec"].client()),
        ("/api/v1/elections/{slug}/turnout", "turnout", people["cec"].client()),
    ):
        response = who.post(
            f"/api/v1/elections/{election.slug}/{url}", big, content_type="application/json"
        )
        assert response.status_code == 413, (url, response.content[:200])
        body = check(openapi, path, "post", response)
        assert body["error"]["code"] == "body_too_large"
        assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["error"]["message"]
    assert not ExitPoll.objects.exists() and not PvtSample.objects.exists()


def test_every_operation_documents_the_errors_of_the_api_object(openapi: dict[str, Any]) -> None:
    """503 everywhere (database down), 413 and 400 wherever there is a body, each with the one
    error shape."""
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            answers = op["responses"]
            expected = {"503"} | ({"400", "413"} if "requestBody" in op else set())
            assert expected <= set(answers), (method, path, sorted(answers))
            for status in expected:
                schema = answers[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}
            assert "Retry-After" in answers["503"]["headers"]


def test_an_unreadable_multipart_body_is_the_api_error_400(
    testland: tuple[Election, dict[str, Persona]], openapi: dict[str, Any]
) -> None:
    election, people = testland
    response = (
        people["cec"]
        .client()
        .post(
            f"/api/v1/elections/{election.slug}/stations/1-1/scans",
            b"--x\r\nnonsense",
            content_type="multipart/form-data",  # no boundary
        )
    )
    body = check(openapi, "/api/v1/elections/{slug}/stations/{station}/scans", "post", response)
    assert response.status_code == 400 and body["error"]["code"] == "invalid_multipart"


# -- requests typed exactly ------------------------------------------------------------------


def test_no_request_or_response_schema_is_untyped(openapi: dict[str, Any]) -> None:
    """No ``Any`` (an empty schema) and no ``dict[str, Any]`` (an object of anything) in the
    bodies, parameters and answers of these routers; every response object declares all its
    keys."""
    components = openapi["components"]["schemas"]
    seen: set[tuple[str, bool]] = set()
    problems: list[str] = []

    def walk(node: Any, where: str, response: bool) -> None:
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            if (name, response) not in seen:
                seen.add((name, response))
                walk(components[name], name, response)
            return
        meaningful = set(node) - {"title", "description", "default"}
        if not meaningful:
            problems.append(f"{where}: untyped (Any)")
        if node.get("type") == "object" and "properties" not in node:
            extra = node.get("additionalProperties")
            if extra in (None, True, {}):
                problems.append(f"{where}: an object of anything")
        declared = node.get("type") == "object" and "properties" in node
        if response and declared and node.get("additionalProperties") is not False:
            problems.append(f"{where}: undeclared keys allowed")
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    walk(sub, f"{where}.{name}", response)
            elif isinstance(value, dict):
                walk(value, f"{where}.{key}", response)
            elif isinstance(value, list):
                for i, sub in enumerate(value):
                    walk(sub, f"{where}.{key}[{i}]", response)

    for path, method, op in operations(openapi):
        for parameter in op.get("parameters", []):
            walk(parameter["schema"], f"{method} {path} {parameter['name']}", False)
        for media in op.get("requestBody", {}).get("content", {}).values():
            walk(media["schema"], f"{method} {path} body", False)
        for status, answer in op["responses"].items():
            for media in answer.get("content", {}).values():
                error = media["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
                walk(media["schema"], f"{method} {path} {status}", not error)
    assert problems == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stations": "ten"}, "stations"),  # was 422: the schema said Any
        ({"stations": 10.5}, "stations"),
        ({"respondents": True}, "respondents"),
        ({"rho": 1.5}, "rho"),
        ({"estimates": {"C1": "0.5"}}, "estimates.C1"),
        ({"estimates": []}, "estimates"),
        ({"organisation": None}, "organisation"),
        ({"note": "n" * 501}, "note"),
    ],
)
def test_a_body_that_breaks_its_schema_is_400_naming_the_field(
    testland: tuple[Election, dict[str, Persona]],
    openapi: dict[str, Any],
    body: dict[str, Any],
    field: str,
) -> None:
    election, people = testland
    good = {"organisation": "Poll", "stations": 10, "respondents": 500, "rho": 0.05}
    good["estimates"] = {"C1": 0.5, "C2": 0.3}
    url = f"/api/v1/elections/{election.slug}/exit-polls"
    response = post(people["observer"].client(), url, {**good, **body})
    error = check(openapi, "/api/v1/elections/{slug}/exit-polls", "post", response)["error"]
    assert response.status_code == 400 and error["code"] == "invalid_request"
    assert error["field"] == field and field in error["message"]
    assert not ExitPoll.objects.exists()
    # the same body with the schema's types is accepted: 10.0 is the integer 10 in JSON
    accepted = post(people["observer"].client(), url, {**good, "stations": 10.0})
    assert accepted.status_code == 201, accepted.content
    assert check(openapi, "/api/v1/elections/{slug}/exit-polls", "post", accepted)["stations"] == 10


def test_a_well_formed_body_refused_for_its_meaning_is_422(
    testland: tuple[Election, dict[str, Persona]], openapi: dict[str, Any]
) -> None:
    election, people = testland
    url = f"/api/v1/elections/{election.slug}/pvt"
    response = post(people["observer"].client(), url, {"group": "G", "contact": "g@example.org"})
    body = check(openapi, "/api/v1/elections/{slug}/pvt", "post", response)
    assert response.status_code == 422 and body["error"]["code"] == "missing_value"


# -- GETs with bad parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/v1/elections/{slug}/integrity", "?top=-1", "top"),
        ("/api/v1/elections/{slug}/integrity", "?top=1001", "top"),
        ("/api/v1/elections/{slug}/integrity", "?top=ten", "top"),
        ("/api/v1/elections/{slug}/pvt/sample-size", "?margin=0", "margin"),  # was 200
        ("/api/v1/elections/{slug}/pvt/sample-size", "?margin=2", "margin"),  # was 422
        ("/api/v1/elections/{slug}/pvt/sample-size", "?margin=nan", "margin"),
        ("/api/v1/elections/{slug}/pvt/{sample_id}", "", "sample_id"),
        ("/api/v1/elections/{slug}/turnout-anomalies", "?jump=0", "jump"),  # were 400s the
        ("/api/v1/elections/{slug}/turnout-anomalies", "?k=101", "k"),  # schema did not say
        ("/api/v1/elections/{slug}/turnout-anomalies", "?jump=nan", "jump"),
        ("/api/v1/elections/{slug}/turnout-anomalies", "?format=xml", "format"),
        ("/api/v1/elections/{slug}/turnout-anomalies", "?kind=bogus", "kind"),
    ],
)
def test_a_get_with_a_bad_parameter_is_a_documented_400(
    testland: tuple[Election, dict[str, Persona]],
    openapi: dict[str, Any],
    path: str,
    query: str,
    field: str,
) -> None:
    election, people = testland
    url = path.replace("{slug}", election.slug).replace("{sample_id}", str(2**70)) + query
    response = people["cec"].client().get(url)
    body = check(openapi, path, "get", response)
    assert response.status_code == 400, response.content
    assert body["error"]["code"] == "invalid_request" and body["error"]["field"] == field


# -- every answer fits its declared schema ---------------------------------------------------


def test_every_answer_of_these_routers_fits_its_schema(
    testland: tuple[Election, dict[str, Persona]], openapi: dict[str, Any]
) -> None:
    """With data in every table they read: a PVT sample with a count, an exit poll; as the CEC
    (everything), an observer, and the public."""
    election, people = testland
    slug = election.slug
    observer = people["observer"].client()
    api = "/api/v1/elections/{slug}"
    sample = post(
        observer,
        f"/api/v1/elections/{slug}/pvt",
        {"group": "G", "contact": "g@example.org", "method": "import", "stations": ["1-1", "2-1"]},
    )
    created = check(openapi, f"{api}/pvt", "post", sample)
    assert sample.status_code == 201 and created["stations"] == ["1-1", "2-1"]
    count = {"station": "1-1", "registered": 1000, "participants": 700, "valid": 690}
    count["votes"] = {"C1": 400, "C2": 200, "C3": 90}
    entered = post(observer, f"/api/v1/elections/{slug}/pvt/{created['id']}/counts", count)
    assert check(openapi, f"{api}/pvt/{{sample_id}}/counts", "post", entered)["version"] == 1
    again = post(observer, f"/api/v1/elections/{slug}/pvt/{created['id']}/counts", count)
    assert again.status_code == 200
    check(openapi, f"{api}/pvt/{{sample_id}}/counts", "post", again)
    poll = {"organisation": "Poll", "stations": 10, "respondents": 500, "design_effect": 1.8}
    poll["estimates"] = {"C1": 0.5, "C2": 0.3}
    check(
        openapi,
        f"{api}/exit-polls",
        "post",
        post(observer, f"/api/v1/elections/{slug}/exit-polls", poll),
    )
    switched = (
        people["cec"]
        .client()
        .put(
            f"/api/v1/elections/{slug}/integrity/settings",
            json.dumps({"public": True}),
            content_type="application/json",
        )
    )
    assert check(openapi, f"{api}/integrity/settings", "put", switched) == {
        "election": slug,
        "public": True,
    }

    gets = {
        "/api/v1/elections": "",
        api: "",
        f"{api}/results": "",
        f"{api}/results/units/{{code}}": "1",
        f"{api}/results/stations/{{code}}": "1-1",
        f"{api}/stations/{{station}}/scans": "1-1",
        f"{api}/integrity": "",
        f"{api}/integrity/settings": "",
        f"{api}/pvt/sample-size": "",
        f"{api}/pvt": "",
        f"{api}/pvt/{{sample_id}}": str(created["id"]),
        f"{api}/exit-polls": "",
        f"{api}/protocols/{{station}}": "1-1",
        f"{api}/turnout/{{station}}": "1-1",
        f"{api}/turnout-summary": "",
    }
    #: for reporting staff, and staff and observers: test_protocol_and_turnout_answers
    staff = {f"{api}/turnout-missing", f"{api}/turnout-anomalies"}
    assert {p for p, m, _ in operations(openapi) if m == "get"} == set(gets) | staff
    for who in (people["cec"].client(), observer, Client()):
        for path, value in gets.items():
            url = path.replace("{slug}", slug)
            for name in ("{code}", "{station}", "{sample_id}"):
                url = url.replace(name, value)
            response = who.get(url)
            assert response.status_code == 200, (url, response.content[:300])
            check(openapi, path, "get", response)
    # unknown names: the documented 404 with the error shape
    for path in (api, f"{api}/results/units/{{code}}", f"{api}/pvt/{{sample_id}}"):
        url = path.replace("{slug}", slug if path != api else "nope")
        response = (
            people["cec"].client().get(url.replace("{code}", "9").replace("{sample_id}", "9"))
        )
        assert response.status_code == 404
        check(openapi, path, "get", response)


# -- protocols and turnout -------------------------------------------------------------------


def good_values(station: str) -> dict[str, Any]:
    """A protocol's values as the API takes them: counts as integers, L17 as ISO 8601 text."""
    return values_of(next(r for r in PROTOCOLS if r[0] == station), COLUMNS)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        # were 422 (the schema said Any): a count is a JSON integer 0 ≤ n < 10,000,000
        ("protocols", {"values": {"L9": "21"}}, "values.L9"),
        ("protocols", {"values": {"L9": 21.5}}, "values.L9"),
        ("protocols", {"values": {"L9": -1}}, "values.L9"),
        ("protocols", {"values": {"L9": 10_000_000}}, "values.L9"),
        ("protocols", {"values": {"L9": None}}, "values.L9"),
        ("protocols", {"values": {"L17": "yesterday"}}, "values.L17"),
        ("protocols", {"values": []}, "values"),
        ("protocols", {"station": 11}, "station"),
        ("protocols", {"station": "x" * 65}, "station"),
        ("protocols", {"act": "a" * 201}, "act"),
        ("protocols-check", {"values": {"C1": True}}, "values.C1"),
        ("turnout", {"voters": "150"}, "voters"),
        ("turnout", {"voters": 10_000_000}, "voters"),
        ("turnout", {"reason": "r" * 501}, "reason"),
    ],
)
def test_a_protocol_or_turnout_body_that_breaks_its_schema_is_400_naming_the_field(
    tmp_path: Path, openapi: dict[str, Any], path: str, body: dict[str, Any], field: str
) -> None:
    election = register_only(write_small_bundle(tmp_path))
    cec = make_personas(election)["cec"].client()
    if path == "turnout":
        good: dict[str, Any] = {"station": "1-1", "time": "10:00", "voters": 150}
    else:
        good = {"station": "1-1", "values": good_values("1-1")}
    bad = {**good, **body}
    if isinstance(body.get("values"), dict):
        bad["values"] = {**good["values"], **body["values"]}
    url = f"/api/v1/elections/{election.slug}/{path}"
    response = post(cec, url, bad)
    error = check(openapi, f"/api/v1/elections/{{slug}}/{path}", "post", response)["error"]
    assert response.status_code == 400 and error["code"] == "invalid_request", error
    assert error["field"] == field and error["message"].startswith(f"{field}: "), error
    assert not Protocol.objects.exists() and not TurnoutReport.objects.exists()
    # the good body is accepted: the refusal was the field's
    assert post(cec, url, good).status_code in (200, 201)


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("protocols", {"station": " \u3000"}, 400, "missing_station"),  # the pattern says it
        ("protocols", {"station": "\ufeff"}, 422, "unknown_station"),  # not blank to Python
        ("protocols", {"station": "9-9"}, 422, "unknown_station"),
        ("protocols", {"values": {"L5": "2024-02-07T21:30"}}, 422, "invalid_value"),
        ("protocols", {"values": {"L17": 2024}}, 422, "invalid_value"),
        ("protocols", {"values": {"L17": "2024-13-45T25:61"}}, 422, "invalid_value"),
        ("protocols", {"values": {"L99": 1}}, 422, "unknown_line"),
        ("protocols", {"values": {"L9": 3001}}, 422, "above_register"),
        ("protocols-check", {"station": ""}, 400, "missing_station"),
        ("turnout", {"station": "\t"}, 400, "missing_station"),
        ("turnout", {"time": "10:30"}, 422, "unknown_time"),
        ("turnout", {"voters": 1051}, 422, "above_registered"),
    ],
)
def test_protocol_and_turnout_refusals_are_the_documented_ones(
    tmp_path: Path,
    openapi: dict[str, Any],
    path: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    """What the schema says is refused with 400 (a blank station: the pattern of ``station``);
    what only the election says (its stations, lines, times, registers) with 422."""
    election = register_only(write_small_bundle(tmp_path))
    cec = make_personas(election)["cec"].client()
    if path == "turnout":
        good: dict[str, Any] = {"station": "1-1", "time": "10:00", "voters": 150}
    else:
        good = {"station": "1-1", "values": good_values("1-1")}
    bad = {**good, **body}
    if "values" in body:
        bad["values"] = {**good["values"], **body["values"]}
    response = post(cec, f"/api/v1/elections/{election.slug}/{path}", bad)
    error = check(openapi, f"/api/v1/elections/{{slug}}/{path}", "post", response)["error"]
    assert (response.status_code, error["code"]) == (status, code), error
    assert error["field"], error
    assert not Protocol.objects.exists() and not TurnoutReport.objects.exists()


def test_the_station_pattern_is_what_the_lookup_strips() -> None:
    """``station``'s pattern holds a string exactly when :meth:`str.strip` leaves something
    (the lookup's blank test), as Python and as the ECMA reading of schemathesis's validator
    see it (``\\S`` would differ: U+001C…U+001F, U+0085, U+FEFF)."""
    pattern = re.compile(NOT_BLANK)
    ecma = jsonschema_rs.validator_for({"type": "string", "pattern": NOT_BLANK})
    for code in [*range(0xD800), *range(0xE000, 0x10000)]:
        text = chr(code)
        assert bool(pattern.search(text)) == bool(text.strip()), hex(code)
        assert ecma.is_valid(text) == bool(text.strip()), hex(code)


def test_the_enumerations_of_the_answers_are_the_models() -> None:
    status = ProtocolOut.model_fields["status"].annotation
    assert set(get_args(status)) == set(ProtocolStatus.values)
    assert set(get_args(Kind)) == set(KINDS)


def test_protocol_and_turnout_answers(tmp_path: Path, openapi: dict[str, Any]) -> None:
    """Every operation of the protocols and turnout routers answers what it documents: each
    write once (single and double entry, amend, resolve, annul, publish, bulk files, checks,
    turnout), then every read as the CEC, an observer and the public."""
    election = register_only(write_small_bundle(tmp_path), auto_publish=False)
    people = make_personas(election)
    slug = election.slug
    api = "/api/v1/elections/{slug}"
    cec, st11, supervisor = (people[p].client() for p in ("cec", "st11", "supervisor"))

    def write(who: Client, path: str, body: Any, status: int) -> Any:
        url = api.replace("{slug}", slug) + path.replace("{station}", body.pop("_at", ""))
        response = post(who, url, body)
        assert response.status_code == status, (path, response.content[:300])
        return check(openapi, api + path, "post", response)

    checked = write(st11, "/protocols-check", {"station": "1-1", "values": good_values("1-1")}, 200)
    assert checked["acceptable"] is True and checked["station"] == "1-1"
    instants = [v for c in checked["checks"] for v in c["values"].values() if isinstance(v, str)]
    assert instants, checked  # the completion time L17 and the polls' close, as ISO 8601
    created = write(st11, "/protocols", {"station": "1-1", "values": good_values("1-1")}, 201)
    assert created["status"] == "accepted" and created["checks"]
    write(supervisor, "/protocols/{station}/publish", {"_at": "1-1"}, 200)
    values = {**good_values("1-1"), "L9": 21}
    amended = {"_at": "1-1", "values": values, "reason": "recount", "act": "A-1"}
    assert write(cec, "/protocols/{station}/amend", amended, 201)["reason"] == "recount"
    write(cec, "/protocols/{station}/annul", {"_at": "1-1", "decision_ref": "D-1"}, 201)
    election.double_entry = True
    election.save()
    first = write(
        people["con1"].client(), "/protocols", {"station": "1-2", "values": good_values("1-2")}, 202
    )
    assert first["status"] == "first_entry" and first["values"] == {}
    other = {**good_values("1-2"), "L2": good_values("1-2")["L2"] + 1}
    second = write(cec, "/protocols", {"station": "1-2", "values": other}, 202)
    assert second["status"] == "quarantined"
    resolved = {"_at": "1-2", "values": good_values("1-2"), "reason": "the paper says so"}
    assert write(supervisor, "/protocols/{station}/resolve", resolved, 200)["status"] == "accepted"
    election.double_entry = False
    election.save()
    columns = ",".join(COLUMNS)
    rows = [",".join("" if v is None else str(v) for v in r) for r in PROTOCOLS if r[0] == "2-1"]
    response = cec.post(
        f"/api/v1/elections/{slug}/protocols-bulk",
        f"{columns}\n{rows[0]}\n",
        content_type="text/csv",
    )
    assert check(openapi, f"{api}/protocols-bulk", "post", response) == {
        "accepted": 1,
        "election": slug,
    }
    write(st11, "/turnout", {"station": "1-1", "time": "10:00", "voters": 150}, 201)
    response = cec.post(
        f"/api/v1/elections/{slug}/turnout-bulk",
        "station,time,voters\n2-2,10:00,40\n2-2,19:00,310\n",
        content_type="text/csv",
    )
    assert check(openapi, f"{api}/turnout-bulk", "post", response)["accepted"] == 2

    reads = {
        f"{api}/protocols/{{station}}": ["1-1", "1-2", "2-1"],
        f"{api}/turnout/{{station}}": ["1-1", "2-2"],
        f"{api}/turnout-summary": ["", "?unit=1"],
        f"{api}/turnout-missing": ["", "?time=10:00", "?unit=2"],
        f"{api}/turnout-anomalies": ["", "?kind=above_100", "?jump=1&k=0.5&unit=2"],
    }
    staff_only = {
        f"{api}/turnout-missing": ("cec",),
        f"{api}/turnout-anomalies": ("cec", "observer"),
    }
    for who in ("cec", "observer", None):
        client = people[who].client() if who else Client()
        for path, tails in reads.items():
            for tail in tails:
                url = path.replace("{slug}", slug)
                url = url.replace("{station}", tail) if "{station}" in path else url + tail
                response = client.get(url)
                allowed = who in staff_only.get(path, (who,))
                expected = 200 if allowed else (401 if who is None else 403)
                assert response.status_code == expected, (who, url, response.content[:300])
                body = check(openapi, path, "get", response)
                if path.endswith("anomalies") and allowed and not tail:
                    assert body["counts"]["above_100"] == 1, body
    # the anomaly flags as CSV: a documented answer of the operation
    csv_answer = cec.get(f"/api/v1/elections/{slug}/turnout-anomalies?format=csv")
    assert csv_answer.status_code == 200 and csv_answer["Content-Type"].startswith("text/csv")
    assert (
        "text/csv"
        in openapi["paths"][f"{api}/turnout-anomalies"]["get"]["responses"]["200"]["content"]
    )
    # a report time the election does not have: 422, documented
    response = cec.get(f"/api/v1/elections/{slug}/turnout-missing?time=09:00")
    assert response.status_code == 422
    assert check(openapi, f"{api}/turnout-missing", "get", response)["error"]["field"] == "time"
