"""Station pages as static files (issue 15): the app writes the page it renders for the public
from the publisher's state to ``$SECKI_VAR_DIR/pages/<slug>/<lang>/s/<code>/index.html``
(secki.opendata.stationpages), nginx serves it (tests/portal/test_nginx.py), and the publisher
removes the files of the stations each new state changes, every file of the election on new
data, another election row or the results held back or let out."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from secki.accounts.actions import change_election
from secki.elections.models import Election, Station
from secki.ledger import chain, drafts
from secki.opendata import published, refresh, snapshots, stationpages
from secki.opendata import wsgi as opendata_wsgi
from secki.portal import http, views
from secki.turnout.actions import report_turnout
from tests.portal.conftest import Clock, submit

pytestmark = pytest.mark.django_db

LANGUAGES = ("en", "az", "ru")


@pytest.fixture
def publisher(clock: Clock) -> Iterator[published.Publisher]:
    """A publisher on the test's clock (its heartbeat tells the pages that it runs), with its
    first state published."""
    yield published.Publisher(clock=clock, open_data=False)


def page(election: Election, code: str, language: str = "en") -> Path:
    path = stationpages.page_path(election.slug, language, code)
    assert path is not None
    return path


def get(election: Election, code: str, client: Client | None = None, **extra: Any) -> Any:
    http.pages.clear()  # the view renders (a process's page cache answers without it)
    response = (client or Client()).get(f"/e/{election.slug}/s/{code}/", **extra)
    assert response.status_code == 200
    return response


def step(publisher: published.Publisher, clock: Clock) -> None:
    clock.now += publisher.interval
    publisher.step()


def render_all(election: Election, codes: tuple[str, ...] = ("1-1", "1-2", "2-1")) -> None:
    for code in codes:
        for language in LANGUAGES:
            response = get(election, code, HTTP_ACCEPT_LANGUAGE=language)
            assert page(election, code, language).read_bytes() == response.content


def test_a_public_station_page_is_written_as_rendered_in_each_language(
    waiting: Election, publisher: published.Publisher
) -> None:
    publisher.step()
    response = get(waiting, "1-1")
    path = page(waiting, "1-1")
    assert path == stationpages.root_dir() / waiting.slug / "en/s/1-1/index.html"
    assert path.read_bytes() == response.content
    assert response["X-Secki-State"] == "1"
    russian = get(waiting, "1-1", HTTP_ACCEPT_LANGUAGE="ru")
    assert page(waiting, "1-1", "ru").read_bytes() == russian.content
    assert russian.content != response.content and b'lang="ru"' in russian.content
    assert not [p for p in path.parent.iterdir() if p.name != "index.html"]  # no temporary


def test_no_file_for_officials_queries_withheld_results_copies_or_without_a_publisher(
    waiting: Election,
    admin: Any,
    publisher: published.Publisher,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = page(waiting, "1-1")
    # no publisher: the process's own state, which nobody would remove the pages of
    get(waiting, "1-1")
    assert not path.exists()
    publisher.step()
    # a signed-in official sees live figures; a query string; the live part
    official = Client()
    official.force_login(admin)
    get(waiting, "1-1", official)
    assert not path.exists()
    for query in ("?sort=name", "?part=live", "?page=1"):
        http.pages.clear()
        assert Client().get(f"/e/{waiting.slug}/s/1-1/{query}").status_code == 200
        assert not path.exists(), query
    # observers' copies are not in the published state: such a page always goes to the app
    copies = types.SimpleNamespace(mark="agrees", diffs=[])
    with monkeypatch.context() as patched:
        patched.setattr(views, "station_comparison", lambda *a, **k: copies)
        assert b"observer-copies" in get(waiting, "1-1").content
    assert not path.exists()
    # the public at last: written
    get(waiting, "1-1")
    assert path.exists()
    # results held back by the publication setting: the files go, and none is written
    change_election(admin, waiting, publication="share", publication_share="0.9")
    step(publisher, clock)
    assert published.read(waiting.slug).withheld  # type: ignore[union-attr]
    assert not path.exists()
    get(waiting, "1-1")
    assert not path.exists()


@pytest.mark.parametrize("open_data", [True, False], ids=["with-open-data", "state-only"])
def test_a_new_state_removes_the_pages_of_the_stations_it_changed_only(
    waiting: Election, admin: Any, clock: Clock, open_data: bool
) -> None:
    publisher = published.Publisher(clock=clock, open_data=open_data, open_data_every=0)
    publisher.step()
    render_all(waiting)
    submit(waiting, "1-1", admin)  # 1-2 is in the same unit, 2-1 in another
    step(publisher, clock)
    for language in LANGUAGES:
        assert not page(waiting, "1-1", language).exists(), language
        assert page(waiting, "1-2", language).exists(), language
        assert page(waiting, "2-1", language).exists(), language
    # rendered again from the new state: the protocol is on it
    assert b"protocol-lines" in get(waiting, "1-1").content
    assert b"protocol-lines" in page(waiting, "1-1").read_bytes()
    # a turnout report changes its station's page
    station = Station.objects.get(election=waiting, code="2-1")
    report_turnout(waiting, station, "12:00", 300, actor=admin)
    step(publisher, clock)
    assert not page(waiting, "2-1").exists()
    assert page(waiting, "1-2").exists() and page(waiting, "1-1").exists()
    # an observer's copy is no public data, but the page shows the comparison
    render_all(waiting, ("2-1",))
    fact = {"station": "1-2", "organisation": "Watch", "lines": {"L1": 1}, "photo": None}
    chain.append(
        waiting, drafts.Generic(waiting.slug, timezone.now(), "observers.copy", "observers", fact)
    )
    step(publisher, clock)
    assert not page(waiting, "1-2").exists()
    assert page(waiting, "2-1").exists() and page(waiting, "1-1").exists()
    # no new fact: nothing removed
    step(publisher, clock)
    assert page(waiting, "2-1").exists() and page(waiting, "1-1").exists()


@pytest.mark.parametrize(("changed", "kept"), [("2-2", True), ("1-1", False)])
def test_a_page_rendered_from_an_older_state_is_removed_when_a_newer_one_changed_its_station(
    waiting: Election,
    admin: Any,
    publisher: published.Publisher,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    changed: str,
    kept: bool,
) -> None:
    """State N+1 is written (and the stations it changed removed) while a page of state N is
    being written: its writer removes it when N+1 changed its station, and keeps it when
    N+1 changed another (results pouring in publish a state every interval: a page would
    otherwise seldom outlive its render)."""
    publisher.step()
    write = stationpages.write
    raced = []

    def late(slug: str, language: str, code: str, content: bytes) -> Path | None:
        if not raced:  # the next state comes out between the render and the write
            raced.append(code)
            submit(waiting, changed, admin)
            step(publisher, clock)
            latest = published.read(waiting.slug)
            assert latest is not None and latest.version == 2
            assert latest.pages_recent[-1] == (2, frozenset({changed}))
        return write(slug, language, code, content)

    monkeypatch.setattr(stationpages, "write", late)
    response = get(waiting, "1-1")
    assert raced == ["1-1"] and response["X-Secki-State"] == "1"
    assert page(waiting, "1-1").exists() is kept
    if kept:
        assert page(waiting, "1-1").read_bytes() == response.content
        return
    # the next render is of state 2, and stays
    response = get(waiting, "1-1")
    assert response["X-Secki-State"] == "2"
    assert b"protocol-lines" in response.content
    assert page(waiting, "1-1").read_bytes() == response.content


def test_a_page_is_kept_only_when_the_window_covers_every_state_since_its_own(
    waiting: Election,
    admin: Any,
    publisher: published.Publisher,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The window of page changes holds the last ``PAGES_WINDOW`` states: a page of a state
    older than that, or from before a state that changed every page, is not kept."""
    publisher.step()
    first = published.current(waiting.slug)
    assert first is not None and first.version == 1
    assert first.pages_recent == ((1, None),)  # the first state of a publisher: every page
    monkeypatch.setattr(published, "PAGES_WINDOW", 2)
    for code, voters in (("2-1", 300), ("2-2", 300)):  # states 2 and 3
        station = Station.objects.get(election=waiting, code=code)
        report_turnout(waiting, station, "12:00", voters, actor=admin, reason="recount")
        step(publisher, clock)
    latest = published.current(waiting.slug)
    assert latest is not None and latest.version == 3
    assert latest.pages_recent == ((2, frozenset({"2-1"})), (3, frozenset({"2-2"})))
    # a page of state 1: the window covers states 2 and 3
    assert published.still_current(first, "1-1")
    assert not published.still_current(first, "2-1")
    assert not published.still_current(first, "2-2")
    station = Station.objects.get(election=waiting, code="2-1")
    report_turnout(waiting, station, "12:00", 310, actor=admin, reason="recount")
    step(publisher, clock)
    latest = published.current(waiting.slug)
    assert latest is not None and latest.version == 4
    assert [v for v, _codes in latest.pages_recent] == [3, 4]
    # now state 2 fell out of the window: nothing says what it changed
    assert not published.still_current(first, "1-1")
    second = published.read(waiting.slug)
    assert second is not None
    second.version = 2  # as a page of state 2 would hold it
    assert published.still_current(second, "1-1")
    assert not published.still_current(second, "2-2")
    assert published.still_current(latest, "2-1")  # the latest state itself
    # another election row (a new name) changes every page
    change_election(admin, waiting, name="Waitland renamed")
    step(publisher, clock)
    newest = published.current(waiting.slug)
    assert newest is not None and newest.pages_recent[-1] == (5, None)
    assert not published.still_current(latest, "1-1")


def test_new_data_and_another_election_row_remove_every_page(
    waiting: Election, admin: Any, publisher: published.Publisher, clock: Clock
) -> None:
    publisher.step()
    render_all(waiting)
    # the election renamed: every page shows the name
    change_election(admin, waiting, name="Waitland renamed")
    step(publisher, clock)
    assert pages_only_results(waiting)
    assert not [p for p in stationpages.root_dir().iterdir() if p.name.startswith(".")]
    render_all(waiting, ("1-1",))
    assert b"Waitland renamed" in page(waiting, "1-1").read_bytes()
    # a publisher (re)started (perhaps another release's templates) clears them, new fact or not
    again = published.Publisher(clock=clock, open_data=False)
    again.step()
    assert again.last[waiting.slug].at == -float("inf")  # no new state: the one on disk goes on
    assert pages_only_results(waiting)
    render_all(waiting, ("1-2",))
    step(again, clock)
    assert page(waiting, "1-2").exists()
    # new data: every page goes
    submit(waiting, "2-2", admin)
    step(again, clock)
    assert pages_only_results(waiting)
    render_all(waiting, ("1-2",))
    # another publication setting (the results let out at a share) also changes every page
    change_election(admin, waiting, publication="share", publication_share="0.2")
    step(again, clock)
    assert pages_only_results(waiting)


def pages_only_results(election: Election) -> bool:
    """The election's pages are gone; only the national results answer of the latest state
    is there (the publisher writes it with each state, and for the state on disk when it
    starts)."""
    directory = stationpages.election_dir(election.slug)
    state = published.read(election.slug)
    assert state is not None
    results = stationpages.results_path(election.slug)
    assert results is not None and results.read_bytes() == published.national_answer(state)
    return [p.relative_to(directory) for p in directory.rglob("*") if p.is_file()] == [
        Path(stationpages.API_DIR, stationpages.RESULTS)
    ]


def test_names_that_are_no_file_of_their_own_are_never_written(settings: Any) -> None:
    for slug, language, code in (
        ("e", "en", ".."),
        ("e", "en", ".x"),
        ("e", "", "1"),
        ("e", "en", "a/b"),
    ):
        assert stationpages.page_path(slug, language, code) is None
        assert stationpages.write(slug, language, code, b"x") is None


def test_without_a_running_publisher_the_pages_it_left_are_removed(
    waiting: Election, admin: Any, publisher: published.Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publisher that stopped removes nothing any more: the first state a web process builds
    itself removes the election's pages and its national results answer (it writes none)."""
    publisher.step()
    get(waiting, "1-1")
    assert page(waiting, "1-1").exists()
    results = stationpages.results_path(waiting.slug)
    assert results is not None
    assert results.read_bytes() == published.national_answer(publisher.last[waiting.slug].state)
    monkeypatch.setattr(snapshots, "publisher_alive", lambda: False)
    submit(waiting, "1-2", admin)
    get(waiting, "2-1")
    assert not stationpages.election_dir(waiting.slug).exists()


def stale(election: Election, code: str, language: str = "en") -> Path:
    return page(election, code, language).with_name(stationpages.STALE)


def render(slug: str, language: str, code: str) -> None:
    """The refresher's render through the test client (secki.opendata.wsgi's own closes the
    database connection at the end of its request, as a server does: tests/portal/test_nginx.py
    runs it)."""
    http.pages.clear()
    Client().get(f"/e/{slug}/s/{code}/", HTTP_ACCEPT_LANGUAGE=language)


def test_a_changed_stations_pages_are_served_stale_until_the_refresher_renders_them_again(
    waiting: Election, admin: Any, publisher: published.Publisher, clock: Clock
) -> None:
    publisher.step()
    render_all(waiting)
    pages = refresh.Refresher(render)
    assert pages.once() == 0  # nothing stale
    before = {lang: page(waiting, "1-1", lang).read_bytes() for lang in LANGUAGES}
    submit(waiting, "1-1", admin)
    step(publisher, clock)
    for language in LANGUAGES:  # the old page, kept as stale, in each language
        assert not page(waiting, "1-1", language).exists()
        assert stale(waiting, "1-1", language).read_bytes() == before[language]
        assert page(waiting, "1-2", language).exists()
    assert published.marked_version(waiting.slug) == 2
    assert pages.once() == 3  # rendered again: the protocol is on them, the stale copy gone
    for language in LANGUAGES:
        assert b"protocol-lines" in page(waiting, "1-1", language).read_bytes()
        assert not stale(waiting, "1-1", language).exists()
    assert b'lang="ru"' in page(waiting, "1-1", "ru").read_bytes()
    assert pages.once() == 0
    # an observer's fact naming a station: its pages too
    fact = {"station": "1-2", "organisation": "Watch", "lines": {"L1": 1}, "photo": None}
    chain.append(
        waiting, drafts.Generic(waiting.slug, timezone.now(), "observers.copy", "observers", fact)
    )
    step(publisher, clock)
    assert stale(waiting, "1-2").exists()
    assert pages.once() == 3
    assert not stale(waiting, "1-2").exists() and page(waiting, "1-2").exists()


def test_the_refresher_waits_for_the_publishers_marks_and_for_another_processs_claim(
    waiting: Election, admin: Any, publisher: published.Publisher, clock: Clock, monkeypatch: Any
) -> None:
    """A state is written before its pages are marked: a refresher that looks in between
    looks again at that state's stations once they are marked (else they would stay stale).
    A page another process is rendering is left to it."""
    publisher.step()
    render_all(waiting, ("1-1", "2-1"))
    pages = refresh.Refresher(render)
    assert pages.once() == 0
    looked = []
    mark = stationpages.mark_stale

    def late(slug: str, codes: Any) -> int:  # the refresher looks between
        looked.append(pages.once())
        return mark(slug, codes)

    monkeypatch.setattr(stationpages, "mark_stale", late)
    submit(waiting, "1-1", admin)
    step(publisher, clock)
    assert looked == [0] and stale(waiting, "1-1").exists()
    assert pages.once() == 3 and not stale(waiting, "1-1").exists()
    # another process holds 2-1's claim (English): this one renders the other languages
    monkeypatch.setattr(stationpages, "mark_stale", mark)
    station = Station.objects.get(election=waiting, code="2-1")
    report_turnout(waiting, station, "12:00", 300, actor=admin)
    step(publisher, clock)
    with stationpages.claimed(waiting.slug, "en", "2-1") as mine:
        assert mine
        assert pages.once() == 2
    assert stale(waiting, "2-1", "en").exists() and not stale(waiting, "2-1", "az").exists()
    # a claim left by a process that died is taken over after CLAIM_STALE seconds
    claim = page(waiting, "2-1").with_name(stationpages.CLAIM)
    claim.touch()
    with stationpages.claimed(waiting.slug, "en", "2-1") as mine:
        assert not mine
    monkeypatch.setattr(stationpages, "CLAIM_STALE", -1.0)
    assert refresh.Refresher(render).once() == 1
    assert not claim.exists() and not stale(waiting, "2-1", "en").exists()


ALL = ("1-1", "1-2", "2-1", "2-2")  # every station of the small election


def files(election: Election) -> set[tuple[str, str]]:
    """(language, code) of the station pages on disk, fresh ones."""
    return {
        (lang, code) for code in ALL for lang in LANGUAGES if page(election, code, lang).exists()
    }


def test_a_refresher_with_time_to_spare_writes_the_pages_no_reader_asked_for(
    waiting: Election, admin: Any, publisher: published.Publisher, clock: Clock, monkeypatch: Any
) -> None:
    """A look that found nothing stale writes, within its fill budget, the pages of the
    stations no reader has asked for, in every language, and every results answer, one pass
    over the register (a page on disk is left alone); a station a state changed is still the
    stale look's; new data (every page removed) makes a new pass due. Without a fill budget,
    none."""
    publisher.step()
    render_all(waiting, ("1-2",))
    assert refresh.Refresher(render).once() == 0 and len(files(waiting)) == 3
    rendered: list[tuple[str, str]] = []

    def counted(slug: str, language: str, code: str) -> None:
        rendered.append((language, code))
        render(slug, language, code)

    before = page(waiting, "1-2").stat().st_mtime_ns
    pages = refresh.Refresher(counted, fill=float("inf"))  # (no clock in it)
    assert pages.once() == 9 + 7  # 1-1, 2-1 and 2-2, each in three languages; every answer
    assert pages.answers_filled == 7  # (the 4 stations' and the 3 units')
    assert files(waiting) == {(lang, code) for code in ALL for lang in LANGUAGES}
    assert sorted(rendered) == sorted(
        (lang, c) for c in ("1-1", "2-1", "2-2") for lang in LANGUAGES
    )
    assert page(waiting, "1-2").stat().st_mtime_ns == before  # on disk: not rendered again
    for language in LANGUAGES:  # what a reader gets
        assert (
            page(waiting, "2-2", language).read_bytes()
            == get(waiting, "2-2", HTTP_ACCEPT_LANGUAGE=language).content
        )
    assert pages.once() == 0 and not pages.passes  # the pass is over
    submit(waiting, "2-2", admin)
    step(publisher, clock)
    rendered.clear()
    assert pages.once() == 3 and sorted(rendered) == [(lang, "2-2") for lang in sorted(LANGUAGES)]
    assert pages.once() == 0
    # new data: every page removed, a new pass
    change_election(admin, waiting, name="Waitland again")
    step(publisher, clock)
    assert not files(waiting)
    assert pages.once() == 12 + 7 and len(files(waiting)) == 12


def test_a_pass_goes_on_where_its_budget_ended_and_writes_nothing_while_results_are_held(
    waiting: Election, admin: Any, publisher: published.Publisher, clock: Clock, monkeypatch: Any
) -> None:
    """The fill stops at its deadline and the next look goes on from the next station (none
    rendered twice); with the results held back no page is kept, so none is rendered."""
    publisher.step()
    now = [0.0]
    monkeypatch.setattr(refresh.time, "monotonic", lambda: now[0])
    rendered: list[tuple[str, str]] = []

    def slow(slug: str, language: str, code: str) -> None:  # each station's pages take 1 s
        rendered.append((language, code))
        render(slug, language, code)
        now[0] += 1 / 3

    pages = refresh.Refresher(slow, fill=1.5)
    # the 3 units' answers, then two stations (the deadline is looked at between stations),
    # each its answer and its 3 pages
    assert pages.once() == 3 + 2 * 4
    assert [c for _l, c in rendered] == ["1-1"] * 3 + ["1-2"] * 3
    assert pages.once() == 2 * 4 and [c for _l, c in rendered[6:]] == ["2-1"] * 3 + ["2-2"] * 3
    assert len(set(rendered)) == 12 and not pages.passes
    # the results held back: the pages are not kept, the pass ends without a render
    change_election(admin, waiting, publication="share", publication_share="0.9")
    step(publisher, clock)
    rendered.clear()
    pages.once()
    assert not rendered and not pages.passes and not files(waiting)


@pytest.mark.django_db(transaction=True)
def test_the_refreshers_own_render_is_an_anonymous_readers_on_the_public_host(
    waiting: Election, publisher: published.Publisher, settings: Any
) -> None:
    """secki.opendata.wsgi.render_station_page: through the process's Django application
    (which closes its connection at the end, as after any request), on the public URL's
    host and scheme, in the page's language; the portal writes the file. The caller's
    language is its own again after (``secki refresh`` goes on in it)."""
    settings.SECKI_PUBLIC_URL = "https://results.example.org/secki"
    settings.ALLOWED_HOSTS = ["results.example.org"]
    settings.SECKI_HTTPS = settings.SECURE_SSL_REDIRECT = True
    publisher.step()
    with translation.override("ru"):
        opendata_wsgi.render_station_page(waiting.slug, "az", "1-1")
        assert translation.get_language() == "ru"
    assert b'lang="az"' in page(waiting, "1-1", "az").read_bytes()
    assert not page(waiting, "1-1", "en").exists()


@pytest.mark.parametrize("on", [True, False])
def test_a_refresher_runs_in_a_production_worker_unless_the_server_turns_it_off(
    on: bool, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SECKI_PAGE_REFRESH=0 (the intake server, deploy/systemd/secki-intake.service): its
    workers start no refresher, their CPU is for the writes; a web server's workers each start
    one thread, once; outside a Granian worker (tests, commands) none ever runs."""
    started: list[str] = []

    class Thread:
        def __init__(self, *, target: Any, args: Any, name: str, daemon: bool) -> None:
            self.name = name

        def start(self) -> None:
            started.append(self.name)

    settings.SECKI_PAGE_REFRESH = on
    monkeypatch.setattr(refresh, "_started", set())
    monkeypatch.setattr(refresh.threading, "Thread", Thread)
    assert refresh.start(lambda slug, language, code: None) is False  # not a Granian worker
    monkeypatch.setattr(refresh.multiprocessing.current_process(), "name", "granian-worker")
    assert refresh.start(lambda slug, language, code: None) is on
    assert refresh.start(lambda slug, language, code: None) is on
    assert started == (["secki-page-refresh"] if on else [])
