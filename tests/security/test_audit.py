"""The audit trail (issue 12): every change of an election, its settings and status, the
register, a membership or an API token leaves an AuditRecord (who, what, before, after,
when), through each path that makes it — the actions, the staff pages, the Django admin and
the command line; the register is frozen once the election opens (only an audited amendment
with a reason, logged publicly); ``import --replace`` never discards results; every action
checks role and territory; the trail is readable by CEC administrators as a page and a CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.utils import timezone

from secki.accounts import actions
from secki.accounts.access import GRANTS, AccessDenied, Permission
from secki.accounts.models import ApiToken, AuditRecord, Membership, Role
from secki.bundle.read import read_bundle
from secki.cli import cli
from secki.elections.models import Candidate, Election, ElectionStatus, Station, Unit
from secki.errors import IntakeError
from secki.intake.bundle_io import import_bundle
from secki.ledger import chain
from secki.ledger.models import LedgerEntry, LogFile
from secki.protocols.models import Protocol
from secki.tlog.entries import format_time
from secki.turnout.models import TurnoutReport
from tests.factories import write_small_bundle
from tests.logcheck import bodies, check_log

pytestmark = pytest.mark.django_db

SLUG = "testland-2024"


# -- fixtures: an election being set up, and the people who act on it ------------------------


def register_only(directory: Path, **overrides: Any) -> Path:
    """The small bundle without results: 2 constituencies, stations 1-1, 1-2, 2-1, 2-2."""
    source = write_small_bundle(directory, **overrides)
    for name in ("turnout.csv", "protocols.csv"):
        (source / name).unlink()
    return source


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return import_bundle(read_bundle(register_only(tmp_path / "setup")), status="setup")


class People:
    """root (superuser), cec (CEC admin, whole election), north_cec (CEC admin of
    constituency 1), north (constituency operator of 1), op11 (operator of station 1-1),
    outsider (no role) — their roles granted through the real action, from the command line."""

    def __init__(self, election: Election) -> None:
        users = User.objects
        self.election = election
        self.users = {"root": users.create_superuser("root", password="pw-root")}
        north = Unit.objects.get(election=election, code="1")
        spec: list[tuple[str, str | None, dict[str, Any]]] = [
            ("cec", Role.CEC_ADMIN, {}),
            ("north_cec", Role.CEC_ADMIN, {"unit": north}),
            ("north", Role.CONSTITUENCY_OPERATOR, {"unit": north}),
            ("op11", Role.STATION_OPERATOR, {"station": station(election, "1-1")}),
            ("outsider", None, {}),
        ]
        for name, role, scope in spec:
            user = users.create_user(name, password=f"pw-{name}")
            if role:
                actions.grant(None, user, election, role, **scope)
            self.users[name] = user

    def __getitem__(self, name: str) -> User:
        return self.users[name]

    def client(self, name: str) -> Client:
        client = Client()
        client.force_login(self.users[name])
        return client


@pytest.fixture
def people(election: Election) -> People:
    return People(election)


def station(election: Election, code: str) -> Station:
    return Station.objects.get(election=election, code=code)


def last(action: str) -> AuditRecord:
    record = AuditRecord.objects.filter(action=action).order_by("-id").first()
    assert record is not None, f"no audit record {action}"
    return record


def count(action: str) -> int:
    return AuditRecord.objects.filter(action=action).count()


def recent(record: AuditRecord) -> bool:
    return abs((timezone.now() - record.at).total_seconds()) < 600


def secki(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def is_cli(record: AuditRecord) -> bool:
    return record.actor is None and record.actor_name.startswith("cli:")


def register_state() -> list[tuple[Any, ...]]:
    """Everything of the register, to prove that a refused change stored nothing."""
    return [
        *Election.objects.values_list("slug", "status", "name", "win_rule"),
        *Unit.objects.order_by("id").values_list("code", "name", "path"),
        *Station.objects.order_by("id").values_list("code", "registered", "name", "unit_path"),
        *Candidate.objects.order_by("id").values_list("number", "name"),
        *Membership.objects.order_by("id").values_list("user_id", "role", "unit_id", "station_id"),
    ]


class FormReader(HTMLParser):
    """The fields a browser would submit from the page's admin form (``id="*_form"``)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, Any] = {}
        self._in_form = False
        self._select: str | None = None
        self._first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data[name] = a.get("value", "on")
            elif kind not in ("submit", "button", "file"):
                self.data[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select, self._first = name, None
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = a.get("value", "")
                self.data.setdefault(self._select, self._first)
            if "selected" in a:
                self.data[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += (
                data.removeprefix("\n") if not self.data[self._textarea] else data
            )

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in_form = False


def admin_form(client: Client, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, url
    reader = FormReader()
    reader.feed(response.content.decode())
    return reader.data


def admin_messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def follow_messages(client: Client, response: Any) -> str:
    """The messages the admin shows after a redirect."""
    assert response.status_code == 302, response.status_code
    return client.get(response["Location"]).content.decode()


# -- elections: created, imported, settings, status ------------------------------------------


def test_import_from_the_command_line_is_audited(tmp_path: Path) -> None:
    source = register_only(tmp_path / "in")
    result = secki("import", str(source), "--no-migrate", "--status", "setup")
    assert result.exit_code == 0, result.output
    election = Election.objects.get(slug=SLUG)
    assert election.status == ElectionStatus.SETUP
    record = last("election.imported")
    assert is_cli(record) and recent(record)
    assert record.election == election and record.target == SLUG and record.before is None
    assert record.after["name"] == "Testland presidential election"
    assert record.after["loaded"] == {
        "units": 3,
        "stations": 4,
        "registered": 3300,
        "candidates": 3,
        "turnout": 0,
        "protocols": 0,
    }


def test_replacing_a_register_in_setup_is_audited_with_what_it_replaced(
    election: Election, tmp_path: Path
) -> None:
    source = register_only(tmp_path / "again", name="Testland, corrected")
    result = secki("import", str(source), "--no-migrate", "--replace", "--status", "setup")
    assert result.exit_code == 0, result.output
    record = last("election.imported")
    assert record.before["name"] == "Testland presidential election"
    assert record.after["name"] == "Testland, corrected"
    assert count("election.imported") == 2


@pytest.mark.parametrize("results", ["protocols", "turnout"])
def test_import_replace_of_an_election_with_results_is_refused(
    tmp_path: Path, results: str
) -> None:
    source = write_small_bundle(tmp_path / "in")
    if results == "turnout":  # turnout reports alone are results too
        (source / "protocols.csv").unlink()
    assert secki("import", str(source), "--no-migrate").exit_code == 0
    election = Election.objects.get(slug=SLUG)
    # even back in setup the results are never thrown away by an import
    Election.objects.filter(pk=election.pk).update(status=ElectionStatus.SETUP)
    before = (
        register_state(),
        Protocol.objects.count(),
        TurnoutReport.objects.count(),
        LedgerEntry.objects.count(),
        AuditRecord.objects.count(),
    )
    again = register_only(tmp_path / "again", name="Replaced")
    result = secki("import", str(again), "--no-migrate", "--replace", "--status", "setup")
    assert result.exit_code == 2
    assert "Nothing was imported" in result.output
    assert "replacing it would discard them" in result.output
    expected = "has 4 protocol(s) and 5 turnout" if results == "protocols" else "has 0 protocol"
    assert expected in result.output
    after = (
        register_state(),
        Protocol.objects.count(),
        TurnoutReport.objects.count(),
        LedgerEntry.objects.count(),
        AuditRecord.objects.count(),
    )
    assert after == before
    assert Election.objects.get(slug=SLUG).pk == election.pk


def test_import_replace_of_an_open_register_is_refused(election: Election, tmp_path: Path) -> None:
    actions.set_status(None, election, ElectionStatus.OPEN)
    before = register_state(), AuditRecord.objects.count()
    again = register_only(tmp_path / "again", name="Replaced")
    result = secki("import", str(again), "--no-migrate", "--replace")
    assert result.exit_code == 2
    assert "frozen while the election is open" in result.output
    assert "secki election-status testland-2024 setup" in result.output
    assert (register_state(), AuditRecord.objects.count()) == before


def test_election_created_in_the_admin_is_audited(people: People) -> None:
    client = people.client("root")
    form = admin_form(client, "/admin/elections/election/add/")
    assert form["status"] == "setup"  # a new election starts in setup
    form.update(
        slug="newland-2025",
        name="Newland",
        kind="presidential",
        country="nl",
        date="2025-03-01",
        timezone="UTC",
        turnout_times='["10:00", "15:00"]',
        protocol_roles="{}",
        status="open",  # wanted: created in setup, the candidate added, then opened
        **{
            "candidates-TOTAL_FORMS": "1",
            "candidates-0-number": "1",
            "candidates-0-name": "Ann Example",
            "candidates-0-party": "",
        },
    )
    response = client.post("/admin/elections/election/add/", form)
    assert response.status_code == 302, admin_messages(response) or response.content[:2000]
    election = Election.objects.get(slug="newland-2025")
    assert election.status == ElectionStatus.OPEN
    assert election.candidates.get().name == "Ann Example"
    created = last("election.created")
    assert created.actor == people["root"] and created.actor_name == "root"
    assert created.after["slug"] == "newland-2025" and created.after["status"] == "setup"
    assert created.ip == "127.0.0.1" and recent(created)
    candidate = last("candidate.created")
    assert candidate.election == election and candidate.after["name"] == "Ann Example"
    status = last("election.status")
    assert status.before == {"status": "setup"} and status.after == {"status": "open"}
    assert [r.action for r in AuditRecord.objects.filter(election=election).order_by("id")] == [
        "election.created",
        "candidate.created",
        "election.status",
    ]


def test_only_a_superuser_or_the_command_line_creates_an_election(people: People) -> None:
    new = Election(
        slug="x-2025",
        name="X",
        kind="other",
        country="xx",
        date=dt.date(2025, 1, 1),
        turnout_times=["12:00"],
    )
    with pytest.raises(AccessDenied) as refused:
        actions.create_election(people["cec"], new)
    assert refused.value.code == "forbidden_role"
    assert not Election.objects.filter(slug="x-2025").exists()
    actions.create_election(None, new)
    assert is_cli(last("election.created"))


def test_settings_change_records_only_the_changed_fields(
    election: Election, people: People
) -> None:
    heads = LedgerEntry.objects.count()
    changed = actions.change_election(
        people["cec"],
        election,
        win_rule="plurality",
        runoff_size="2",  # unchanged: not recorded
        turnout_allowance="0.1",
        double_entry=True,
    )
    assert changed == {"win_rule": "plurality", "turnout_allowance": "0.100", "double_entry": True}
    record = last("election.settings")
    assert record.actor == people["cec"] and record.election == election and recent(record)
    assert record.before == {
        "win_rule": "absolute_majority",
        "turnout_allowance": "0.050",
        "double_entry": False,
    }
    assert record.after == changed
    election.refresh_from_db()
    assert election.win_rule == "plurality" and election.double_entry
    # a public fact too
    assert LedgerEntry.objects.count() == heads + 1
    entry = LedgerEntry.objects.latest("seq")
    assert entry.kind == "election.settings" and entry.subject == "election"
    body = json.loads(entry.body)
    assert (body["election"], body["at"]) == (SLUG, format_time(entry.at))
    # the log holds integers, strings, null, lists and objects only
    assert body["changes"] == {**changed, "double_entry": "true"}
    # nothing changed: nothing recorded
    assert actions.change_election(people["cec"], election, win_rule="plurality") == {}
    assert count("election.settings") == 1


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"runoff_size": "many"}, "runoff_size", "runoff_size"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"turnout_times": '["15:00", "10:00"]'}, "turnout_times", "strictly ascending"),
        ({"slug": "other"}, "slug", "not a setting that can change"),
        ({"status": "closed"}, "status", "its own action"),
        ({"win_rule": "lottery"}, "win_rule", "not a valid choice"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    election: Election, people: People, changes: dict[str, str], field: str, words: str
) -> None:
    before = register_state(), AuditRecord.objects.count()
    with pytest.raises(IntakeError) as refused:
        actions.change_election(people["cec"], election, **changes)
    assert refused.value.field == field and words in refused.value.message
    assert (register_state(), AuditRecord.objects.count()) == before


def test_settings_change_in_the_admin_and_from_the_command_line(
    election: Election, people: People
) -> None:
    client = people.client("root")
    url = f"/admin/elections/election/{election.pk}/change/"
    form = admin_form(client, url)
    form.update(name="Testland, renamed", auto_publish="")  # unticked: not sent
    form.pop("auto_publish")
    response = client.post(url, form)
    assert response.status_code == 302, admin_messages(response) or response.content[:3000]
    record = last("election.settings")
    assert record.actor == people["root"]
    assert record.before == {"name": "Testland presidential election", "auto_publish": True}
    assert record.after == {"name": "Testland, renamed", "auto_publish": False}
    assert count("election.settings") == 1  # nothing else of the form counted as a change

    result = secki("election-set", SLUG, "win_rule=plurality", "polls_close=21:00")
    assert result.exit_code == 0, result.output
    assert "win_rule = plurality" in result.output
    record = last("election.settings")
    assert is_cli(record)
    assert record.before == {"win_rule": "absolute_majority", "polls_close": "19:00:00"}
    assert record.after == {"win_rule": "plurality", "polls_close": "21:00:00"}
    refused = secki("election-set", SLUG, "runoff_size=-1")
    assert refused.exit_code == 2 and "runoff_size" in refused.output
    assert count("election.settings") == 2


def test_status_changes_follow_the_allowed_transitions(election: Election, people: People) -> None:
    result = secki("election-status", SLUG, "closed")
    assert result.exit_code == 2
    assert "cannot go from setup to closed" in result.output
    result = secki("election-status", SLUG, "open", "--reason", "polls open")
    assert result.exit_code == 0, result.output
    assert "setup → open" in result.output
    record = last("election.status")
    assert is_cli(record) and recent(record)
    assert record.before == {"status": "setup"}
    assert record.after == {"status": "open", "reason": "polls open"}
    # the log: the election's settings and its register, published by SHA-256 (the files
    # stored for the publisher)
    published, register = bodies(election)
    assert published["kind"] == "election.published" and register["kind"] == "register.published"
    settings_file = LogFile.objects.get(sha256=published["settings_sha256"])
    assert settings_file.name == "election.json"
    assert json.loads(bytes(settings_file.content))["slug"] == SLUG
    assert set(register["files"]) == {"units.csv", "stations.csv", "candidates.csv"}
    assert register["version"] == 1

    actions.set_status(people["cec"], election, ElectionStatus.CLOSED)
    assert last("election.status").actor == people["cec"]
    actions.set_status(people["cec"], election, ElectionStatus.OPEN, reason="recount ordered")
    # back to setup only while nothing was received
    TurnoutReport.objects.create(
        election=election,
        station=station(election, "1-1"),
        time="10:00",
        voters=10,
        received_at=timezone.now(),
    )
    with pytest.raises(IntakeError, match="cannot go back to setup"):
        actions.set_status(people["cec"], election, ElectionStatus.SETUP)
    with pytest.raises(IntakeError, match="already open"):
        actions.set_status(people["cec"], election, ElectionStatus.OPEN)
    assert count("election.status") == 3
    # closing and reopening: the register did not change, so it is not published again
    assert [b["kind"] for b in bodies(election)] == [
        "election.published",
        "register.published",
        "election.closed",
        "election.published",
    ]
    assert chain.verify().ok
    check_log(election, turnout=False)  # the report above was written past the actions


def test_status_change_in_the_admin(election: Election, people: People) -> None:
    client = people.client("root")
    url = f"/admin/elections/election/{election.pk}/change/"
    form = admin_form(client, url)
    form["status"] = "closed"  # not allowed from setup
    response = client.post(url, form)
    assert "cannot go from setup to closed" in follow_messages(client, response)
    election.refresh_from_db()
    assert election.status == "setup" and count("election.status") == 0
    form["status"] = "open"
    assert client.post(url, form).status_code == 302
    election.refresh_from_db()
    assert election.status == "open"
    record = last("election.status")
    assert record.actor == people["root"] and record.after == {"status": "open"}
    # open: its settings still change (audited), its candidates and protocol form do not
    form = admin_form(client, url)
    assert "candidates-0-name" not in form and "protocol_lines-0-code" not in form
    form.update(name="Testland, open")
    assert client.post(url, form).status_code == 302
    assert last("election.settings").after == {"name": "Testland, open"}


# -- the register: edits in setup, frozen once open, amendments --------------------------------


def test_register_edits_before_opening_are_audited(election: Election, people: People) -> None:
    s11 = station(election, "1-1")
    record = actions.edit_station(people["cec"], s11, registered=1100, name="School No. 1")
    assert record is not None and record.action == "station.changed"
    assert record.before == {"registered": 1000, "name": "Station 1"}
    assert record.after == {"registered": 1100, "name": "School No. 1"}
    assert record.target == "station 1-1" and record.actor == people["cec"]
    s11.refresh_from_db()
    assert s11.registered == 1100

    # through the admin: a station's register fields while in setup
    client = people.client("root")
    url = f"/admin/elections/station/{s11.pk}/change/"
    form = admin_form(client, url)
    form["registered"] = "1150"
    assert client.post(url, form).status_code == 302
    record = last("station.changed")
    assert record.actor == people["root"] and record.ip == "127.0.0.1"
    assert record.before == {"registered": 1100} and record.after == {"registered": 1150}

    # a unit moved under another parent takes its stations' paths with it (audited)
    south = Unit.objects.get(election=election, code="2")
    north = Unit.objects.get(election=election, code="1")
    sub = Unit(election=election, parent=south, kind="other", code="2a", name="South-A")
    actions.save_setup_row(None, sub)
    assert sub.path == f"{south.path}{sub.pk}/" and sub.depth == 2
    assert last("unit.created").after["parent"] == "2"
    s22 = station(election, "2-2")
    s22.unit = sub
    actions.save_setup_row(people["cec"], s22)
    s22.refresh_from_db()
    assert s22.unit_path == sub.path
    sub.parent = north
    actions.save_setup_row(people["cec"], sub)
    s22.refresh_from_db()
    assert s22.unit_path == f"{north.path}{sub.pk}/"
    moved = last("unit.changed")
    assert moved.before == {"parent": "2", "path": f"{south.path}{sub.pk}/"}
    assert moved.after == {"parent": "1", "path": f"{north.path}{sub.pk}/"}

    # candidates, and deletions, in the admin
    candidate = Candidate.objects.get(election=election, number=3)
    response = client.post(f"/admin/elections/candidate/{candidate.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Candidate.objects.filter(pk=candidate.pk).exists()
    assert last("candidate.deleted").before["name"] == "Candidate C"


def test_register_edits_are_refused_once_open(election: Election, people: People) -> None:
    actions.set_status(people["cec"], election, ElectionStatus.OPEN)
    s11 = station(election, "1-1")
    client = people.client("root")  # (its log-in is a record of its own)
    before = register_state(), AuditRecord.objects.count()

    # the action
    with pytest.raises(IntakeError) as refused:
        actions.edit_station(people["cec"], s11, registered=5000)
    assert refused.value.code == "register_frozen" and refused.value.status == 409
    assert "frozen while the election is open" in refused.value.message
    assert "amend-register" in refused.value.message
    for row in (
        Unit(election=election, parent=None, kind="other", code="new", name="New"),
        Candidate(election=election, number=9, name="Late entry"),
    ):
        with pytest.raises(IntakeError, match="frozen"):
            actions.save_setup_row(None, row)  # not even the command line
    with pytest.raises(IntakeError, match="frozen"):
        actions.delete_setup_row(None, station(election, "2-2"))

    # the admin: the register is read-only, cannot be deleted, cannot grow
    url = f"/admin/elections/station/{s11.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="registered"' not in page  # shown read-only
    form = admin_form(client, url)
    form["registered"] = "5000"  # a hand-made POST: the field is not taken
    client.post(url, form)
    assert (
        client.post(f"/admin/elections/station/{s11.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    add = admin_form(client, "/admin/elections/station/add/")
    add.update(
        election=str(election.pk),
        unit=str(Unit.objects.get(election=election, code="1").pk),
        code="1-9",
        number="9",
        name="Late station",
        registered="10",
    )
    response = client.post("/admin/elections/station/add/", add)
    assert "frozen while the election is open" in follow_messages(client, response)
    candidate = Candidate.objects.filter(election=election).first()
    assert candidate is not None
    page = client.get(f"/admin/elections/candidate/{candidate.pk}/change/").content.decode()
    assert 'name="name"' not in page
    # the bulk delete of the change list: refused as a whole
    response = client.post(
        "/admin/elections/unit/",
        {
            "action": "delete_selected",
            "_selected_action": [str(u.pk) for u in Unit.objects.filter(election=election)],
            "post": "yes",
        },
    )
    assert response.status_code == 403  # its stations may not be deleted

    # the import (tests above): refused while open
    assert (register_state(), AuditRecord.objects.count()) == before
    s11.refresh_from_db()
    assert s11.registered == 1000


def test_amendment_after_opening_is_audited_and_logged(election: Election, people: People) -> None:
    actions.set_status(people["cec"], election, ElectionStatus.OPEN)
    s11 = station(election, "1-1")
    entries = LedgerEntry.objects.count()
    record = actions.amend_register(
        people["cec"], election, s11, registered="1012", reason="ConEC 1 decision 7: late list"
    )
    assert record.action == "register.amended" and record.actor == people["cec"]
    assert record.before == {"registered": 1000}
    assert record.after == {"registered": 1012, "reason": "ConEC 1 decision 7: late list"}
    assert record.target == "station 1-1" and record.election == election and recent(record)
    s11.refresh_from_db()
    assert s11.registered == 1012
    # once open, the log publishes the register's next version: only stations.csv changed
    assert LedgerEntry.objects.count() == entries + 1
    first, second = bodies(election, "register.published")
    assert second["version"] == 2 and first["version"] == 1
    changed = {name for name in first["files"] if first["files"][name] != second["files"][name]}
    assert changed == {"stations.csv"}
    stations_csv = bytes(LogFile.objects.get(sha256=second["files"]["stations.csv"]).content)
    assert b"\n1-1," in stations_csv and ",1012," in stations_csv.decode()
    assert chain.verify().ok

    # from the command line
    result = secki(
        "amend-register", SLUG, "2-1", "--registered", "1210", "--reason", "court order 3"
    )
    assert result.exit_code == 0, result.output
    assert "registered 1200 → 1210" in result.output
    record = last("register.amended")
    assert is_cli(record) and record.before == {"registered": 1200}
    latest = LedgerEntry.objects.latest("seq")
    assert latest.kind == "register.published" and latest.version == 3

    # a reason is required, only amendable fields, something must change, values validated
    before = register_state(), AuditRecord.objects.count(), LedgerEntry.objects.count()
    for changes, reason, words in [
        ({"registered": 1}, "  ", "reason: required"),
        ({"registered": 1}, "x" * 501, "at most 500"),
        ({"code": "9-9"}, "typo", "cannot be amended"),
        ({"registered": 1012}, "again", "changes nothing"),
        ({"registered": -5}, "negative", "registered"),
        ({"registered": 10_000_000}, "beyond any count", "registered"),
        ({}, "nothing", "at least one field"),
    ]:
        with pytest.raises(IntakeError, match=words):
            actions.amend_register(people["cec"], election, s11, reason=reason, **changes)
    refused = secki("amend-register", SLUG, "1-1", "--registered", "7")
    assert refused.exit_code == 2 and "--reason" in refused.output
    assert (register_state(), AuditRecord.objects.count(), LedgerEntry.objects.count()) == before


# -- memberships -----------------------------------------------------------------------------


def test_memberships_granted_and_revoked_are_audited(election: Election, people: People) -> None:
    newcomer = User.objects.create_user("newcomer", password="pw-newcomer")
    m = actions.grant(
        people["cec"], newcomer, election, Role.STATION_OPERATOR, station=station(election, "2-1")
    )
    record = last("membership.granted")
    assert record.actor == people["cec"] and record.election == election and recent(record)
    assert record.before is None
    assert record.after == {
        "user": "newcomer",
        "election": SLUG,
        "role": "station_operator",
        "unit": None,
        "station": "2-1",
    }
    with pytest.raises(IntakeError, match="already holds"):
        actions.grant(
            people["cec"],
            newcomer,
            election,
            Role.STATION_OPERATOR,
            station=station(election, "2-1"),
        )
    actions.revoke(people["cec"], m)
    record = last("membership.revoked")
    assert record.before["station"] == "2-1" and record.after is None
    assert not Membership.objects.filter(user=newcomer).exists()

    # from the command line
    assert secki("grant", "newcomer", SLUG, "observer").exit_code == 0
    assert (
        is_cli(last("membership.granted"))
        and last("membership.granted").after["role"] == "observer"
    )
    assert secki("grant", "newcomer", SLUG, "constituency_operator", "--unit", "2").exit_code == 0
    assert last("membership.granted").after["unit"] == "2"
    refused = secki("grant", "newcomer", SLUG, "station_operator")
    assert refused.exit_code == 2 and "needs a station" in refused.output
    assert secki("grant", "ghost", SLUG, "observer").exit_code != 0
    assert secki("revoke", "newcomer", SLUG, "observer").exit_code == 0
    assert (
        is_cli(last("membership.revoked"))
        and last("membership.revoked").before["role"] == "observer"
    )

    # through the admin
    client = people.client("root")
    form = admin_form(client, "/admin/accounts/membership/add/")
    form.update(user=str(newcomer.pk), election=str(election.pk), role="supervisor")
    response = client.post("/admin/accounts/membership/add/", form)
    assert response.status_code == 302, admin_messages(response)
    granted = Membership.objects.get(user=newcomer, role="supervisor")
    record = last("membership.granted")
    assert record.actor == people["root"] and record.after["role"] == "supervisor"
    response = client.post(f"/admin/accounts/membership/{granted.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=granted.pk).exists()
    assert last("membership.revoked").actor == people["root"]


def test_roles_and_territory_of_every_action(election: Election, people: People) -> None:
    newcomer = User.objects.create_user("newcomer", password="pw-newcomer")
    s11, s21 = station(election, "1-1"), station(election, "2-1")
    north = Unit.objects.get(election=election, code="1")
    south = Unit.objects.get(election=election, code="2")
    state = register_state(), AuditRecord.objects.count()

    def refused(code: str, call: Any, *args: Any, **kwargs: Any) -> None:
        with pytest.raises(AccessDenied) as denied:
            call(*args, **kwargs)
        assert denied.value.code == code, (call.__name__, denied.value.message)

    for who in ("op11", "north", "outsider"):  # no MANAGE_ELECTION anywhere
        user = people[who]
        refused("forbidden_role", actions.grant, user, newcomer, election, "observer")
        refused(
            "forbidden_role",
            actions.grant,
            user,
            newcomer,
            election,
            "station_operator",
            station=s11,
        )
        refused("forbidden_role", actions.change_election, user, election, name="Mine")
        refused("forbidden_role", actions.set_status, user, election, "open")
        refused("forbidden_role", actions.edit_station, user, s11, registered=1)
        refused(
            "forbidden_role", actions.amend_register, user, election, s11, registered=1, reason="r"
        )
        refused("forbidden_role", actions.revoke, user, Membership.objects.get(user=people["op11"]))
        refused("forbidden_role", actions.delete_election, user, election)

    # a CEC administrator of constituency 1: inside it yes, outside or election-wide no
    nc = people["north_cec"]
    refused("forbidden_territory", actions.grant, nc, newcomer, election, "observer")
    refused("forbidden_territory", actions.grant, nc, newcomer, election, "cec_admin")
    refused(
        "forbidden_territory",
        actions.grant,
        nc,
        newcomer,
        election,
        "station_operator",
        station=s21,
    )
    refused(
        "forbidden_territory",
        actions.grant,
        nc,
        newcomer,
        election,
        "constituency_operator",
        unit=south,
    )
    refused("forbidden_territory", actions.change_election, nc, election, name="Mine")
    refused("forbidden_territory", actions.set_status, nc, election, "open")
    refused("forbidden_territory", actions.edit_station, nc, s21, registered=1)
    refused("forbidden_territory", actions.delete_election, nc, election)
    unit = Unit(election=election, parent=south, kind="other", code="2x", name="X")
    refused("forbidden_territory", actions.save_setup_row, nc, unit)
    refused(
        "forbidden_territory",
        actions.save_setup_row,
        nc,
        Candidate(election=election, number=4, name="D"),
    )
    assert (register_state(), AuditRecord.objects.count()) == state

    s11.unit = south  # moving a station out of their constituency
    refused("forbidden_territory", actions.save_setup_row, nc, s11)
    s11.refresh_from_db()
    assert (register_state(), AuditRecord.objects.count()) == state

    actions.grant(nc, newcomer, election, "station_operator", station=s11)
    actions.grant(nc, newcomer, election, "constituency_operator", unit=north)
    actions.edit_station(nc, s11, registered=999)
    new = Station(election=election, unit=north, code="1-3", number=3, name="New", registered=50)
    actions.save_setup_row(nc, new)
    sub = Unit(election=election, parent=north, kind="other", code="1a", name="North-A")
    actions.save_setup_row(nc, sub)
    assert [r.actor for r in AuditRecord.objects.order_by("-id")[:5]] == [nc] * 5
    assert last("station.created").after["unit"] == "1"

    # nobody grants a role above their own (unless a CEC administrator): were supervisors
    # allowed to manage, one still could not make a CEC administrator
    supervisor = User.objects.create_user("sup", password="pw-sup")
    actions.grant(None, supervisor, election, "supervisor")
    managing = GRANTS[Role.SUPERVISOR] | {Permission.MANAGE_ELECTION}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(GRANTS, Role.SUPERVISOR, managing)
        with pytest.raises(AccessDenied, match="above your own"):
            actions.grant(supervisor, newcomer, election, "cec_admin")
        with pytest.raises(AccessDenied, match="above your own"):
            actions.grant(supervisor, newcomer, election, "station_operator", station=s21)
        actions.grant(supervisor, newcomer, election, "observer")
    assert last("membership.granted").actor == supervisor


def test_the_admin_is_no_way_around_the_roles(election: Election, people: People) -> None:
    """A staff account with every model permission but no role in the election is refused
    by the actions behind the admin."""
    from django.contrib.auth.models import Permission as ModelPermission

    clerk = User.objects.create_user("clerk", password="pw-clerk", is_staff=True)
    clerk.user_permissions.set(
        ModelPermission.objects.filter(content_type__app_label__in=["elections", "accounts"])
    )
    client = Client()
    client.force_login(clerk)
    before = register_state(), AuditRecord.objects.count()
    s11 = station(election, "1-1")
    url = f"/admin/elections/station/{s11.pk}/change/"
    form = admin_form(client, url)
    form["registered"] = "4444"
    page = follow_messages(client, client.post(url, form))
    assert "Refused" in page and "does not allow manage_election" in page
    form = admin_form(client, "/admin/accounts/membership/add/")
    form.update(user=str(clerk.pk), election=str(election.pk), role="cec_admin")
    page = follow_messages(client, client.post("/admin/accounts/membership/add/", form))
    assert "does not allow manage_election" in page
    assert (register_state(), AuditRecord.objects.count()) == before


# -- API tokens ------------------------------------------------------------------------------


def test_tokens_issued_and_revoked_on_the_staff_page_are_audited(people: People) -> None:
    client = people.client("op11")
    response = client.post("/staff/tokens/", {"name": "station laptop"})
    assert response.status_code == 201
    raw = response.context["raw"]
    token = ApiToken.objects.get(user=people["op11"])
    record = last("token.issued")
    assert record.actor == people["op11"] and record.actor_name == "op11"
    assert record.ip == "127.0.0.1" and recent(record)
    assert record.after == {"user": "op11", "name": "station laptop", "id": token.pk}
    assert raw not in json.dumps([record.before, record.after, record.target])
    # a bad name: refused, nothing recorded
    assert client.post("/staff/tokens/", {"name": "x" * 101}).status_code == 400
    assert count("token.issued") == 1

    assert client.post(f"/staff/tokens/{token.pk}/revoke/").status_code == 302
    record = last("token.revoked")
    assert record.actor == people["op11"] and record.before["name"] == "station laptop"
    assert record.after["revoked_at"]
    client.post(f"/staff/tokens/{token.pk}/revoke/")  # again: nothing more to record
    assert count("token.revoked") == 1
    # nobody else revokes it through the action
    other, _ = actions.issue_token(people["op11"], "second")
    with pytest.raises(AccessDenied):
        actions.revoke_token(people["north"], other)


def test_tokens_revoked_in_the_admin_are_audited(people: People) -> None:
    token, _raw = actions.issue_token(people["north"], "north laptop")
    client = people.client("root")
    assert client.get("/admin/accounts/apitoken/add/").status_code == 403  # keys: staff page
    response = client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [str(token.pk)]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    record = last("token.revoked")
    assert record.actor == people["root"] and record.before["user"] == "north"


# -- deleting an election --------------------------------------------------------------------


def test_an_election_with_results_cannot_be_deleted(election: Election, people: People) -> None:
    client = people.client("root")
    actions.set_status(None, election, ElectionStatus.OPEN)
    TurnoutReport.objects.create(
        election=election,
        station=station(election, "1-1"),
        time="10:00",
        voters=10,
        received_at=timezone.now(),
    )
    response = client.post(f"/admin/elections/election/{election.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403  # its frozen register may not be deleted
    with pytest.raises(IntakeError, match="cannot be deleted"):
        actions.delete_election(people["root"], election)
    assert Election.objects.filter(pk=election.pk).exists()
    assert count("election.deleted") == 0
    # a simulated one (the demo's, whose next run starts afresh) can, audited
    Election.objects.filter(pk=election.pk).update(simulated=True)
    actions.delete_election(people["root"], election)
    assert not Election.objects.filter(pk=election.pk).exists()
    record = last("election.deleted")
    assert record.actor == people["root"] and record.target == SLUG
    assert record.before["turnout_reports"] == 1


# -- the trail: append-only, the page, the CSV -------------------------------------------------


def test_records_are_append_only(election: Election) -> None:
    record = last("election.imported")
    record.target = "forged"
    with pytest.raises(ValueError, match="append-only"):
        record.save()
    with pytest.raises(ValueError, match="append-only"):
        record.delete()


def test_the_audit_page_for_cec_administrators(
    election: Election, people: People, tmp_path: Path
) -> None:
    other = import_bundle(
        read_bundle(register_only(tmp_path / "other", slug="otherland-2024", name="Otherland")),
        status="setup",
    )
    actions.change_election(None, other, name="Otherland, secret")
    for n in range(55):
        actions.change_election(people["cec"], election, runoff_size=str(3 + n % 2))

    client = people.client("cec")
    assert 'href="/staff/audit/"' in client.get("/staff/").content.decode()
    assert "Otherland" not in client.get("/staff/audit/").content.decode()  # not theirs
    page = client.get("/staff/audit/", {"election": SLUG})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    rows = page.context["rows"]
    assert len(rows) == 50  # paginated
    newest = rows[0]["record"]
    assert newest == AuditRecord.objects.filter(election=election).latest("id")
    assert [r["record"].at for r in rows] == sorted((r["record"].at for r in rows), reverse=True)
    assert "page 1 of 2" in html
    second = client.get("/staff/audit/", {"election": SLUG, "page": 2}).context["rows"]
    assert second and second[0]["record"].id < rows[-1]["record"].id

    filtered = client.get("/staff/audit/", {"election": SLUG, "action": "membership.granted"})
    assert {r["record"].action for r in filtered.context["rows"]} == {"membership.granted"}
    assert len(filtered.context["rows"]) == 4  # the four roles the fixture granted
    text = filtered.content.decode()
    assert "Role granted" in text and "north_cec" in text and "station_operator" in text

    download = client.get("/staff/audit/", {"action": "election.settings", "format": "csv"})
    assert download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert len(table) == 55 and {r["election"] for r in table} == {SLUG}
    assert table[0]["actor"] == "cec" and json.loads(table[0]["after"]) in (
        {"runoff_size": 3},
        {"runoff_size": 4},
    )

    # a superuser sees every election's; others are refused
    everything = people.client("root").get("/staff/audit/", {"election": "otherland-2024"})
    assert "Otherland, secret" in everything.content.decode()
    for who in ("op11", "north", "outsider"):
        assert people.client(who).get("/staff/audit/").status_code == 403
        assert 'href="/staff/audit/"' not in people.client(who).get("/staff/").content.decode()
    assert Client().get("/staff/audit/").status_code == 302  # log in first


def test_a_csv_cell_is_never_a_formula(people: People) -> None:
    actions.issue_token(people["cec"], '=HYPERLINK("http://evil")')
    body = people.client("cec").get("/staff/audit/", {"format": "csv"}).content.decode()
    targets = [r["target"] for r in csv.DictReader(io.StringIO(body))]
    assert not any(t.startswith(("=", "+", "-", "@")) for t in targets)


# -- the page on a phone ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_audit_page_fits_a_phone(live_server: Any, tmp_path: Path) -> None:
    chromium = os.environ.get("SECKI_CHROMIUM") or shutil.which("chromium") or ""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not chromium:
        pytest.skip("no Chromium found (set SECKI_CHROMIUM)")
    election = import_bundle(read_bundle(register_only(tmp_path / "phone")), status="setup")
    people = People(election)
    actions.amend_register(
        people["cec"],
        election,
        station(election, "1-1"),
        webcam=True,
        webcam_url="https://cams.example.org/live/" + "a-very-long-stream-name-" * 6,
        reason="the stream of station 1-1, announced by ConEC 1",
    )
    client = people.client("cec")
    cookie = client.cookies["sessionid"].value
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844})
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])
            page = context.new_page()
            outside: list[str] = []
            page.on(
                "request",
                lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None,
            )
            page.goto(f"{live_server.url}/staff/audit/?election={election.slug}")
            sync_api.expect(page.locator("h1")).to_have_text("Audit trail")
            sync_api.expect(page.locator("#audit li").first).to_contain_text("Register amended")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page is {width} px wide on a 390 px phone"
            assert outside == []
            page.select_option("#f-action", "membership.granted")
            page.click("button:has-text('Filter')")
            page.wait_for_url("**action=membership.granted**")
            assert page.locator("#audit li").count() == 4
        finally:
            browser.close()
    # outside Playwright's event loop, where Django refuses synchronous database calls
    connections.close_all()


# -- the demo's setup --------------------------------------------------------------------------


def test_the_demo_sets_up_through_the_actions_and_starts_afresh(
    settings: Any, tmp_path: Path
) -> None:
    """``secki demo`` run again on the same database: the last demo's simulated election,
    results and all, is deleted through the audited action (an import never replaces an
    election with results), and its roles are granted again through the action."""
    from secki.demo.cli import DEMO_USERS, prepare_demo

    settings.VAR_DIR = tmp_path / "var"
    settings.STATIC_ROOT = tmp_path / "static"
    _, slug = prepare_demo(fresh=True, seed=7, stations=12)
    first = Election.objects.get(slug=slug)
    assert first.simulated
    granted = AuditRecord.objects.filter(action="membership.granted", election=first)
    assert sorted(r.after["user"] for r in granted) == sorted(u for u, _, _ in DEMO_USERS)
    assert all(is_cli(r) for r in granted)
    TurnoutReport.objects.create(  # the replay left results behind
        election=first,
        station=first.stations.first(),
        time=first.turnout_times[0],
        voters=5,
        received_at=timezone.now(),
    )
    _, again = prepare_demo(fresh=False, seed=7, stations=12)
    assert again == slug
    second = Election.objects.get(slug=slug)
    assert second.pk != first.pk and not TurnoutReport.objects.filter(election=second).exists()
    deleted = last("election.deleted")
    assert is_cli(deleted) and deleted.target == slug and deleted.before["turnout_reports"] == 1
    assert count("election.imported") == 2
    assert Membership.objects.filter(election=second).count() == len(DEMO_USERS)
