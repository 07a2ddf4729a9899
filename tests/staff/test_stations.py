"""A station's page: amendments and annulments keep every version and event; publishing;
who may open which page (role × territory)."""

from __future__ import annotations

from typing import Any

import pytest

from secki.elections.models import Election
from secki.protocols import actions
from secki.protocols.data import parse_protocol
from secki.protocols.models import EventKind, Protocol, ProtocolEvent
from tests.staff.conftest import Personas, db_state, form_values, station

pytestmark = pytest.mark.django_db


def page(election: Election, code: str, action: str = "") -> str:
    return f"/staff/e/{election.slug}/stations/{code}/" + (f"{action}/" if action else "")


def accept(election: Election, personas: Personas, code: str = "1-1") -> Protocol:
    """A counted protocol for ``code``, entered through the form by the CEC administrator."""
    response = personas.client("admin").post(
        f"/staff/e/{election.slug}/protocol/", {"station": code, **form_values(code)}
    )
    assert response.status_code == 302
    return Protocol.objects.get(station__code=code, is_current=True)


def test_amendment_is_a_new_version_and_keeps_the_history(
    election: Election, personas: Personas
) -> None:
    first = accept(election, personas)
    north = personas.client("north")
    form = north.get(page(election, "1-1", "amend"))
    assert form.status_code == 200
    assert {f.code: f.value for f in form.context["fields"]}["C1"] == "500"
    assert {f.code: f.value for f in form.context["fields"]}["L17"] == "2024-02-07T21:30"

    before = db_state()
    no_reason = north.post(page(election, "1-1", "amend"), form_values(C1="499", C2="121"))
    assert no_reason.status_code == 422
    assert no_reason.context["problem"].code == "reason_required"
    unchanged = north.post(page(election, "1-1", "amend"), {**form_values(), "reason": "same"})
    assert unchanged.status_code == 409
    assert "changes nothing" in unchanged.context["problem"].message
    bad = north.post(page(election, "1-1", "amend"), {**form_values(C1="499"), "reason": "recount"})
    assert bad.status_code == 422 and "AZ-6" in bad.context["problem"].message
    assert db_state() == before

    response = north.post(
        page(election, "1-1", "amend"),
        {**form_values(C1="499", C2="121"), "reason": "ConEC recount of 9 Feb"},
    )
    assert response.status_code == 302
    first.refresh_from_db()
    second = Protocol.objects.get(station__code="1-1", is_current=True)
    assert (first.is_current, second.version, second.reason) == (False, 2, "ConEC recount of 9 Feb")
    assert dict(second.values.values_list("code", "value"))["C1"] == 499
    assert dict(first.values.values_list("code", "value"))["C1"] == 500  # the old one stays
    event = ProtocolEvent.objects.get(protocol=second, kind=EventKind.AMENDED)
    assert event.actor == personas["north"]
    assert (event.old["candidates"], event.new["candidates"]) == ([500, 120, 60], [499, 121, 60])

    history = north.get(page(election, "1-1"))
    rows = history.context["history"]
    assert [r.event.kind for r in rows] == [EventKind.ACCEPTED, EventKind.AMENDED]
    assert [(c.code, c.old, c.new) for c in rows[1].changes] == [
        ("C1", "500", "499"),
        ("C2", "120", "121"),
    ]
    body = history.content.decode()
    assert "ConEC recount of 9 Feb" in body and "by north" in body
    assert [p.version for p in history.context["versions"]] == [1, 2]
    assert "version 2 (published) replaces version 1" in body


def test_annulment_keeps_the_record(election: Election, personas: Personas) -> None:
    accept(election, personas)
    admin = personas.client("admin")
    assert admin.get(page(election, "1-1", "annul")).status_code == 200

    before = db_state()
    missing = admin.post(page(election, "1-1", "annul"), {"decision_ref": " ", "reason": "x"})
    assert missing.status_code == 422
    assert missing.context["problem"].field == "decision_ref"
    for persona in ("north", "op11", "supervisor", "observer", "outsider"):
        response = personas.client(persona).post(
            page(election, "1-1", "annul"), {"decision_ref": "CEC 12/3"}
        )
        assert response.status_code == 403, persona
    assert db_state() == before

    response = admin.post(
        page(election, "1-1", "annul"),
        {"decision_ref": "CEC decision 12/3", "reason": "ballot stuffing on camera"},
    )
    assert response.status_code == 302
    versions = list(Protocol.objects.filter(station__code="1-1").order_by("version"))
    assert [(p.version, p.status, p.is_current) for p in versions] == [
        (1, "published", False),
        (2, "annulled", True),
    ]
    assert dict(versions[1].values.values_list("code", "value"))["C1"] == 500
    body = admin.get(page(election, "1-1")).content.decode()
    assert "decision CEC decision 12/3: ballot stuffing on camera" in body
    assert "Annulled" in body

    # no further protocol is taken for the station, nor an amendment
    before = db_state()
    again = admin.post(f"/staff/e/{election.slug}/protocol/", {"station": "1-1", **form_values()})
    assert again.status_code == 409 and again.context["problem"].code == "annulled"
    amend = admin.post(page(election, "1-1", "amend"), {**form_values(), "reason": "x"})
    assert amend.status_code == 409
    assert db_state() == before


def test_amending_needs_a_counted_protocol(election: Election, personas: Personas) -> None:
    response = personas.client("admin").get(page(election, "1-2", "amend"))
    assert response.status_code == 409
    assert "no accepted protocol to amend" in response.context["problem"].message


def test_publish_when_the_election_does_not_auto_publish(
    election: Election, personas: Personas
) -> None:
    election.auto_publish = False
    election.save(update_fields=["auto_publish"])
    protocol = accept(election, personas)
    assert protocol.status == "accepted"
    before = db_state()
    for persona in ("north", "op11", "observer"):
        response = personas.client(persona).post(page(election, "1-1", "publish"))
        assert response.status_code == 403, persona
    assert db_state() == before
    supervisor = personas.client("supervisor")
    assert "Publish version 1" in supervisor.get(page(election, "1-1")).content.decode()
    assert supervisor.post(page(election, "1-1", "publish")).status_code == 302
    protocol.refresh_from_db()
    assert protocol.status == "published"
    again = supervisor.post(page(election, "1-1", "publish"))
    assert again.status_code == 409
    assert supervisor.get(page(election, "1-1", "publish")).status_code == 405


def test_station_list_is_limited_to_the_territory(election: Election, personas: Personas) -> None:
    accept(election, personas, "1-2")
    listing = personas.client("north").get(f"/staff/e/{election.slug}/stations/")
    assert [s.code for s in listing.context["page"]] == ["1-1", "1-2"]
    assert [s.status for s in listing.context["page"]] == [None, "published"]
    everything = personas.client("observer").get(f"/staff/e/{election.slug}/stations/")
    assert [s.code for s in everything.context["page"]] == ["1-1", "1-2", "2-1", "2-2"]
    waiting = personas.client("observer").get(
        f"/staff/e/{election.slug}/stations/", {"status": "none"}
    )
    assert [s.code for s in waiting.context["page"]] == ["1-1", "2-1", "2-2"]
    south = personas.client("observer").get(f"/staff/e/{election.slug}/stations/", {"q": "2-"})
    assert [s.code for s in south.context["page"]] == ["2-1", "2-2"]


# -- who may open which page -------------------------------------------------------------------

PERSONAS = ["admin", "north", "op11", "supervisor", "observer", "outsider"]
MATRIX: list[tuple[str, str, list[str]]] = [
    # (page, station, personas answered 200; everyone else gets 403)
    ("protocol", "", ["admin", "north", "op11"]),
    ("upload", "", ["admin", "north", "op11"]),
    ("reconcile", "", ["admin", "supervisor"]),
    ("stations", "", ["admin", "north", "op11", "supervisor", "observer"]),
    ("station", "1-1", ["admin", "north", "op11", "supervisor", "observer"]),
    ("station", "2-1", ["admin", "supervisor", "observer"]),
    ("amend", "1-1", ["admin", "north"]),
    ("amend", "2-1", ["admin"]),
    ("annul", "1-1", ["admin"]),
]


@pytest.mark.parametrize(("name", "code", "allowed"), MATRIX)
def test_page_permissions(
    election: Election, personas: Personas, name: str, code: str, allowed: list[str]
) -> None:
    for c in ("1-1", "2-1"):
        actions.submit_protocol(
            election,
            station(election, c),
            actions_data(election, c),
            actor=personas["admin"],
            source="form",
        )
    if name in ("station", "amend", "annul"):
        url = page(election, code, "" if name == "station" else name)
    else:
        url = f"/staff/e/{election.slug}/{name}/"
    for persona in PERSONAS:
        response = personas.client(persona).get(url)
        expected = 200 if persona in allowed else 403
        assert response.status_code == expected, (persona, url)


def actions_data(election: Election, code: str) -> Any:
    return parse_protocol(election.protocol_schema(), 3, form_values(code), election.tz)
