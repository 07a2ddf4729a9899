"""The published public state (secki.opendata.published): one publisher, driven here step by
step with an explicit clock, turns accepted facts into states; every public read is served
from the latest one (issue 15)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from secki.accounts.actions import change_election
from secki.elections.models import Election, Station
from secki.ledger.chain import ledger_head
from secki.ledger.models import LedgerEntry
from secki.observability import JsonFormatter
from secki.opendata import published, snapshots
from secki.opendata.collect import collect
from secki.portal import pages
from secki.protocols.actions import amend_protocol, annul_protocol
from secki.results.tabulate import Tabulation
from secki.turnout.actions import report_turnout
from tests.portal.conftest import Clock, protocol_data, submit

pytestmark = pytest.mark.django_db

STATIONS = ("1-1", "1-2", "2-1", "2-2")


@pytest.fixture
def publisher(clock: Clock) -> Iterator[published.Publisher]:
    """A publisher of the default interval on the test's clock; its heartbeat tells the
    pages that it runs, so they read its files and never publish themselves."""
    yield published.Publisher(interval=published.INTERVAL, clock=clock)


def facts(election: Election, admin: Any) -> Iterator[str]:
    """Facts of the small election's night, one at a time: a turnout report, the protocols,
    amendments of each, an annulment."""
    stations = {s.code: s for s in Station.objects.filter(election=election)}
    report_turnout(election, stations["1-1"], "19:00", 700, actor=admin, reason="late count")
    yield "turnout 1-1"
    for code in STATIONS:
        submit(election, code, admin)
        yield f"protocol {code}"
    for more in (1, 2, 3):
        for code in STATIONS:
            data = protocol_data(code)
            changed = type(data)(
                {**data.counts, "L2": data.counts["L2"] + more}, data.instants, data.candidates
            )
            amend_protocol(stations[code], changed, actor=admin, reason=f"recount {more}")
            yield f"amended {code}"
    annul_protocol(stations["2-1"], actor=admin, decision_ref="CEC-7", reason="violations")
    yield "annulled 2-1"


def assert_same_totals(state: published.State, election: Election) -> None:
    """The state's totals of every unit equal a fresh public tabulation of the database."""
    fresh = Tabulation(election, public=True)
    mine = state.tabulation()
    assert set(mine.units) == set(fresh.units)
    for unit_id in fresh.units:
        assert mine.totals[unit_id] == fresh.totals[unit_id], fresh.units[unit_id].code


def test_a_state_is_never_older_than_the_interval_while_facts_arrive(
    waiting: Election, admin: Any, clock: Clock, publisher: published.Publisher
) -> None:
    heads: list[tuple[float, int]] = []  # (time, ledger head) after each fact
    versions = []
    for _fact in facts(waiting, admin):
        clock.now += 0.25
        heads.append((clock.now, ledger_head()))
        publisher.step()
        state = published.read(waiting.slug)
        assert state is not None
        versions.append(state.version)
        # every fact accepted at least one interval ago is in the state
        due = [head for at, head in heads if at <= clock.now - publisher.interval]
        if due:
            assert state.head >= max(due)
        # and a new state at most once per interval
        assert clock.now - publisher.last[waiting.slug].at < publisher.interval
    assert versions == sorted(versions) and versions[-1] > versions[0]
    publications = len(set(versions))
    assert publications <= clock.now / publisher.interval + 1
    # once the facts stop, the next step after the interval publishes the rest
    clock.now += publisher.interval
    publisher.step()
    state = published.read(waiting.slug)
    assert state is not None and state.head == ledger_head()
    assert_same_totals(state, waiting)


@pytest.mark.parametrize("open_data", [True, False], ids=["with-open-data", "state-only"])
def test_deltas_equal_a_full_tabulation_after_amendments_and_annulments(
    waiting: Election, admin: Any, clock: Clock, open_data: bool
) -> None:
    publisher = published.Publisher(clock=clock, open_data=open_data, open_data_every=0)
    publisher.step()
    for fact in facts(waiting, admin):
        clock.now += publisher.interval
        [state] = publisher.step()
        assert state.head == ledger_head(), fact
        assert_same_totals(state, waiting)
        # the annulled stations are counted as the deltas arrive, not again at every state
        assert state.data.annulled_count == collect(waiting).annulled_count, fact
    if not open_data:
        return
    # the open-data live files are written from the same data as the state
    manifest = snapshots.live_manifest(waiting)
    assert manifest is not None and manifest["ledger_seq"] == state.seq
    index = json.loads((snapshots.election_dir(waiting) / "live" / "index.json").read_bytes())
    assert index["stations_reported"] == state.tabulation().result().totals.stations_reported


def test_served_numbers_equal_a_fresh_tabulation_after_the_load_stops(
    waiting: Election, admin: Any, clock: Clock, publisher: published.Publisher
) -> None:
    for _fact in facts(waiting, admin):
        clock.now += 0.3
        publisher.step()
    clock.now += publisher.interval
    publisher.step()
    answer = Client().get(f"/api/v1/elections/{waiting.slug}/results")
    assert answer.status_code == 200
    served = answer.json()
    fresh = Tabulation(waiting, public=True)
    national = fresh.result()
    assert served["stations_reported"] == national.totals.stations_reported == 3
    assert served["lines"] == dict(sorted(national.totals.lines.items()))
    assert [c["votes"] for c in served["candidates"]] == [c.votes for c in national.candidates]
    for child in served["children"]:
        unit = next(u for u in fresh.units.values() if u.code == child["unit"])
        assert child["lines"] == dict(sorted(fresh.totals[unit.id].lines.items()))
    station = Client().get(f"/api/v1/elections/{waiting.slug}/results/stations/1-1").json()
    assert (
        station["version"] == 4 and station["values"]["L2"] == protocol_data("1-1").counts["L2"] + 3
    )
    annulled = Client().get(f"/api/v1/elections/{waiting.slug}/results/stations/2-1").json()
    assert (annulled["status"], annulled["values"], annulled["annulment"]) == (
        "annulled",
        None,
        "CEC-7",
    )


def test_public_reads_come_from_the_published_state_only(
    waiting: Election,
    admin: Any,
    clock: Clock,
    publisher: published.Publisher,
    django_assert_num_queries: Any,
) -> None:
    publisher.step()
    first = published.read(waiting.slug)
    assert first is not None
    submit(waiting, "1-1", admin)  # accepted, but not published yet: the interval has not passed
    clock.now += publisher.interval / 2
    assert publisher.step() == []
    with django_assert_num_queries(0):  # no tabulation, no ledger head: the state's file
        page = Client().get(f"/e/{waiting.slug}/")
        api = Client().get(f"/api/v1/elections/{waiting.slug}/results")
        unit = Client().get(f"/e/{waiting.slug}/u/1/")
    for answer in (page, api, unit):
        assert answer.status_code == 200
        assert answer["X-Secki-State"] == str(first.version)
        assert "Last-Modified" in answer
    assert api.json()["stations_reported"] == 0
    row = re.search(r'data-station="1-1">.*?class="badge (\w+)"', unit.content.decode(), re.S)
    assert row is not None and row.group(1) == "none"
    station = Client().get(f"/e/{waiting.slug}/s/1-1/").content.decode()
    assert "Protocol counted" not in station

    clock.now += publisher.interval
    [second] = publisher.step()
    assert second.version == first.version + 1
    again = Client().get(f"/e/{waiting.slug}/", HTTP_IF_NONE_MATCH=page["ETag"])
    assert again.status_code == 200 and again["X-Secki-State"] == str(second.version)
    assert (
        Client().get(f"/api/v1/elections/{waiting.slug}/results").json()["stations_reported"] == 1
    )
    station = Client().get(f"/e/{waiting.slug}/s/1-1/").content.decode()
    assert "Protocol counted" in station and 'id="as-of"' in station
    # officials who may see unpublished figures keep the live tabulation
    client = Client()
    client.force_login(admin)
    submit(waiting, "1-2", admin)
    live = client.get(f"/api/v1/elections/{waiting.slug}/results").json()
    assert live["stations_reported"] == 2
    assert (
        Client().get(f"/api/v1/elections/{waiting.slug}/results").json()["stations_reported"] == 1
    )


def figures(page: str) -> tuple[int, list[int]]:
    """The national page's stations reporting and its constituency rows' (as printed)."""
    national = re.search(r'id="reporting">([\d,\s\u00a0]+) /', page)
    assert national is not None
    table = page[page.index('id="constituencies"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"</a></th><td>([\d,\s\u00a0]+)/", table)
    return int(re.sub(r"\D", "", national.group(1))), [int(re.sub(r"\D", "", r)) for r in rows]


def test_a_page_never_shows_a_mix_of_two_states(
    waiting: Election,
    admin: Any,
    clock: Clock,
    publisher: published.Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submit(waiting, "1-1", admin)
    publisher.step()
    state = published.read(waiting.slug)
    assert state is not None
    original = pages.unit_rows

    def rows_while_a_new_state_arrives(tab: Tabulation, units: Any) -> Any:
        # between the national figures and the constituency rows, two protocols are accepted
        # and a new state is published
        submit(waiting, "2-1", admin)
        submit(waiting, "2-2", admin)
        clock.now += publisher.interval
        assert publisher.step()
        return original(tab, units)

    monkeypatch.setattr("secki.portal.views.unit_rows", rows_while_a_new_state_arrives)
    answer = Client().get(f"/e/{waiting.slug}/")
    national, rows = figures(answer.content.decode())
    assert answer["X-Secki-State"] == str(state.version)
    assert (national, rows) == (1, [1, 0])  # all from the first state
    monkeypatch.setattr("secki.portal.views.unit_rows", original)
    answer = Client().get(f"/e/{waiting.slug}/")
    assert answer["X-Secki-State"] == str(state.version + 1)
    assert figures(answer.content.decode()) == (3, [1, 2])


def test_without_a_publisher_the_site_publishes_on_demand(waiting: Election, admin: Any) -> None:
    assert not snapshots.publisher_alive()
    assert (
        Client().get(f"/api/v1/elections/{waiting.slug}/results").json()["stations_reported"] == 0
    )
    submit(waiting, "1-1", admin)
    answer = Client().get(f"/api/v1/elections/{waiting.slug}/results")
    assert answer.json()["stations_reported"] == 1
    assert not published.state_file(waiting.slug).exists()  # in memory only
    assert Client().get("/e/no-such-election/").status_code == 404


def call(path: str, **headers: str) -> tuple[str, dict[str, str], bytes]:
    """One request through the production WSGI front (secki.opendata.wsgi)."""
    from django.test.client import RequestFactory

    from secki.opendata import wsgi

    environ = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET", **headers)
    answered: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None) -> None:
        answered[:] = [status, dict(headers)]

    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    # as django.test.Client does: the test's connection stays open around the request
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = wsgi.application(environ, start_response)
        body = b"".join(result)
        close = getattr(result, "close", None)
        if close is not None:
            close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    # every answer carries its own request id (secki.observability): not part of what is kept
    assert answered[1].pop("X-Request-ID")
    return answered[0], answered[1], body


def test_the_front_answers_the_public_from_memory_per_state(
    waiting: Election,
    admin: Any,
    clock: Clock,
    publisher: published.Publisher,
    django_assert_num_queries: Any,
) -> None:
    from secki.opendata import wsgi

    wsgi.kept.clear()
    publisher.step()
    url = f"/api/v1/elections/{waiting.slug}/results"
    status, headers, body = call(url)
    assert status.startswith("200") and json.loads(body)["stations_reported"] == 0
    with django_assert_num_queries(0):
        again = call(url)
        page = call(f"/e/{waiting.slug}/")
        kept_page = call(f"/e/{waiting.slug}/")
    assert again == (status, headers, body)
    assert kept_page == page and page[0].startswith("200")
    revalidated = call(url, HTTP_IF_NONE_MATCH=headers["ETag"])
    assert revalidated[0].startswith("304") and revalidated[2] == b""
    # another language is another answer
    russian = call(f"/e/{waiting.slug}/", HTTP_ACCEPT_LANGUAGE="ru")
    assert "Итоги по стране" in russian[2].decode() and russian[2] != page[2]
    # a new state: while one thread renders a URL's new answer, the others answer with the
    # previous state's (whole), then everyone gets the new one
    submit(waiting, "1-1", admin)
    clock.now += publisher.interval
    assert publisher.step()
    [key] = [k for k in wsgi.kept.items if k[0] == url]
    assert wsgi.kept.claim(key)
    assert call(url) == again
    wsgi.kept.release(key)
    status, headers, body = call(url)
    assert json.loads(body)["stations_reported"] == 1
    assert headers["X-Secki-State"] != again[1]["X-Secki-State"]
    # an official's request (a cookie) always goes to Django: live figures for a live session
    client = Client()
    client.force_login(admin)
    submit(waiting, "1-2", admin)
    cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    assert json.loads(call(url, HTTP_COOKIE=cookie)[2])["stations_reported"] == 2
    assert json.loads(call(url)[2])["stations_reported"] == 1


def test_the_turnout_page_figures_of_a_state_equal_the_live_aggregate(
    waiting: Election, admin: Any, clock: Clock, publisher: published.Publisher
) -> None:
    from secki.results.turnout import TurnoutAggregate

    for _fact in facts(waiting, admin):
        clock.now += publisher.interval
        publisher.step()
    state = published.read(waiting.slug)
    assert state is not None
    table = pages.TurnoutTable(state.tabulation(), state.turnout_figures())
    live = TurnoutAggregate(waiting, public=True)
    for unit in live.units.values():
        for time in live.times:
            mine, theirs = table.aggregate.figures(unit, time), live.figures(unit, time)
            assert (mine.voters, mine.registered, mine.stations) == (
                theirs.voters,
                theirs.registered,
                theirs.stations,
            ), (unit.code, time)
        assert table.aggregate.totals[unit.id].stations_total == live.totals[unit.id].stations_total
    page = Client().get(f"/e/{waiting.slug}/turnout/")
    assert page.status_code == 200 and page["X-Secki-State"] == str(state.version)


def test_a_publication_time_releases_the_published_state_without_a_new_fact(
    waiting: Election, admin: Any, clock: Clock
) -> None:
    """With a time-based publication setting, the publisher's state is withheld before the
    instant and shows the results after it, though no fact arrived in between (the wall
    clock the setting is compared with is injected)."""
    slug = waiting.slug
    start = dt.datetime(2026, 12, 6, 18, 0, tzinfo=dt.UTC)
    at = start + dt.timedelta(hours=2)
    wall = [start]
    change_election(admin, waiting, publication="time", publication_at=at.isoformat())
    submit(waiting, "1-1", admin)
    submit(waiting, "2-1", admin)
    publisher = published.Publisher(interval=published.INTERVAL, clock=clock, now=lambda: wall[0])

    clock.now += publisher.interval
    assert publisher.step()
    before = published.read(slug)
    assert before is not None and before.withheld and before.head == ledger_head()
    assert before.tabulation().totals[before.tabulation().root.id].stations_reported == 0
    html = Client().get(f"/e/{slug}/").content.decode()
    assert 'data-status="withheld"' in html
    api = Client().get(f"/api/v1/elections/{slug}/results")
    assert api["X-Secki-State"] == str(before.version)
    body = api.json()
    assert body["outcome"]["status"] == "withheld" and body["stations_reported"] == 0
    assert body["stations_total"] == 4 and body["lines"] == {}
    assert all(c["stations_reported"] == 0 for c in body["children"])
    station = Client().get(f"/api/v1/elections/{slug}/results/stations/1-1").json()
    assert station["values"] is None and station["status"] is None and station["scans"] == []
    assert "Protocol counted" not in Client().get(f"/e/{slug}/s/1-1/").content.decode()

    # a second before the instant nothing changes: no new state
    wall[0] = at - dt.timedelta(seconds=1)
    clock.now += publisher.interval
    assert publisher.step() == []

    # at the instant the publisher publishes a released state of the same facts
    wall[0] = at
    clock.now += publisher.interval
    assert publisher.step()
    after = published.read(slug)
    assert after is not None and not after.withheld
    assert after.head == before.head and after.version == before.version + 1
    assert_same_totals(after, waiting)
    html = Client().get(f"/e/{slug}/").content.decode()
    assert 'data-status="pending"' in html
    api = Client().get(f"/api/v1/elections/{slug}/results")
    assert api["X-Secki-State"] == str(after.version)
    body = api.json()
    assert body["outcome"]["status"] == "pending" and body["stations_reported"] == 2
    station = Client().get(f"/api/v1/elections/{slug}/results/stations/1-1").json()
    assert station["status"] == "published" and station["values"] is not None
    assert "Protocol counted" in Client().get(f"/e/{slug}/s/1-1/").content.decode()


def test_unit_and_station_answers_name_their_state_and_the_front_keeps_them(
    waiting: Election,
    admin: Any,
    clock: Clock,
    publisher: published.Publisher,
    django_assert_num_queries: Any,
) -> None:
    """The public unit and station results carry ``X-Secki-State`` like the national JSON
    (issue 15), so the WSGI front keeps them per state, and answer 304 to their ETag."""
    from secki.opendata import wsgi

    wsgi.kept.clear()
    submit(waiting, "1-1", admin)
    publisher.step()
    state = published.read(waiting.slug)
    assert state is not None
    unit_url = f"/api/v1/elections/{waiting.slug}/results/units/{state.data.root.code}"
    station_url = f"/api/v1/elections/{waiting.slug}/results/stations/1-1"
    answers = {}
    for url in (unit_url, station_url):
        status, headers, body = call(url)
        assert status.startswith("200"), url
        assert headers["X-Secki-State"] == str(state.version), url
        assert headers["Cache-Control"].startswith("public") and "Last-Modified" in headers
        answers[url] = (status, headers, body)
    assert json.loads(answers[unit_url][2])["stations_reported"] == 1
    assert json.loads(answers[station_url][2])["values"] is not None
    with django_assert_num_queries(0):  # from the front's memory, no Django
        for url, answer in answers.items():
            assert call(url) == answer
    for url, (_status, headers, _body) in answers.items():
        revalidated = Client().get(url, HTTP_IF_NONE_MATCH=headers["ETag"])
        assert revalidated.status_code == 304 and revalidated["X-Secki-State"] == str(state.version)
    # a new state is a new answer
    submit(waiting, "1-2", admin)
    clock.now += publisher.interval
    [newer] = publisher.step()
    status, headers, body = call(unit_url)
    assert headers["X-Secki-State"] == str(newer.version)
    assert json.loads(body)["stations_reported"] == 2
    # officials who may see unpublished figures get live, private answers
    client = Client()
    client.force_login(admin)
    live = client.get(station_url)
    assert live.status_code == 200 and "X-Secki-State" not in live


def test_observers_and_audit_entries_need_no_full_read(waiting: Election, admin: Any) -> None:
    """Observers' facts and audits go into the election's log but change nothing public data
    holds: the state is brought forward past them, not read again whole; a register change
    still makes it a full read."""
    from secki.ledger import chain, drafts
    from secki.ledger.models import LedgerEntry
    from secki.opendata.collect import catch_up, collect

    data = collect(waiting)
    now = timezone.now()
    for kind in ("observers.accredited", "audit.created", "integrity.pvt_sample"):
        chain.append(waiting, drafts.Generic(waiting.slug, now, kind, "x", {"station": "1-1"}))
    before = (dict(data.totals), dict(data.protocols))
    delta = catch_up(data)
    assert delta is not None and delta.stations == set() and not delta.turnout
    assert (dict(data.totals), dict(data.protocols)) == before
    assert data.log_size == LedgerEntry.objects.filter(election=waiting).count()
    submit(waiting, "1-1", admin)
    delta = catch_up(data)
    station = Station.objects.get(election=waiting, code="1-1")
    assert delta is not None and delta.stations == {station.id}
    chain.append(
        waiting,
        drafts.Generic(waiting.slug, now, "register.amended", drafts.REGISTER, {"station": "1-2"}),
    )
    assert catch_up(data) is None


def test_the_publisher_stays_alive_through_a_long_round(
    waiting: Election, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat beats in a thread of its own: while one round takes longer than the
    heartbeat's staleness (a national election's first state), the web processes still see a
    publisher and keep serving its last state instead of each building one."""
    beats: list[int] = []
    two = threading.Event()
    release = threading.Event()

    def counted() -> None:
        snapshots.beat()
        beats.append(1)
        if len(beats) >= 2:
            two.set()

    def long_round(self: published.Publisher, slug: str) -> None:
        # the round runs until the heartbeat has beaten again without it
        assert two.wait(60)
        release.set()

    monkeypatch.setattr(published.Publisher, "step_one", long_round)
    with snapshots.Heartbeat(every=0.001, beat=counted) as heartbeat:
        published.Publisher(waiting.slug).step()
        assert release.is_set() and len(beats) >= 2
        assert snapshots.publisher_alive()
    assert not heartbeat.thread.is_alive()  # stopped with the block


def test_a_change_reaches_the_state_before_the_open_data_files(
    waiting: Election,
    admin: Any,
    clock: Clock,
    publisher: published.Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The open-data files of a national election take seconds to rewrite (the bulk CSV of
    every station): the publisher writes the public state first, then the files the change
    touched, from the same data."""
    publisher.open_data_every = 0
    submit(waiting, "1-1", admin)
    [first] = publisher.step()
    rewrites: list[int | None] = []
    original = snapshots.update_live

    def update_live(election: Election) -> Any:
        on_disk = published.read(election.slug)
        rewrites.append(on_disk.version if on_disk is not None else None)
        return original(election)

    monkeypatch.setattr(snapshots, "update_live", update_live)
    submit(waiting, "2-1", admin)
    clock.now += publisher.interval
    [state] = publisher.step()
    assert state.version == first.version + 1
    assert rewrites == [state.version]  # the files were rewritten once, after the state
    manifest = snapshots.live_manifest(waiting)
    assert manifest is not None and manifest["ledger_seq"] == state.seq
    index = json.loads((snapshots.election_dir(waiting) / "live" / "index.json").read_bytes())
    assert index["stations_reported"] == 2 == state.tabulation().result().totals.stations_reported


def test_a_published_state_stays_as_it_was_published(
    waiting: Election, admin: Any, clock: Clock, publisher: published.Publisher
) -> None:
    """The publisher pickles a state once: the bytes are its file, and their copy is the
    state it keeps, frozen while its own data goes on changing with later facts."""
    submit(waiting, "1-1", admin)
    [first] = publisher.step()
    submit(waiting, "2-1", admin)
    clock.now += publisher.interval
    [second] = publisher.step()
    assert first.tabulation().result().totals.stations_reported == 1
    assert second.tabulation().result().totals.stations_reported == 2
    on_disk = published.read(waiting.slug)
    assert on_disk is not None and on_disk.version == second.version
    assert on_disk.data.totals == second.data.totals


def _part_names(state: published.State) -> dict[str, str]:
    """Unit code → the name of the part file the state names for it."""
    assert state.parts is not None
    codes = {u.id: u.code for u in state.data.units}
    return {codes[unit_id]: name for unit_id, name in state.parts.items()}


def test_the_state_file_holds_totals_and_each_unit_stations_are_a_part_of_their_own(
    waiting: Election, admin: Any, clock: Clock, publisher: published.Publisher
) -> None:
    """The state file holds no station's own data; a unit's stations are read from the part
    the state names, and an accept rewrites only the part of the unit holding the station."""
    publisher.step()
    on_disk = published.read(waiting.slug)
    assert on_disk is not None and on_disk.data.stations == [] and on_disk.data.values == {}
    register = {s.code: s for s in Station.objects.filter(election=waiting)}
    assert sorted(s.code for s in on_disk.register()) == sorted(register)
    before = _part_names(on_disk)
    assert len(before) == 2  # the two constituencies hold the four stations
    one = register["1-1"]
    assert on_disk.stations(one.unit_id).protocols == {}

    submit(waiting, "1-1", admin)
    clock.now += publisher.interval
    publisher.step()
    on_disk = published.read(waiting.slug)
    assert on_disk is not None
    after = _part_names(on_disk)
    moved = {code for code in after if after[code] != before[code]}
    assert moved == {one.unit.code}  # the other constituency's part is the same file
    part = on_disk.stations(one.unit_id)
    assert part.protocols[one.id].status == "published"
    assert part.values[one.id]["L2"] == protocol_data("1-1").counts["L2"]
    assert sorted(s.code for s in part.stations) == ["1-1", "1-2"]
    # what a visitor reads: the station's API answer from the state's part
    answer = Client().get(f"/api/v1/elections/{waiting.slug}/results/stations/1-1").json()
    assert answer["status"] == "published" and answer["values"] == part.values[one.id]


def test_parts_no_state_names_are_removed_after_the_grace_period(
    waiting: Election, admin: Any, clock: Clock, publisher: published.Publisher
) -> None:
    publisher.step()
    directory = published.parts_dir(waiting.slug)
    first = {p.name for p in directory.iterdir()}
    submit(waiting, "1-1", admin)
    clock.now += publisher.interval
    publisher.step()
    state = published.read(waiting.slug)
    assert state is not None and state.parts is not None
    named = {*state.parts.values(), state.register_file}
    retired = first - named
    assert len(retired) == 1  # the part of 1-1's constituency, kept for readers a while
    assert {p.name for p in directory.iterdir()} == first | named
    clock.now += published.PART_GRACE
    publisher.step()  # nothing new to publish; the round removes what no state names
    assert {p.name for p in directory.iterdir()} == named
    # a new publisher (a restart) writes every part anew and retires the old ones
    again = published.Publisher(clock=clock)
    submit(waiting, "2-1", admin)
    clock.now += published.INTERVAL
    [state] = again.step()
    assert state.parts is not None and not set(state.parts.values()) & named
    clock.now += published.PART_GRACE
    again.step()
    assert {p.name for p in directory.iterdir()} == {*state.parts.values(), state.register_file}


def test_the_open_data_files_follow_the_states_at_most_every_few_seconds(
    waiting: Election, admin: Any, clock: Clock, publisher: published.Publisher
) -> None:
    """States go on every interval while the open-data files (a national bulk CSV takes
    seconds) are rewritten at most every OPEN_DATA_EVERY seconds, and catch up without a new
    fact."""
    submit(waiting, "1-1", admin)
    [first] = publisher.step()

    def files_seq() -> int:
        manifest = snapshots.live_manifest(waiting)
        assert manifest is not None
        return int(manifest["ledger_seq"])

    assert files_seq() == first.seq
    submit(waiting, "2-1", admin)
    clock.now += publisher.interval
    [second] = publisher.step()
    assert second.seq > first.seq
    assert files_seq() == first.seq  # not yet: the last rewrite is younger than the period
    clock.now = published.OPEN_DATA_EVERY
    assert publisher.step() == []  # no new fact, no new state; the files catch up
    assert files_seq() == second.seq
    index = json.loads((snapshots.election_dir(waiting) / "live" / "index.json").read_bytes())
    assert index["stations_reported"] == 2


def test_the_first_release_is_cut_from_the_data_the_publisher_keeps(
    waiting: Election,
    admin: Any,
    clock: Clock,
    publisher: published.Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A national election held twice in the publisher is twice its memory: while nothing
    was committed since the kept data's reads, the release is cut from that data."""
    submit(waiting, "1-1", admin)

    def second_read(election: Election) -> Any:
        raise AssertionError("the release read the election again")

    monkeypatch.setattr(snapshots, "collect_at_once", second_read)
    [state] = publisher.step()
    newest = snapshots.releases(waiting)
    assert newest and int(newest[0]["ledger_seq"]) == state.seq
    bulk = gzip.decompress(
        (
            snapshots.election_dir(waiting) / str(newest[0]["version"]) / "stations.csv.gz"
        ).read_bytes()
    ).decode()
    assert len(bulk.splitlines()) == 1 + len(STATIONS)


def test_a_release_cut_while_facts_arrive_brings_the_kept_data_forward_in_one_snapshot(
    waiting: Election,
    admin: Any,
    clock: Clock,
    publisher: published.Publisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fact committed while a release is being cut (after the live files caught up) made the
    release read the whole election again beside the kept data; the publisher kept that
    memory (issue 15). The kept data is brought forward in one snapshot instead: the release
    holds the new fact, equals a full read of the database, and the live files follow it at
    the next refresh."""
    submit(waiting, "1-1", admin)
    publisher.step()  # the first release, cut from the kept data
    submit(waiting, "2-1", admin)
    caught_up = snapshots.update_live

    def meanwhile(election: Election) -> Any:
        done = caught_up(election)
        submit(waiting, "1-2", admin)  # committed after the refresh read the ledger's head
        return done

    def second_read(election: Election) -> Any:
        raise AssertionError("the release read the election again")

    monkeypatch.setattr(snapshots, "update_live", meanwhile)
    monkeypatch.setattr(snapshots, "collect_at_once", second_read)
    done = snapshots.refresh(waiting, every=0, keep=True)
    newest = LedgerEntry.objects.filter(election=waiting).order_by("-seq").first()
    assert newest is not None and done.release == f"v{newest.seq}"
    monkeypatch.undo()
    directory = snapshots.election_dir(waiting)

    def stations_csv(name: str) -> str:
        return gzip.decompress((directory / name / "stations.csv.gz").read_bytes()).decode()

    release = stations_csv(done.release)
    whole = snapshots.collect_at_once(waiting)
    assert whole.seq == newest.seq
    assert release == snapshots.bulk_bytes(whole).decode()
    counted = [line for line in release.splitlines()[1:] if ",published," in line]
    assert len(counted) == 3, release  # 1-1, 2-1 and the fact that came meanwhile, 1-2
    assert stations_csv("live") != release  # the live files were written before 1-2 came
    snapshots.refresh(waiting, keep=True)
    assert stations_csv("live") == release


def test_each_state_logs_what_it_cost_and_how_long_since_the_last_one(
    waiting: Election,
    admin: Any,
    clock: Clock,
    publisher: published.Publisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The publisher's DEBUG line per state (bench_night's breakdown of freshness reads it from
    the publisher's JSON log): the version, how many pages it changed, and times."""
    caplog.set_level(logging.DEBUG, logger="secki.opendata.published")
    publisher.step()
    submit(waiting, "1-1", admin)
    clock.now += 0.75
    publisher.step()
    lines = [r for r in caplog.records if r.getMessage().startswith("published state")]
    assert [r.version for r in lines] == [1, 2]  # type: ignore[attr-defined]
    first, second = lines
    assert first.since_last_ms == -1.0  # type: ignore[attr-defined]
    assert second.since_last_ms == 750.0  # type: ignore[attr-defined]
    assert first.pages_changed == -1  # type: ignore[attr-defined]  # every page: new data
    assert second.pages_changed == 1  # type: ignore[attr-defined]
    for record in lines:
        for key in ("state_ms", "state_cpu_ms", "after_ms", "after_cpu_ms", "gc_ms"):
            assert getattr(record, key) >= 0, key
    # the oldest fact the state is the first to include, as old as it was when it was written
    assert first.oldest_fact_ms > 0  # type: ignore[attr-defined]
    at = LedgerEntry.objects.filter(election=waiting).order_by("-seq").values_list("at")[0][0]
    assert 0 < second.oldest_fact_ms <= 1000 * (timezone.now() - at).total_seconds()  # type: ignore[attr-defined]
    # and the JSON formatter writes them as numbers
    doc = json.loads(JsonFormatter().format(second))
    assert doc["message"] == f"published state 2 of {waiting.slug}"
    assert doc["state_ms"] == second.state_ms  # type: ignore[attr-defined]


def test_secki_publish_watch_freezes_what_its_first_round_loaded_once(
    waiting: Election, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """``secki publish --watch`` hands what its first round loaded (the state, the log's
    first round) to ``gc.freeze``, once, after that round: the garbage collections during
    the next states walk only what changed since."""
    import gc

    from click.testing import CliRunner

    from secki.cli import cli
    from secki.opendata import cli as opendata_cli

    frozen: list[bool] = []  # each freeze: whether the first state and log were out by then
    log_out = snapshots.root_dir().parent / "log"

    def freeze() -> None:
        frozen.append(published.read(waiting.slug) is not None and log_out.exists())

    real = threading.Thread

    def thread(*args: Any, name: str = "", **kwargs: Any) -> Any:
        if name in ("public-state", "open-data-releases"):  # not in a test (own connection)
            return threading.Thread(target=lambda: None)
        return real(*args, name=name, **kwargs)

    def interrupt(seconds: float) -> None:  # the watch loop's first wait: Ctrl-C
        raise KeyboardInterrupt

    settings.SECKI_DEVELOPMENT = True  # the log's key: a development one
    monkeypatch.setattr(gc, "freeze", freeze)
    monkeypatch.setattr(threading, "Thread", thread)
    monkeypatch.setattr(opendata_cli.time, "sleep", interrupt)
    result = CliRunner().invoke(cli, ["publish", "--watch", "--quiet"])
    assert result.exit_code == 0, result.output
    assert frozen == [True]


def test_with_the_releases_apart_a_state_never_waits_for_a_release(
    waiting: Election, admin: Any, clock: Clock
) -> None:
    """``secki publish --watch`` cuts the open-data releases in a thread of its own
    (``releases_apart``): a state's step cuts none, and while that thread holds the election
    (a national release takes seconds) the step does not wait for the live files: the state
    comes out, the files follow at a later step; :meth:`Publisher.release` cuts the release."""
    publisher = published.Publisher(interval=published.INTERVAL, clock=clock, releases_apart=True)
    submit(waiting, "1-1", admin)
    [first] = publisher.step()
    live = snapshots.live_manifest(waiting)
    assert live is not None and int(live["ledger_seq"]) == first.seq
    assert snapshots.releases(waiting) == []  # not in the state's step
    assert publisher.release() == [f"{waiting.slug}/v{first.seq}"]
    assert [int(m["ledger_seq"]) for m in snapshots.releases(waiting)] == [first.seq]
    assert publisher.release() == []  # nothing new: none due
    submit(waiting, "2-1", admin)
    clock.now += published.OPEN_DATA_EVERY
    with snapshots._lock(waiting, wait=True) as held:  # the releases' thread is cutting one
        assert held
        [second] = publisher.step()  # does not wait for the lock
        assert second.seq > first.seq
    live = snapshots.live_manifest(waiting)
    assert live is not None and int(live["ledger_seq"]) == first.seq  # behind for now
    clock.now += 0.1
    assert publisher.step() == []  # no new fact: the files catch up
    live = snapshots.live_manifest(waiting)
    assert live is not None and int(live["ledger_seq"]) == second.seq
