"""The protocol entry form: every bad input is refused with a 4xx naming the line or rule and
nothing stored; a good protocol is accepted; the page offers the right stations and the live
check endpoint answers for the logged-in operator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from secki.elections.models import Election, ElectionStatus, Station
from secki.protocols.models import EventKind, Protocol, ProtocolEvent, ProtocolValue
from tests.staff.conftest import Personas, db_state, form_values, load_election

pytestmark = pytest.mark.django_db


def url(election: Election) -> str:
    return f"/staff/e/{election.slug}/protocol/"


def submit(client: Client, election: Election, station: str = "1-1", **changes: Any) -> Any:
    """Post the bundle's valid protocol of ``station`` (of 1-1 for other codes), changed."""
    known = {"1-1", "1-2", "2-1", "2-2"}
    data = {"station": station, **form_values(station if station in known else "1-1")}
    data.update({k: str(v) for k, v in changes.items()})
    return client.post(url(election), data)


def refused(response: Any, status: int, *words: str) -> str:
    """Assert a refusal page with ``status`` whose message contains every word."""
    assert response.status_code == status, response.content.decode()[:2000]
    problem = response.context["problem"]
    assert problem.status == status
    for word in words:
        assert word in problem.message, problem.message
    assert 'role="alert"' in response.content.decode()
    return str(problem.code)


def test_a_good_protocol_is_accepted(election: Election, personas: Personas) -> None:
    client = personas.client("op11")
    response = submit(client, election)
    assert response.status_code == 302
    assert response["Location"] == f"/staff/e/{election.slug}/stations/1-1/"
    protocol = Protocol.objects.get(station__code="1-1", election=election)
    assert (protocol.status, protocol.version, protocol.source) == ("published", 1, "form")
    assert protocol.created_by == personas["op11"]
    values = dict(protocol.values.values_list("code", "value"))
    assert values["L14"] == 680 and values["C1"] == 500 and "L1a" not in values
    assert protocol.completed_at is not None
    assert protocol.completed_at.isoformat() == "2024-02-07T17:30:00+00:00"  # 21:30 in Baku
    page = client.get(response["Location"])
    assert "Station 1-1: protocol published (version 1)." in page.content.decode()


def test_a_constituency_operator_keys_any_station_of_the_constituency(
    election: Election, personas: Personas
) -> None:
    response = submit(personas.client("north"), election, "1-2")
    assert response.status_code == 302
    assert Protocol.objects.get(station__code="1-2").created_by == personas["north"]


# -- bad input: a 4xx naming the line or rule, and nothing stored ---------------------------


@pytest.mark.parametrize(
    ("persona", "station", "changes", "status", "code", "words"),
    [
        ("op11", "1-1", {"L5": "68five"}, 422, "invalid_value", ["L5", "not an integer"]),
        ("op11", "1-1", {"L13": "675.5"}, 422, "invalid_value", ["L13"]),
        ("op11", "1-1", {"L8": "-3"}, 422, "negative_value", ["L8", "negative"]),
        ("op11", "1-1", {"C2": ""}, 422, "missing_line", ["C2", "required"]),
        ("op11", "1-1", {"L17": "yesterday"}, 422, "invalid_value", ["L17", "ISO 8601"]),
        ("admin", "9-9", {}, 422, "unknown_station", ["9-9"]),
        ("admin", "", {}, 400, "missing_station", ["station"]),
        ("observer", "1-1", {}, 403, "forbidden_role", ["enter_protocol"]),
        ("supervisor", "1-1", {}, 403, "forbidden_role", ["enter_protocol"]),
        ("outsider", "1-1", {}, 403, "forbidden_role", ["enter_protocol"]),
        ("op11", "1-2", {}, 403, "forbidden_territory", ["1-2", "outside your territory"]),
        ("north", "2-1", {}, 403, "forbidden_territory", ["2-1", "outside your territory"]),
        ("op11", "1-1", {"C1": "501"}, 422, "hard_check_failed", ["AZ-6", "L14", "sum"]),
        ("op11", "1-1", {"L3": "722"}, 422, "hard_check_failed", ["AZ-4", "L3"]),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    election: Election,
    personas: Personas,
    persona: str,
    station: str,
    changes: dict[str, str],
    status: int,
    code: str,
    words: list[str],
) -> None:
    before = db_state()
    response = submit(personas.client(persona), election, station, **changes)
    assert refused(response, status, *words) == code
    assert db_state() == before
    if persona in ("op11", "north", "admin"):
        # the form comes back with what was typed, the refused line marked
        body = response.content.decode()
        for line, value in changes.items():
            assert f'name="{line}" value="{value}"' in body
        field = response.context["problem"].field
        if field and field != "station":
            assert f'id="err-{field}"' in body


def test_hard_check_names_the_line_in_the_form(election: Election, personas: Personas) -> None:
    response = submit(personas.client("op11"), election, C1="501")
    body = response.content.decode()
    assert response.context["problem"].field == "L14"
    assert 'id="f-L14" name="L14" value="680" data-line="L14" required aria-invalid="true"' in body
    assert "AZ-6" in body and "sum(C)=681" in body


def test_station_of_another_election(
    election: Election, other_election: Election, personas: Personas
) -> None:
    Station.objects.filter(election=other_election, code="2-2").update(code="7-7")
    before = db_state()
    response = submit(personas.client("admin"), election, "7-7")
    assert refused(response, 422, "7-7", "otherland-2024") == "other_election"
    assert db_state() == before


def test_closed_election(election: Election, personas: Personas) -> None:
    Election.objects.filter(pk=election.pk).update(status=ElectionStatus.CLOSED)
    before = db_state()
    response = submit(personas.client("op11"), election)
    assert refused(response, 409, "closed") == "election_closed"
    assert db_state() == before
    page = personas.client("op11").get(url(election))
    assert "no protocol is taken" in page.content.decode()
    assert 'id="protocol-form"' not in page.content.decode()


def test_duplicate_submission(election: Election, personas: Personas) -> None:
    client = personas.client("op11")
    assert submit(client, election).status_code == 302
    before = db_state()
    assert refused(submit(client, election), 409, "already has this protocol") == "duplicate"
    response = submit(client, election, C1="499", C2="121")
    assert refused(response, 409, "amendments") == "already_accepted"
    assert db_state() == before


def test_unknown_election_is_404(personas: Personas) -> None:
    response = personas.client("admin").get("/staff/e/nowhere/protocol/")
    assert response.status_code == 404
    assert "nowhere" in response.context["problem"].message


def test_anonymous_users_are_sent_to_log_in(election: Election) -> None:
    before = db_state()
    response = Client().post(url(election), {"station": "1-1", **form_values()})
    assert response.status_code == 302
    assert response["Location"].startswith("/staff/login/?next=")
    assert db_state() == before


# -- the commission's act (AZ-2 workflow) ------------------------------------------------------

MOBILE_EXCESS = {"L6": "10", "L5": "690"}  # L12 = 15 > L6 = 10, every other check holds


def test_mobile_box_excess_needs_the_commissions_act(
    election: Election, personas: Personas
) -> None:
    client = personas.client("op11")
    before = db_state()
    response = submit(client, election, **MOBILE_EXCESS)
    assert refused(response, 422, "AZ-2", "act") == "act_required"
    body = response.content.decode()
    assert '<div id="act-box" class="notice">' in body  # shown, not hidden
    assert db_state() == before
    # without the failure the act field stays hidden until the live check asks for it
    assert '<div id="act-box" class="notice" hidden>' in client.get(url(election)).content.decode()

    act = "PEC act No. 3: mobile box ballots invalid"
    response = submit(client, election, act=act, **MOBILE_EXCESS)
    assert response.status_code == 302
    protocol = Protocol.objects.get(station__code="1-1")
    assert protocol.decision_ref == act
    kinds = list(ProtocolEvent.objects.filter(protocol=protocol).values_list("kind", flat=True))
    assert kinds == [EventKind.ACT_RECORDED, EventKind.ACCEPTED]


# -- the page ----------------------------------------------------------------------------------


def test_station_operator_has_the_own_station_preselected(
    election: Election, personas: Personas
) -> None:
    body = personas.client("op11").get(url(election)).content.decode()
    assert '<input type="hidden" name="station" value="1-1">' in body
    assert "<select" not in body.split('id="protocol-form"')[1].split("</fieldset>")[0]


def test_constituency_operator_chooses_among_own_stations(
    election: Election, personas: Personas
) -> None:
    response = personas.client("north").get(url(election), {"station": "1-2"})
    stations = [s.code for s, _ in response.context["choices"]]
    assert stations == ["1-1", "1-2"]
    assert '<option value="1-2" selected>' in response.content.decode()
    admin = personas.client("admin").get(url(election))
    assert [s.code for s, _ in admin.context["choices"]] == ["1-1", "1-2", "2-1", "2-2"]


def test_form_lists_every_line_in_schema_order_with_numeric_inputs(
    election: Election, personas: Personas
) -> None:
    response = personas.client("op11").get(url(election))
    body = response.content.decode()
    codes = [f.code for f in response.context["fields"]]
    assert codes == [*election.protocol_schema().columns(3)]
    positions = [body.index(f'name="{code}"') for code in codes]
    assert positions == sorted(positions)
    assert body.count('inputmode="numeric"') == len(codes) - 1  # all but L17
    assert 'type="datetime-local" id="f-L17"' in body
    assert "Votes for Candidate A (Party One)" in body
    assert "Voters who received ballots" in body
    assert 'data-valid-line="L14"' in body and 'data-act-codes="AZ-2"' in body
    assert "/static/staff/protocol.js" in body


def test_roles_without_entry_cannot_open_the_form(election: Election, personas: Personas) -> None:
    for persona in ("observer", "supervisor", "outsider"):
        response = personas.client(persona).get(url(election))
        assert response.status_code == 403, persona


def test_live_check_endpoint_used_by_the_form(election: Election, personas: Personas) -> None:
    """The page's script posts to the API's protocols-check with the session and the CSRF
    token of the page; the answer lists the checks and nothing is stored."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["op11"])
    page = client.get(url(election))
    check_url = page.context["check_url"]
    assert f'data-check-url="{check_url}"' in page.content.decode()
    token = page.context["csrf_token"]
    before = db_state()

    def check(**changes: str) -> dict[str, Any]:
        # as protocol.js sends them: filled fields only, whole numbers as JSON numbers
        values: dict[str, int | str] = {
            k: int(v) if v.isdigit() and k != "L17" else v
            for k, v in form_values(**changes).items()
            if v
        }
        response = client.post(
            check_url,
            json.dumps({"station": "1-1", "values": values}),
            content_type="application/json",
            headers={"X-CSRFToken": str(token)},
        )
        assert response.status_code in (200, 422), response.content
        return dict(response.json())

    good = check()
    assert good["acceptable"] is True and good["candidates_total"] == 680
    bad = check(C1="501")
    assert bad["acceptable"] is False
    failed = [c["code"] for c in bad["checks"] if c["passed"] is False]
    assert failed == ["AZ-6"]
    act = check(**MOBILE_EXCESS)
    assert [c["code"] for c in act["checks"] if c["passed"] is False] == ["AZ-2"]
    partial = check(L5="")
    assert partial["error"]["code"] == "missing_line"
    assert db_state() == before
    assert not ProtocolValue.objects.exists()


def test_station_codes_of_two_elections_do_not_mix(
    election: Election, personas: Personas, tmp_path: Any
) -> None:
    """An operator of election A keys 1-1 of A even though election B has a 1-1 too."""
    other = load_election(tmp_path / "b", slug="b-2024", name="B")
    assert submit(personas.client("op11"), election).status_code == 302
    assert Protocol.objects.filter(election=election).count() == 1
    assert not Protocol.objects.filter(election=other).exists()
    # and the operator has no role in B
    response = personas.client("op11").post(url(other), {"station": "1-1", **form_values()})
    assert refused(response, 403, "b-2024") == "forbidden_role"


def test_a_relation_is_reported_on_its_left_side_line(
    election: Election, personas: Personas
) -> None:
    """L12 + L13 (ballots in the boxes) too large: the error sits on L13, the line that holds
    the ballots, not on L12 = 0 (the first line named in alphabetical order)."""
    from tests.staff.conftest import form_values

    boxes = int(form_values()["L13"])
    before = db_state()
    response = submit(personas.client("op11"), election, L13=str(boxes + 600))
    assert response.status_code == 422
    assert response.context["problem"].code == "hard_check_failed"
    assert response.context["problem"].field == "L13"
    assert 'id="err-L13"' in response.content.decode()
    assert db_state() == before


def test_the_form_says_when_the_station_already_has_an_accepted_protocol(
    election: Election, personas: Personas
) -> None:
    client = personas.client("op11")
    page = client.get(f"/staff/e/{election.slug}/protocol/").content.decode()
    assert 'id="already-accepted"' not in page
    assert submit(client, election).status_code == 302
    page = client.get(f"/staff/e/{election.slug}/protocol/").content.decode()
    assert 'id="already-accepted"' in page
    assert "Station 1-1 already has an accepted protocol (version 1)" in page
    assert f'href="/staff/e/{election.slug}/stations/1-1/"' in page
    # a refusal reads as plain words, the machine code kept for software
    refused = submit(client, election)
    body = refused.content.decode()
    assert refused.status_code == 409 and "HTTP 409" not in body
    assert 'data-code="duplicate"' in body and "Not saved" in body
