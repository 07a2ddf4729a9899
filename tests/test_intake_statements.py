"""The statements of one protocol and one turnout report through the API (issue 15): every
statement is CPU of the application and of the database on election night, so their number is
pinned, whichever cursor sends them (:func:`secki.rawsql.counting`). And what fewer statements
must not cost: the caller's roles are read with the election and the station for each request
(a revoked membership refuses the very next write), and a protocol's events are written with
it, naming it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from secki import rawsql
from secki.accounts.models import ApiToken, Membership, Role
from secki.api.models import IdempotencyRecord
from secki.elections.models import Election
from secki.ledger.chain import verify
from secki.ledger.drafts import protocol_subject
from secki.ledger.models import LedgerEntry
from secki.protocols.models import EventKind, Protocol, ProtocolEvent
from secki.turnout.models import TurnoutReport
from tests.factories import write_small_bundle
from tests.personas import Persona, make_personas
from tests.protocols.test_api import good, register_only

pytestmark = pytest.mark.django_db

#: a write's statements when it runs alone, once the process knows the election's form, on
#: PostgreSQL: the token (and its last use, at most once a minute), the election, the station
#: and the caller's memberships in one, the station's lock, what the station holds, the write
#: (a protocol: its row, line values and events in one), the log's lock, where the log ends,
#: the log's entry
POSTGRES = {"protocol": 7, "turnout": 7}
#: on SQLite: no row or advisory locks; the token a statement of its own, and a protocol's
#: line values and events each one too
SQLITE = {"protocol": 8, "turnout": 6}
#: what an Idempotency-Key adds: on PostgreSQL the key's record, read with the token, written
#: with its answer after the log's entry (one statement); on SQLite its claim and its answer
KEYED = {"postgresql": 1, "sqlite": 2}
#: a retry of a write whose answer is stored, on PostgreSQL: the token's statement, which
#: finds the key's record (the work does not run)
RETRY = 1


@pytest.fixture
def small(tmp_path: Path) -> tuple[Election, dict[str, Persona]]:
    election = register_only(write_small_bundle(tmp_path / "small"))
    return election, make_personas(election)


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def pinned(kind: str) -> int:
    return (POSTGRES if connection.vendor == "postgresql" else SQLITE)[kind]


def test_one_protocol_through_the_api_is_a_pinned_number_of_statements(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    election, people = small
    client = people["con1"].client()  # a constituency's operator: a membership with its unit
    # a first write fills what the process keeps (the election's form and candidates)
    assert (
        post(client, f"/api/v1/elections/{election.slug}/protocols", good("1-2")).status_code == 201
    )
    with rawsql.counting() as sent:
        response = post(client, f"/api/v1/elections/{election.slug}/protocols", good("1-1"))
    assert response.status_code == 201, response.json()
    assert len(sent) == pinned("protocol"), "\n".join(sent.sql)
    protocol = Protocol.objects.get(station__code="1-1")
    events = list(ProtocolEvent.objects.filter(station__code="1-1").order_by("id"))
    assert [(e.protocol_id, e.kind, e.actor_id) for e in events] == [
        (protocol.pk, EventKind.ACCEPTED, people["con1"].user.pk)
    ]
    assert events[0].new["counts"]["L1"] == good("1-1")["values"]["L1"]
    assert (
        LedgerEntry.objects.filter(election=election, subject=protocol_subject("1-1")).count() == 1
    )
    assert verify().ok


def test_one_turnout_report_through_the_api_is_a_pinned_number_of_statements(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    election, people = small
    client = people["st11"].client()  # a station's operator: a membership with its station
    times = election.turnout_times
    first = {"station": "1-1", "time": times[0], "voters": 100}
    assert post(client, f"/api/v1/elections/{election.slug}/turnout", first).status_code == 201
    body = {"station": "1-1", "time": times[1], "voters": 150}
    with rawsql.counting() as sent:
        response = post(client, f"/api/v1/elections/{election.slug}/turnout", body)
    assert response.status_code == 201, response.json()
    assert len(sent) == pinned("turnout"), "\n".join(sent.sql)
    assert TurnoutReport.objects.get(station__code="1-1", time=times[1]).voters == 150


def test_an_act_and_the_acceptance_are_written_with_the_protocol(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    """Both events of a protocol accepted with the commission's act name the protocol, in
    order (on PostgreSQL they are inserted by the protocol's own statement)."""
    election, people = small
    body = good("1-2")
    body["act"] = "Act 12 of the precinct commission"
    response = post(people["cec"].client(), f"/api/v1/elections/{election.slug}/protocols", body)
    assert response.status_code == 201, response.json()
    protocol = Protocol.objects.get(station__code="1-2")
    events = ProtocolEvent.objects.filter(protocol=protocol).order_by("id")
    assert [(e.kind, e.reason) for e in events] == [
        (EventKind.ACT_RECORDED, body["act"]),
        (EventKind.ACCEPTED, ""),
    ]


def test_the_roles_read_with_the_station_are_the_callers_own_and_current(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    """The memberships come with the election and the station in one statement: several of
    them are all considered, another territory is refused, and a revoked one refuses the next
    request at once (nothing is kept between requests)."""
    election, people = small
    con1 = people["con1"]
    protocols = f"/api/v1/elections/{election.slug}/protocols"
    turnout = f"/api/v1/elections/{election.slug}/turnout"
    refused = post(con1.client(), protocols, good("2-1"))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden_territory"
    # a second membership, on the other constituency: both are read, the newer one grants
    Membership.objects.create(
        user=con1.user,
        election=election,
        role=Role.CONSTITUENCY_OPERATOR,
        unit=election.units.get(code="2"),
    )
    assert post(con1.client(), protocols, good("2-1")).status_code == 201
    report = {"station": "1-1", "time": election.turnout_times[0], "voters": 10}
    assert post(con1.client(), turnout, report).status_code == 201
    Membership.objects.filter(user=con1.user).delete()
    client = con1.client()
    gone = post(client, protocols, good("1-1"))
    assert gone.status_code == 403
    assert gone.json()["error"]["code"] == "forbidden_role"
    report = {"station": "1-2", "time": election.turnout_times[0], "voters": 10}
    assert post(client, turnout, report).status_code == 403
    assert not Protocol.objects.filter(station__code="1-1").exists()
    # someone else's memberships are not the caller's
    outsider = post(people["outsider"].client(), protocols, good("1-2"))
    assert outsider.status_code == 403
    assert outsider.json()["error"]["code"] == "forbidden_role"


@pytest.mark.parametrize("kind", ["protocols", "turnout"])
def test_the_token_read_with_the_station_is_current(
    small: tuple[Election, dict[str, Persona]], kind: str
) -> None:
    """The token comes with the election, the station and the roles in one statement: its
    last use is recorded, a revoked token or a deactivated account is refused at the very next
    request, an unknown election is a 404 and an unknown station named."""
    election, people = small
    cec = people["cec"]
    url = f"/api/v1/elections/{election.slug}/{kind}"
    times = election.turnout_times

    def body(station: str) -> dict[str, Any]:
        if kind == "protocols":
            return good(station)
        return {"station": station, "time": times[0], "voters": 10}

    assert ApiToken.objects.get(user=cec.user).last_used_at is None
    assert post(cec.client(), url, body("1-1")).status_code == 201
    assert ApiToken.objects.get(user=cec.user).last_used_at is not None
    missing = post(cec.client(), f"/api/v1/elections/nowhere/{kind}", body("1-1"))
    assert missing.status_code == 404
    unknown = post(cec.client(), url, {**body("1-1"), "station": "9-9"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_station"

    cec.user.is_active = False
    cec.user.save(update_fields=["is_active"])
    assert post(cec.client(), url, body("1-2")).status_code == 401
    cec.user.is_active = True
    cec.user.save(update_fields=["is_active"])
    assert post(cec.client(), url, body("1-2")).status_code == 201

    ApiToken.objects.get(user=cec.user).revoke()
    refused = post(cec.client(), url, body("2-1"))
    assert refused.status_code == 401
    # a bad token and an unknown election: the election is looked up first, as for a read
    assert post(cec.client(), f"/api/v1/elections/nowhere/{kind}", body("2-1")).status_code == 404
    stored = Protocol if kind == "protocols" else TurnoutReport
    assert not stored.objects.filter(station__code="2-1").exists()


def test_a_session_caller_writes_with_its_roles_read_with_the_station(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    """Without a bearer token (a browser session, with the CSRF token) the caller's roles are
    read with the election and the station too: its own territory is taken, another refused,
    and a write without the CSRF token is anonymous."""
    election, people = small
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["con1"].user)
    client.get("/staff/")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    url = f"/api/v1/elections/{election.slug}/turnout"
    time = election.turnout_times[0]

    def report(station: str, **headers: str) -> Any:
        body = {"station": station, "time": time, "voters": 10}
        return client.post(url, json.dumps(body), content_type="application/json", headers=headers)

    assert report("1-1").status_code == 401
    assert report("1-1", **{"X-CSRFToken": csrf}).status_code == 201
    other = report("2-1", **{"X-CSRFToken": csrf})
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "forbidden_territory"
    assert list(TurnoutReport.objects.values_list("station__code", flat=True)) == ["1-1"]


def test_an_event_written_with_its_protocol_keeps_its_columns_limits(
    small: tuple[Election, dict[str, Persona]],
) -> None:
    """The events inserted by the protocol's own statement go through the columns' own types:
    a reason longer than its column is refused, not cut (the actions refuse it first; this is
    the database's backstop), and the protocol with it. PostgreSQL only: SQLite keeps no
    length, and inserts the events by a statement of their own."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not limit a column's length")
    from django.db import DataError, transaction
    from django.utils import timezone

    from secki.protocols import store

    election, _ = small
    station = election.stations.get(code="2-2")
    event = ProtocolEvent(
        election_id=election.pk,
        station_id=station.pk,
        kind=EventKind.ACCEPTED,
        at=timezone.now(),
        reason="x" * 501,
    )
    with pytest.raises(DataError), transaction.atomic():
        store.insert_protocol(
            {"L1": 1},
            [event],
            election=election,
            station=station,
            version=1,
            status="accepted",
            source="api",
            received_at=timezone.now(),
            checks=[],
            soft_failures=[],
        )
    assert not Protocol.objects.filter(station=station).exists()


@pytest.mark.parametrize("kind", ["protocols", "turnout"])
def test_an_idempotency_key_costs_one_statement_and_its_retry_runs_no_work(
    small: tuple[Election, dict[str, Persona]], kind: str
) -> None:
    election, people = small
    client = people["cec"].client()
    url = f"/api/v1/elections/{election.slug}/{kind}"
    times = election.turnout_times

    def body(station: str) -> dict[str, Any]:
        if kind == "protocols":
            return good(station)
        return {"station": station, "time": times[0], "voters": 10}

    def keyed(station: str, key: str) -> Any:
        return client.post(
            url,
            data=json.dumps(body(station)),
            content_type="application/json",
            headers={"Idempotency-Key": key},
        )

    assert keyed("1-2", "warm").status_code == 201  # fills what the process keeps
    entries = LedgerEntry.objects.count()
    with rawsql.counting() as sent:
        first = keyed("1-1", "k-1")
    assert first.status_code == 201, first.json()
    alone = pinned("protocol" if kind == "protocols" else "turnout")
    assert len(sent) == alone + KEYED[connection.vendor], "\n".join(sent.sql)
    with rawsql.counting() as sent:
        again = keyed("1-1", "k-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    if connection.vendor == "postgresql":
        assert len(sent) == RETRY, "\n".join(sent.sql)
    assert LedgerEntry.objects.count() == entries + 1
    stored = Protocol if kind == "protocols" else TurnoutReport
    assert stored.objects.filter(station__code="1-1").count() == 1
    # the same key for another request is refused
    reused = keyed("2-1", "k-1")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert not stored.objects.filter(station__code="2-1").exists()
    assert verify().ok


@pytest.mark.django_db(transaction=True)  # the request's own transaction is rolled back
@pytest.mark.parametrize("kind", ["protocols", "turnout"])
def test_a_key_stored_meanwhile_rolls_the_work_back_and_answers_what_it_holds(
    small: tuple[Election, dict[str, Persona]], kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key's record is read with the token; when a concurrent request stores the key after
    that read, this request's work runs, its record is not inserted, and the work is rolled
    back: nothing of it is stored, and the answer is the one the key holds."""
    from django.test import RequestFactory

    from secki.api import idempotency, store

    election, people = small
    cec = people["cec"]
    url = f"/api/v1/elections/{election.slug}/{kind}"
    if kind == "protocols":
        body = good("1-1")
    else:
        body = {"station": "1-1", "time": election.turnout_times[0], "voters": 10}
    payload = json.dumps(body)
    # what the concurrent request stored (its answer, not this work's)
    print_ = idempotency.fingerprint(
        RequestFactory().post(url, data=payload, content_type="application/json")
    )
    IdempotencyRecord.objects.create(
        user=cec.user, key="k", fingerprint=print_, status=201, body={"stored": "meanwhile"}
    )
    read = store.token_election_and_station
    # the read happened before the concurrent request committed: it found no record
    monkeypatch.setattr(
        store,
        "token_election_and_station",
        lambda *args, **kwargs: read(*args, **kwargs)._replace(stored=None),
    )
    entries = LedgerEntry.objects.count()
    answer = cec.client().post(
        url, data=payload, content_type="application/json", headers={"Idempotency-Key": "k"}
    )
    assert answer.status_code == 201
    assert answer.json() == {"stored": "meanwhile"}
    assert answer.headers["Idempotent-Replayed"] == "true"
    stored = Protocol if kind == "protocols" else TurnoutReport
    assert not stored.objects.filter(station__code="1-1").exists()
    assert LedgerEntry.objects.count() == entries
    assert verify().ok
