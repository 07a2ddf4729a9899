"""Double-blind entry through the form and the reconciliation queue: equal entries are
accepted; differing ones are quarantined, shown side by side and decided by a supervisor with
a reason through resolve_protocol."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from secki.elections.models import Election
from secki.protocols.models import EventKind, Protocol, ProtocolEntry, ProtocolEvent
from tests.staff.conftest import Personas, db_state, form_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def double(election: Election) -> Election:
    election.double_entry = True
    election.save(update_fields=["double_entry"])
    return election


def key(client: Client, election: Election, station: str = "1-1", **changes: str) -> Any:
    data = {"station": station, **form_values(station, **changes)}
    return client.post(f"/staff/e/{election.slug}/protocol/", data)


def decide_url(election: Election, station: str = "1-1") -> str:
    return f"/staff/e/{election.slug}/reconcile/{station}/"


def values_of(protocol: Protocol) -> dict[str, int]:
    return dict(protocol.values.values_list("code", "value"))


def test_equal_entries_are_accepted(double: Election, personas: Personas) -> None:
    op11 = personas.client("op11")
    response = key(op11, double)
    assert response.status_code == 302
    protocol = Protocol.objects.get(station__code="1-1")
    assert protocol.status == "first_entry" and not protocol.values.exists()
    page = op11.get(response["Location"]).content.decode()
    assert "entry 1 stored" in page and "First entry" in page

    # the same operator cannot be the second pair of eyes
    before = db_state()
    again = key(op11, double)
    assert again.status_code == 409
    assert again.context["problem"].code == "same_operator"
    assert db_state() == before

    north = personas.client("north")
    response = key(north, double)
    assert response.status_code == 302
    protocol.refresh_from_db()
    assert protocol.status == "published"
    assert values_of(protocol)["C1"] == 500
    assert ProtocolEntry.objects.filter(protocol=protocol).count() == 2
    page = north.get(response["Location"]).content.decode()
    assert "protocol published (version 1)" in page


def test_the_second_operator_keys_blind(double: Election, personas: Personas) -> None:
    key(personas.client("op11"), double, C1="512", C2="108")
    north = personas.client("north")
    form = north.get(f"/staff/e/{double.slug}/protocol/", {"station": "1-1"})
    assert all(f.value == "" for f in form.context["fields"])
    assert 'value="512"' not in form.content.decode()
    station = north.get(f"/staff/e/{double.slug}/stations/1-1/").content.decode()
    assert "values hidden until the second entry is keyed" in station
    assert "C1=512" not in station and "512" not in station
    assert "Key entry 2" in station


def test_differing_entries_are_quarantined_and_resolved_with_entry_2(
    double: Election, personas: Personas
) -> None:
    key(personas.client("op11"), double, C1="510", C2="110")  # mistyped: 510 + 110 + 60 = 680
    north = personas.client("north")
    response = key(north, double)
    assert response.status_code == 302
    protocol = Protocol.objects.get(station__code="1-1")
    assert protocol.status == "quarantined"
    assert protocol.quarantine_reason == "entries differ on C1, C2"
    assert not protocol.values.exists()  # nothing counts while quarantined
    page = north.get(response["Location"]).content.decode()
    assert "entry 2 stored and compared — quarantined (entries differ on C1, C2)" in page

    supervisor = personas.client("supervisor")
    queue = supervisor.get(f"/staff/e/{double.slug}/reconcile/")
    assert queue.status_code == 200
    (case,) = queue.context["cases"]
    assert [(f.code, f.first, f.second) for f in case.differing] == [
        ("C1", "510", "500"),
        ("C2", "110", "120"),
    ]
    body = queue.content.decode()
    assert '<tr class="differs"><td>C1' in body and "entries differ on C1, C2" in body

    page = supervisor.get(decide_url(double))
    assert page.status_code == 200
    body = page.content.decode()
    assert body.count('class="differs"') == 2
    # the corrected values start from what both entries agree on; differing lines are blank
    typed = {f.code: f.value for f in page.context["case"].fields}
    assert typed["L14"] == "680" and typed["C1"] == "" and typed["C2"] == ""

    # a reason is mandatory
    before = db_state()
    response = supervisor.post(decide_url(double), {"choice": "2", "reason": "  "})
    assert response.status_code == 422
    assert response.context["problem"].code == "reason_required"
    assert db_state() == before
    # and a choice
    response = supervisor.post(decide_url(double), {"reason": "re-read"})
    assert response.status_code == 400
    assert response.context["problem"].field == "choice"
    assert db_state() == before

    response = supervisor.post(
        decide_url(double), {"choice": "2", "reason": "paper says 500/120; entry 1 mistyped"}
    )
    assert response.status_code == 302
    protocol.refresh_from_db()
    assert protocol.status == "published"
    assert values_of(protocol)["C1"] == 500 and values_of(protocol)["C2"] == 120
    event = ProtocolEvent.objects.get(protocol=protocol, kind=EventKind.RESOLVED)
    assert event.actor == personas["supervisor"]
    assert event.reason == "paper says 500/120; entry 1 mistyped"
    assert supervisor.get(f"/staff/e/{double.slug}/reconcile/").context["cases"] == []
    # the queue no longer offers it
    assert supervisor.get(decide_url(double)).status_code == 404


def test_supervisor_types_corrected_values(double: Election, personas: Personas) -> None:
    key(personas.client("op11"), double, C1="510", C2="110")
    key(personas.client("north"), double, C1="505", C2="115")
    supervisor = personas.client("supervisor")
    corrected = form_values("1-1", C1="502", C2="118")

    before = db_state()
    bad = supervisor.post(
        decide_url(double), {**corrected, "C2": "11B", "choice": "typed", "reason": "paper"}
    )
    assert bad.status_code == 422
    assert bad.context["problem"].field == "C2" and "C2" in bad.context["problem"].message
    failing = supervisor.post(
        decide_url(double), {**corrected, "C2": "119", "choice": "typed", "reason": "paper"}
    )
    assert failing.status_code == 422
    assert "AZ-6" in failing.context["problem"].message
    assert db_state() == before

    response = supervisor.post(
        decide_url(double), {**corrected, "choice": "typed", "reason": "re-read the paper"}
    )
    assert response.status_code == 302
    protocol = Protocol.objects.get(station__code="1-1")
    assert protocol.status == "published"
    assert (values_of(protocol)["C1"], values_of(protocol)["C2"]) == (502, 118)


def test_entries_failing_a_hard_check_show_their_failures(
    double: Election, personas: Personas
) -> None:
    key(personas.client("op11"), double, C1="501")
    key(personas.client("north"), double, C1="501")
    protocol = Protocol.objects.get(station__code="1-1")
    assert protocol.status == "quarantined"
    assert protocol.quarantine_reason == "fails hard check AZ-6"
    page = personas.client("supervisor").get(decide_url(double))
    case = page.context["case"]
    assert [r.code for r in case.first_failures] == ["AZ-6"]
    assert [r.code for r in case.second_failures] == ["AZ-6"]
    assert case.differing == []
    # taking an entry that fails a hard check is refused
    before = db_state()
    supervisor = personas.client("supervisor")
    response = supervisor.post(decide_url(double), {"choice": "1", "reason": "x"})
    assert response.status_code == 422
    assert "AZ-6" in response.context["problem"].message
    assert db_state() == before


def test_only_supervisors_and_admins_reconcile(double: Election, personas: Personas) -> None:
    key(personas.client("op11"), double, C1="510", C2="110")
    key(personas.client("north"), double)
    for persona in ("op11", "north", "observer", "outsider"):
        client = personas.client(persona)
        assert client.get(f"/staff/e/{double.slug}/reconcile/").status_code == 403, persona
        before = db_state()
        response = client.post(decide_url(double), {"choice": "1", "reason": "mine"})
        assert response.status_code == 403, persona
        assert db_state() == before
    admin = personas.client("admin")
    response = admin.post(decide_url(double), {"choice": "1", "reason": "CEC decided"})
    assert response.status_code == 302
    assert Protocol.objects.get(station__code="1-1").status == "published"
