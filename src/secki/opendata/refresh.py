"""Stale station pages rendered again in the background, in every web process (issue 15).

When a new state changes a station, the publisher keeps its page files as stale
(:func:`secki.opendata.stationpages.mark_stale`), and nginx serves a stale page until a fresh
one is written: a reader never waits for a render of a page that was read before. Each web
process runs a :class:`Refresher` in a thread of its own (started by the WSGI front,
:mod:`secki.opendata.wsgi`, at its first request; not in the intake server's, whose settings
turn it off: ``SECKI_PAGE_REFRESH=0``). Every ``EVERY`` seconds it loads the
latest state of each election and renders again the stale pages of the stations the states
since its last look changed (:attr:`~secki.opendata.published.State.pages_recent`; the whole
election's directory when it has not looked yet or the window no longer reaches back), up to
the newest state whose pages the publisher has marked (:func:`~secki.opendata.published.
marked_version`: it marks them after writing the state, and a page marked after the look
would stay stale), one process per page (:func:`~secki.opendata.stationpages.claimed`). A
render is an anonymous GET of the page in the page's language through the process's own
Django application, so the page is the one a reader would have got, written by the portal as
any other (:func:`secki.portal.http.keep_station_page`, with its race rule); the stale copy is
then dropped, and when no page was written again (the page may no longer be kept: observers'
copies) the app answers its readers.

The public results answers of the changed stations and of the units above them
(``/api/v1/elections/<slug>/results/{stations,units}/<code>``) come with the state: the
publisher writes them. An answer left stale beside (``stale.json``, by an earlier release) is
asked for again the same way, first, before the pages: a station's when a later state changes
it (or at a first look, every one), a unit's from the window of unit changes
(:attr:`~secki.opendata.published.State.units_recent`). A look that has rendered pages for
longer than its budget (``EVERY``) while a newer state is marked leaves the rest of its pages
to the next look, which takes in the newer state's stations with them.

A look that found nothing stale may also write, for ``fill`` seconds at most, the pages no
reader has asked for yet, in every language, and the results answers of every unit and station
(:meth:`Refresher.fill`): from the first look and again after new data removed every page, one
pass over the register at a time, so that on the night nginx serves every station's page and
every answer from disk, not only those read since the last new data (the publisher keeps the
answers on disk current with each state). The web workers' refreshers and ``secki refresh`` do
(``FILL``); ``secki refresh --once --fill`` writes them all at once, with a progress bar
(before the polls close).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import translation

from secki.opendata import answers, published, snapshots, stationpages

log = logging.getLogger(__name__)

#: seconds between two looks at the states
EVERY = 0.25
#: seconds of a look that found nothing stale spent writing pages no reader has asked for yet
#: (:meth:`Refresher.fill`): a fifth of a core per process at most, while that pass lasts
FILL = 0.05

#: renders a station's page (slug, language, code) as an anonymous reader would get it
Render = Callable[[str, str, str], None]
#: asks for a public results answer (its path) as an anonymous reader would
Ask = Callable[[str], None]
#: a fill's progress: (election, stations looked at, stations in all)
Progress = Callable[[str, int, int], None]


@dataclass
class _Pass:
    """A pass over an election's register writing the pages and the results answers no
    reader has asked for yet."""

    key: tuple[int, str]  # the election's state key it began with (another: begin again)
    codes: list[str] | None = None  # the register's station codes (read at its first step)
    unit_ids: list[int] = field(default_factory=list)  # each station's unit
    units: list[int] = field(default_factory=list)  # the election's units (their ids)
    at: int = 0  # the next station
    unit_at: int = 0  # the next unit (the units' answers first)


class Refresher:
    """Renders the stale pages of the stations changed since its last look (:meth:`once`)."""

    def __init__(
        self, render: Render, ask: Ask | None = None, *, budget: float = EVERY, fill: float = 0.0
    ) -> None:
        self.render = render
        self.ask = ask
        #: seconds of pages a look renders before it lets a newer marked state's answers go
        #: first (the rest of its pages wait for the next look)
        self.budget = budget
        #: seconds a look that found nothing stale spends writing pages no reader has asked
        #: for yet (0: none)
        self.fill_budget = fill
        #: election → its pass writing the pages no one asked for (none: no pass due)
        self.passes: dict[str, _Pass] = {}
        #: election → (its state's key, the version it last looked at)
        self.seen: dict[str, tuple[tuple[int, str], int]] = {}
        #: election → (its state's key, the stations whose stale pages a look left for later)
        self.left: dict[str, tuple[tuple[int, str], set[str]]] = {}
        #: the results answers :meth:`fill` has written (of all it wrote: the rest are pages)
        self.answers_filled = 0

    def once(self) -> int:
        """One look at every election's latest state; returns how many pages and results
        answers it wrote again (the answers first), and pages it wrote for the first time
        when nothing was stale (:meth:`fill`)."""
        rendered = answers = 0
        began = time.monotonic()
        directory = published.state_dir()
        names = sorted(p.name for p in directory.glob(f"*{published.SUFFIX}"))
        for name in names:
            slug = name[: -len(published.SUFFIX)]
            state = published.from_file(slug)
            if state is None or state.parts is None:
                continue
            # the states whose pages the publisher has marked (it marks after writing one)
            upto = min(state.version, published.marked_version(slug))
            codes = self._changed(slug, state.pages_recent, state, upto)
            units = self._changed(slug, state.units_recent, state, upto)
            self.seen[slug] = (state.key, upto)
            if codes is None:  # the first look, or every page may be gone: a pass is due
                self.passes[slug] = _Pass(state.key)
            if self.ask is not None:
                answers += self._answers(slug, stationpages.STATIONS, codes)
                answers += self._answers(slug, stationpages.UNITS, units)
            key, left = self.left.pop(slug, (state.key, set()))
            if codes is not None and key == state.key:
                codes |= left
            if codes is not None and not codes:
                continue
            stale = stationpages.stale_pages(slug, codes)
            for i, (language, code) in enumerate(stale):
                if (
                    time.monotonic() - began >= self.budget
                    and published.marked_version(slug) > upto
                ):  # a newer state is marked: its answers first, these pages at the next look
                    self.left[slug] = (state.key, {c for _language, c in stale[i:]})
                    break
                with stationpages.claimed(slug, language, code) as mine:
                    if not mine or not stationpages.is_stale(slug, language, code):
                        continue  # another process renders it, or has
                    self.render(slug, language, code)
                    stationpages.drop_stale(slug, language, code)
                    rendered += 1
        filled = 0
        if not (rendered or answers) and self.fill_budget > 0 and self.passes:
            filled = self.fill(until=time.monotonic() + self.fill_budget)
        if (rendered or answers or filled) and log.isEnabledFor(logging.DEBUG):  # its cost
            log.debug(
                "refreshed %d answers and %d pages",
                answers,
                rendered,
                extra={
                    "answers": answers,
                    "pages": rendered,
                    "filled": filled,
                    "look_ms": round(1000 * (time.monotonic() - began), 1),
                    "pages_left": sum(len(codes) for _key, codes in self.left.values()),
                },
            )
        return rendered + answers + filled

    def fill(self, *, until: float = float("inf"), progress: Progress | None = None) -> int:
        """Go on with the due passes: write the results answer of every unit, then of every
        station with its page in every language, that has no file, fresh or stale, until
        ``until`` (``time.monotonic()``); returns how many pages and answers it wrote (the
        answers also count in :attr:`answers_filled`). The answers are made from the state
        without a request (:mod:`secki.opendata.answers`), and the publisher then writes them
        again with each state that changes them: no reader's first ask reaches the app. A pass
        ends at the end of the register; a page that is not kept (results held back,
        observers' copies) is rendered once a pass."""
        filled = 0
        languages = [code for code, _name in settings.LANGUAGES]
        for slug in sorted(self.passes):
            due = self.passes[slug]
            state = published.from_file(slug)
            if state is None or state.parts is None or state.withheld:
                del self.passes[slug]  # no page is kept: nothing to write
                continue
            if due.key != state.key:
                due = self.passes[slug] = _Pass(state.key)
            if due.codes is None:
                register = state.register()
                due.codes = [station.code for station in register]
                due.unit_ids = [station.unit_id for station in register]
                due.units = list(state.tabulation().units)
            while due.unit_at < len(due.units):
                if time.monotonic() >= until:
                    return filled
                unit = state.tabulation().units[due.units[due.unit_at]]
                filled += self._fill_answer(state, stationpages.UNITS, unit.code, unit.id)
                due.unit_at += 1
            while due.at < len(due.codes):
                if time.monotonic() >= until:
                    return filled
                code = due.codes[due.at]
                filled += self._fill_answer(
                    state, stationpages.STATIONS, code, due.unit_ids[due.at]
                )
                for language in languages:
                    path = stationpages.page_path(slug, language, code)
                    if path is None or path.exists() or path.with_name(stationpages.STALE).exists():
                        continue
                    with contextlib.suppress(OSError):  # (the claim is a file beside it)
                        path.parent.mkdir(parents=True, exist_ok=True)
                    with stationpages.claimed(slug, language, code) as mine:
                        if mine and not path.exists():  # (another process may have written it)
                            self.render(slug, language, code)
                            filled += 1
                due.at += 1
                if progress is not None:
                    progress(slug, due.at, len(due.codes))
            del self.passes[slug]
        return filled

    def _fill_answer(self, state: published.State, kind: str, code: str, unit_id: int) -> int:
        """Write the results answer of station or unit ``code`` (``kind``; ``unit_id``: the
        unit, or the station's) from ``state`` unless it has a file, fresh or stale; removed
        again at once when a newer state changed it meanwhile (the race rule of every answer's
        writer, :func:`secki.opendata.published.still_current`). Returns 1 if it is kept."""
        slug = state.election.slug
        path = stationpages.answer_path(slug, kind, code)
        if path is None or path.exists() or path.with_name(stationpages.STALE_ANSWER).exists():
            return 0
        tab = state.tabulation()
        if kind == stationpages.UNITS:
            node = tab.units[unit_id]
            with translation.override(settings.LANGUAGE_CODE):  # as the publisher's
                content = answers.unit_answer(tab, node, state.stations(node.id))
        else:
            part = state.stations(unit_id)
            station = next((s for s in part.stations if s.code == code), None)
            if station is None:
                return 0
            content = answers.station_answer(
                slug,
                tab.units[unit_id].code,
                station,
                part,
                stationpages.public_url(),
                withheld=state.withheld,
            )
        written = stationpages.write_answer(slug, kind, code, content)
        if written is None:
            return 0
        if not published.still_current(state, code, unit=kind == stationpages.UNITS):
            written.unlink(missing_ok=True)
            return 0
        self.answers_filled += 1
        return 1

    def _answers(self, slug: str, kind: str, codes: set[str] | None) -> int:
        """Ask again for the stale results answers of these stations or units (``kind``;
        None: every stale one of the election); returns how many."""
        assert self.ask is not None
        if codes is not None and not codes:
            return 0
        asked = 0
        for code in stationpages.stale_answers(slug, kind, codes):
            with stationpages.claimed_answer(slug, kind, code) as mine:
                if not mine or not stationpages.stale_answers(slug, kind, [code]):
                    continue  # another process asks for it, or has
                self.ask(f"/api/v1/elections/{slug}/results/{kind}/{code}")
                stationpages.drop_stale_answer(slug, kind, code)
                asked += 1
        return asked

    def _changed(
        self,
        slug: str,
        window: tuple[tuple[int, frozenset[str] | None], ...],
        state: published.State,
        upto: int,
    ) -> set[str] | None:
        """The codes of the stations (or units) the states after the last look, up to
        ``upto``, changed by their ``window`` of changes (None: not known, every stale file
        of the election is looked at)."""
        last = self.seen.get(slug)
        if last is None or last[0] != state.key or last[1] > upto:
            return None
        recent = dict(window)
        codes: set[str] = set()
        for version in range(last[1] + 1, upto + 1):
            changed = recent.get(version)
            if changed is None:
                return None
            codes |= changed
        return codes

    def run(self, stop: threading.Event, *, every: float = EVERY) -> None:
        """Look every ``every`` seconds while a publisher runs, until ``stop`` is set."""
        while not stop.wait(every):
            if not snapshots.publisher_alive():
                continue
            try:
                self.once()
            except Exception:  # a page that fails to render fails for its reader too
                log.exception("refreshing the station pages failed")


_started: set[int] = set()  # the processes (pids) whose refresher runs
_start_lock = threading.Lock()


def start(render: Render, ask: Ask | None = None) -> bool:
    """Start this process's refresher thread once, in a worker of the production server
    (Granian) only: not in tests or commands that call the WSGI application themselves, nor in
    a server whose settings turn it off (``SECKI_PAGE_REFRESH=0``: the intake server). Returns
    whether one runs."""
    if (
        multiprocessing.current_process().name != "granian-worker"
        or not settings.SECKI_PAGE_REFRESH
    ):
        return False
    pid = os.getpid()
    with _start_lock:
        if pid not in _started:
            refresher = Refresher(render, ask, fill=FILL)
            thread = threading.Thread(
                target=refresher.run,
                args=(threading.Event(),),
                name="secki-page-refresh",
                daemon=True,
            )
            thread.start()
            _started.add(pid)
    return True
