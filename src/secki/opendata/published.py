"""The published public state of an election: what every public read is served from.

Every accepted fact moves the ledger head; if the public pages recomputed the tabulation at
each new head, each write would make the next reads pay for it. Instead one publisher turns
the accepted facts into a :class:`State` at most once per interval (:class:`Publisher`, run
by ``secki publish --watch`` beside the transparency log and the open-data files, from the
same :class:`~secki.opendata.collect.PublicData`, which it brings forward by the changed
stations only: a protocol changes its station and the units above it). A state holds the
totals of every unit, every station's public protocol, turnout reports and scans, the
election's row, the newest ledger entry it includes (``seq``) and that entry's time (``as_of``),
and a version that only grows. It is written to ``$SECKI_VAR_DIR/state/<slug>.state`` under
a temporary name and moved into place (``os.replace``): a reader gets the old state or the new
one, never a mix.

Server workers (:func:`current`) keep the state in memory and load it again only when the
file changed (one ``stat`` per request); while one thread loads, the others keep answering
from the previous state. The portal keys its ETags and its page cache by the state's version.

Without a publisher (its heartbeat file older than ``HEARTBEAT_STALE``: tests, a bare
``runserver``), a web process builds the state itself, in memory, under a lock, at most once
per ``ON_DEMAND_SECONDS`` and only when the ledger moved.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import os
import pickle
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone, translation

from secki.elections.models import Election
from secki.ledger.models import LedgerEntry
from secki.opendata import answers, snapshots, stationpages
from secki.opendata.collect import (
    PublicData,
    PublicStation,
    StationPart,
    catch_up,
    collect,
    national_json,
)
from secki.results import store
from secki.results.publication import results_public, row_released
from secki.results.tabulate import Tabulation
from secki.results.turnout import UnitFigures, unit_figures

log = logging.getLogger(__name__)

SUFFIX = ".state"
#: the directory beside a state file holding its parts: one file per unit with stations
#: (``<unit id>-<version>-<publisher>``) and the register (``register-…``)
PARTS = ".parts"
#: seconds a part no state names any more stays on disk (a reader may still hold the state
#: that named it)
PART_GRACE = 30.0
#: bytes of part files a server process keeps loaded (each part one unit's stations; the
#: sizes of their files, least recently used dropped first, one part per unit: a unit's newer
#: part drops its older ones). In memory a part takes 4 to 5 times its file (measured with
#: bench/bench_worker_memory.py), so this keeps a worker's parts within about 100 MB whatever
#: the election's size: at 6,537 stations every unit's part fits (125 parts of about 25 kB
#: once every station counted); at 100,000 about half of the 125 (a counted part of 800
#: stations about 0.35 MB, of 1,500 about 0.6 MB), a unit not kept read again from its file
#: when asked (about 10 ms for 1,500 counted stations on a quiet core). Formerly 256 parts by
#: count: at 100,000 stations two versions of every unit, the whole election twice (200 MB
#: after 3,000 protocols, growing with every station counted).
PARTS_BYTES_KEPT = 24 << 20
#: seconds between publications while facts arrive (the state is never older than this)
INTERVAL = 0.5
#: seconds between rewrites of the open-data live files while facts arrive (a national bulk
#: CSV takes seconds: written after every state, it would hold the next states back; the live
#: files are served with ``max-age=2`` anyway)
OPEN_DATA_EVERY = 2.0
#: seconds between two looks for a due open-data release by the releases' thread of
#: ``secki publish --watch`` (:meth:`Publisher.run_releases`)
RELEASES_EVERY = 5.0
#: a web process without a running publisher rebuilds a state at most this often
ON_DEMAND_SECONDS = 1.0
#: a state names the stations whose pages each of the last this many states changed
#: (:attr:`State.pages_recent`): a station page rendered from one of them and written after
#: a newer state came out is kept when none of the states since changed that station
PAGES_WINDOW = 64
#: at most this many station codes in that window (a state changing more names none: it
#: counts as changing every page)
PAGES_WINDOW_CODES = 20_000


@dataclass
class State:
    """One consistent published state of one election.

    A state written by the publisher is split: the state file holds the totals of every
    unit (``data`` without any station's own data, see :meth:`PublicData.light`) and names
    the part files that hold the stations of each unit (``parts``) and the register; a
    reader loads a part when a page needs it (:meth:`stations`). Part files are never
    rewritten, only replaced under a new name, so a state and the parts it names always
    belong together. A state built in memory (``parts`` None) holds everything in ``data``.
    """

    version: int  # grows by one with every publication of this election
    key: tuple[int, str]  # the election's id and creation time (ids are reused after a reset)
    head: int  # the whole ledger's head read before the data: every fact up to it is in
    fingerprint: str  # the election's row as read with ``head``
    seq: int  # the newest entry of this election's log that the state includes
    as_of: dt.datetime | None  # that entry's time: the figures are as of then
    published_at: dt.datetime
    data: PublicData
    #: the publication setting held the results back when the state was built (its public
    #: tabulation, national JSON and stations show nothing counted)
    withheld: bool = False
    #: unit id → the name of the file holding its stations (None: they are in ``data``)
    parts: dict[int, str] | None = None
    register_file: str = ""  # the name of the file holding every station (with ``parts``)
    #: every unit's turnout figures (None: computed from ``data`` when asked)
    turnout: dict[int, UnitFigures] | None = None
    register_tag: int | None = None  # changes when the register (stations, units) may have
    #: (version, the codes of the stations whose pages it changed, None: every page) of this
    #: state and the ones before it, newest last, at most ``PAGES_WINDOW`` of them: what a
    #: page's writer checks (:func:`still_current`)
    pages_recent: tuple[tuple[int, frozenset[str] | None], ...] = ()
    #: the same window for the units whose results answers changed (those above the
    #: stations a state changed), the codes of units rather than of stations
    units_recent: tuple[tuple[int, frozenset[str] | None], ...] = ()
    _tab: Tabulation | None = field(default=None, repr=False, compare=False)
    _parts: dict[int, StationPart] = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["_tab"] = None
        out["_parts"] = {}
        return out

    @property
    def election(self) -> Election:
        return self.data.election

    @property
    def tag(self) -> str:
        """What an ETag names: the version and the data it holds."""
        return f"s{self.version}.{self.seq}.{self.key[0]}.{self.key[1]}"

    def tabulation(self) -> Tabulation:
        """The public tabulation of this state (no database work)."""
        if self._tab is None:
            data = self.data
            self._tab = Tabulation.of(
                data.election,
                units=data.units,
                candidates=data.candidates,
                totals=data.totals,
                public=True,
            )
            if self.withheld:
                self._tab = self._tab.held_back()
        return self._tab

    def stations(self, unit_id: int) -> StationPart:
        """The stations ``unit_id`` holds directly, with their public data in this state."""
        if self.parts is None:
            part = self._parts.get(unit_id)
            if part is None:
                part = self._parts[unit_id] = self.data.part(unit_id)
            return part
        name = self.parts.get(unit_id)
        if name is None:
            return StationPart(unit_id, [], {}, {}, {}, {})
        return _part(parts_dir(self.election.slug) / name)

    def register(self) -> list[PublicStation]:
        """Every station of the election, in the register's order."""
        if self.parts is None:
            return self.data.stations
        stations: list[PublicStation] = _load(parts_dir(self.election.slug) / self.register_file)
        return stations

    def turnout_figures(self) -> dict[int, UnitFigures]:
        """Every unit's turnout figures (the reports of its stations summed up the tree)."""
        if self.turnout is None:
            self.turnout = _turnout_figures(self.data)
        return self.turnout

    def register_fingerprint(self) -> int:
        if self.register_tag is None:
            self.register_tag = _register_tag(self.data)
        return self.register_tag


def _turnout_figures(data: PublicData) -> dict[int, UnitFigures]:
    units = {u.id: u for u in data.units}
    return unit_figures(
        units, ((s.unit_id, s.registered, data.turnout.get(s.id, {})) for s in data.stations)
    )


def _register_tag(data: PublicData) -> int:
    return hash(
        (
            tuple(data.stations),
            tuple(
                (u.id, u.code, u.name, u.name_az, u.name_ru, u.parent_id, u.position)
                for u in data.units
            ),
        )
    )


def _load(path: Path) -> Any:
    return pickle.loads(path.read_bytes())  # noqa: S301 - written by this site's publisher


def _part_unit(path: Path) -> tuple[tuple[Path, int], int] | None:
    """(the part's unit: its directory and id, the state version it was written for) from a
    part file's name (``<unit id>-<version>-<publisher>``); None for another name."""
    unit, _, rest = path.name.partition("-")
    version = rest.partition("-")[0]
    if not (unit.isdigit() and version.isdigit()):
        return None
    return (path.parent, int(unit)), int(version)


class _PartCache:
    """The part files a process keeps loaded: at most ``PARTS_BYTES_KEPT`` bytes of files
    (the most recently used part is kept even when larger), and of each unit only the part of
    the newest state that asked for it. A reader still on an older state gets that state's
    part from its file without keeping it (unless the newer part's file is gone: the
    election was made again, its versions counting from 1)."""

    def __init__(self) -> None:
        self.items: OrderedDict[Path, tuple[int, StationPart]] = OrderedDict()
        self.size = 0  # bytes of the files of ``items``
        self.newest: dict[tuple[Path, int], tuple[int, Path]] = {}  # unit → (version, part)
        self.lock = threading.Lock()

    def get(self, path: Path) -> StationPart | None:
        with self.lock:
            hit = self.items.get(path)
            if hit is None:
                return None
            self.items.move_to_end(path)
            return hit[1]

    def put(self, path: Path, size: int, part: StationPart) -> None:
        unit = _part_unit(path)
        with self.lock:
            self._drop(path)  # (two threads read the same file at once)
            if unit is not None:
                newest = self.newest.get(unit[0])
                if newest is not None:
                    if newest[0] > unit[1] and newest[1].exists():
                        return  # an older state's part: the newer one stays
                    self._drop(newest[1])  # (or a newer part gone: an election made again)
                self.newest[unit[0]] = (unit[1], path)
            self.items[path] = (size, part)
            self.size += size
            while len(self.items) > 1 and self.size > PARTS_BYTES_KEPT:
                self._drop(next(iter(self.items)))

    def _drop(self, path: Path) -> None:
        hit = self.items.pop(path, None)
        if hit is None:
            return
        self.size -= hit[0]
        unit = _part_unit(path)
        if unit is not None and self.newest.get(unit[0], (0, None))[1] == path:
            del self.newest[unit[0]]

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.newest.clear()
            self.size = 0


_part_cache = _PartCache()


class _GcClock:
    """Seconds this process spent collecting garbage (all threads stop meanwhile), counted
    once :meth:`watch` was called (the publisher at DEBUG: its states' timings)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._since: float | None = None
        self._watching = False

    def watch(self) -> None:
        if not self._watching:
            gc.callbacks.append(self._callback)
            self._watching = True

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._since = time.perf_counter()
        elif self._since is not None:
            self.seconds += time.perf_counter() - self._since
            self._since = None


_gc = _GcClock()


def _part(path: Path) -> StationPart:
    """A unit's part file, kept in memory (its name changes whenever its content does)."""
    part = _part_cache.get(path)
    if part is not None:
        return part
    raw = path.read_bytes()
    part = pickle.loads(raw)  # noqa: S301 - written by this site's publisher
    if not isinstance(part, StationPart):
        raise TypeError(f"{path.name}: not a part of a published state")
    _part_cache.put(path, len(raw), part)
    return part


def marked_file(slug: str) -> Path:
    return state_dir() / f"{slug}.marked"


def _write_marked(slug: str, version: int) -> None:
    """Note that the station pages of every state up to ``version`` are marked (stale or
    removed): the page refresher renders again only what a state marked before this."""
    path = marked_file(slug)
    tmp = path.with_name(f".{path.name}-{os.getpid()}")
    tmp.write_text(str(version))
    os.replace(tmp, path)


def marked_version(slug: str) -> int:
    """The newest state whose station pages the publisher has marked (0: none)."""
    try:
        return int(marked_file(slug).read_text())
    except (OSError, ValueError):
        return 0


def state_dir() -> Path:
    return Path(settings.VAR_DIR) / "state"


def state_file(slug: str) -> Path:
    return state_dir() / f"{slug}{SUFFIX}"


def parts_dir(slug: str) -> Path:
    return state_dir() / f"{slug}{PARTS}"


def _fingerprint(row: store.ElectionRow, now: dt.datetime) -> str:
    """The election's row and whether its publication time was reached at ``now`` (which
    moves no ledger head: a state built before the instant is replaced after it)."""
    released = "" if row_released(row.publication, row.publication_at, now) else "\x1fwithheld"
    return "\x1f".join(str(v) for v in row) + released


def _as_of(seq: int) -> dt.datetime | None:
    if not seq:
        return None
    return LedgerEntry.objects.filter(seq=seq).values_list("at", flat=True).first()


def _dumps(state: State) -> bytes:
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(raw: bytes) -> State:
    state = pickle.loads(raw)  # noqa: S301 - written by this site's publisher (state_dir)
    if not isinstance(state, State):
        raise TypeError("not a published state")
    return state


def read(slug: str) -> State | None:
    """The state in the file of ``slug``, or None without one (or an unreadable one)."""
    try:
        return _loads(state_file(slug).read_bytes())
    except (OSError, pickle.UnpicklingError, TypeError, EOFError, AttributeError):
        return None


def _write_file(path: Path, value: object) -> None:
    tmp = path.with_name(f".{path.name}-{os.getpid()}")
    tmp.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(tmp, path)


def write(state: State, raw: bytes | None = None) -> Path:
    """Replace the election's state file atomically (``raw``: the state already pickled)."""
    path = state_file(state.election.slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}-{os.getpid()}-{time.time_ns()}")
    tmp.write_bytes(_dumps(state) if raw is None else raw)
    os.replace(tmp, path)
    return path


def _build(
    election: Election,
    row: store.ElectionState,
    data: PublicData,
    version: int,
    *,
    now: dt.datetime,
    written: _Written | None = None,
) -> State:
    """A state of ``data`` at ``now``, withheld while the publication setting holds results
    back: split into the part files ``written`` (the publisher's), or holding ``data`` itself
    (a web process's own state)."""
    return State(
        version=version,
        key=(election.pk, str(election.created_at)),
        head=row.head,
        fingerprint=_fingerprint(row.election, now),
        seq=data.seq,
        as_of=_as_of(data.seq),
        published_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        data=data if written is None else data.light(),
        withheld=bool(data.units) and not results_public(election, data.totals[data.root.id], now),
        parts=None if written is None else dict(written.files),
        register_file="" if written is None else written.register,
        turnout=None if written is None else written.turnout,
        register_tag=None if written is None else written.register_tag,
    )


# -- the publisher ------------------------------------------------------------------------


@dataclass
class _Last:
    state: State
    at: float  # the publisher's clock when it was published


@dataclass
class _Pages:
    """What the station page files on disk were last made consistent with (an election)."""

    data: PublicData
    fingerprint: str
    withheld: bool
    register_tag: int | None


@dataclass
class _Written:
    """The part files the publisher last wrote for an election, and of which data."""

    data: PublicData
    files: dict[int, str]  # unit id → its part file
    revs: dict[int, int]  # unit id → ``data.rev`` when its part was written
    register: str
    register_tag: int
    turnout_rev: int
    turnout: dict[int, UnitFigures]


class Publisher:
    """Publishes the states of every election (or of ``slug``), one :meth:`step` at a time.

    A step publishes an election whose ledger or row changed when its last state is at least
    ``interval`` old by ``clock`` (so while facts arrive a state is never older than the
    interval plus one step), and refreshes the open-data live files from the same data.
    ``clock`` (intervals) and ``now`` (the wall clock a publication time is compared with)
    are injectable so that tests drive time explicitly. The open-data live files follow at
    most every ``open_data_every`` seconds (the states do not wait for them).

    Each state rewrites only the part files of the units whose stations changed since the
    last one (a new name each time; the old file is removed ``PART_GRACE`` seconds later).
    """

    def __init__(
        self,
        slug: str | None = None,
        *,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = timezone.now,
        open_data: bool = True,
        open_data_every: float = OPEN_DATA_EVERY,
        releases_apart: bool = False,
    ) -> None:
        self.slug = slug
        self.interval = interval
        self.open_data_every = open_data_every
        #: the releases are cut by :meth:`run_releases` in a thread of their own, not after a
        #: state: a release takes seconds at a national election, and no state would come out
        #: meanwhile (the live files then wait for it instead: :meth:`_open_data`)
        self.releases_apart = releases_apart
        self._opened: dict[str, float] = {}  # slug → when its open-data files were refreshed
        self._behind: set[str] = set()  # slugs whose open-data files lag behind their state
        self.clock = clock
        self.now = now
        self.open_data = open_data
        self.last: dict[str, _Last] = {}
        self._data: dict[tuple[int, str], PublicData] = {}
        self._written: dict[str, _Written] = {}
        self._pages: dict[str, _Pages] = {}
        #: elections whose station page files this publisher has cleared once (those of an
        #: earlier publisher may come from another release's templates)
        self._cleared: set[str] = set()
        self._stale: list[tuple[float, Path]] = []  # (since when, part file no state names)
        self._token = secrets.token_hex(4)  # part files of this publisher: names never reused

    def step(self) -> list[State]:
        """One round over the elections; returns the states published in it."""
        snapshots.beat()
        slugs = (
            [self.slug]
            if self.slug
            else list(Election.objects.order_by("slug").values_list("slug", flat=True))
        )
        published = []
        for slug in slugs:
            state = self.step_one(slug)
            if state is not None:
                published.append(state)
        if not self.slug:
            self._forget_others(set(slugs))
        self._remove_stale()
        return published

    def step_one(self, slug: str) -> State | None:
        row = store.election_state(slug)
        if row is None:
            self.last.pop(slug, None)
            self._cleared.discard(slug)
            if self._pages.pop(slug, None) is not None:
                stationpages.remove_election(slug)
            return None
        now = self.clock()
        wall = self.now()
        last = self.last.get(slug)
        if last is None:
            previous = read(slug)
            if previous is not None and previous.key[0] == row.election.id:
                last = self.last[slug] = _Last(previous, -float("inf"))
        if slug not in self._cleared:
            stationpages.remove_election(slug)
            self._cleared.add(slug)
            if last is not None:  # the state on disk goes on: its national answer with it
                stationpages.write_results(slug, national_answer(last.state))
        if last is not None:
            same = (
                last.state.key[0] == row.election.id
                and last.state.head == row.head
                and last.state.fingerprint == _fingerprint(row.election, wall)
            )
            if same or now - last.at < self.interval:
                if slug in self._behind:
                    self._open_data(Election.objects.get(pk=row.election.id), now)
                return None
        started, cpu, collected = time.perf_counter(), time.thread_time(), _gc.seconds
        election = Election.objects.get(pk=row.election.id)
        data = self._current_data(election)
        version = (last.state.version + 1) if last is not None else 1
        written = self._write_parts(slug, data, version)
        state = _build(election, row, data, version, now=wall, written=written)
        changed = self._pages_changed(slug, data, state)
        state.pages_recent = self._recent(last.state if last is not None else None, state, changed)
        units = self._units_changed(data, changed)
        state.units_recent = _window(
            last.state.units_recent if last is not None else (), state.version, units
        )
        raw = _dumps(state)
        write(state, raw)
        state = _loads(raw)  # its own copy: ``data`` goes on changing
        # after the state: see stationpages
        if changed is None:
            stationpages.remove_election(slug)
        elif changed:  # served stale until rendered again (secki.opendata.refresh)
            stationpages.mark_stale(slug, changed)
        # the national answer at once, served by nginx as it is (no app, no copies of it)
        stationpages.write_results(slug, national_answer(state))
        if changed:  # the changed stations' answers, and those of the units above them kept
            _write_station_answers(slug, state, data, changed)
        if units:
            _write_unit_answers(slug, state, data, units)
        _write_marked(slug, version)
        written_at, written_cpu, written_wall = time.perf_counter(), time.thread_time(), self.now()
        if self.open_data:  # the files the changes touched and a due release, after the state
            self._behind.add(slug)
            self._open_data(election, now)
        self.last[slug] = _Last(state, now)
        data.index()  # while nothing waits: the next change finds its station at once
        if log.isEnabledFor(logging.DEBUG):  # what each state cost and how late it came
            _gc.watch()
            oldest = (  # the oldest fact this state is the first to include: how late it came
                LedgerEntry.objects.filter(
                    election_id=state.key[0],
                    seq__gt=last.state.seq if last is not None else 0,
                    seq__lte=state.seq,
                )
                .order_by("seq")
                .values_list("at", flat=True)
                .first()
            )
            log.debug(
                "published state %d of %s",
                version,
                slug,
                extra={
                    "election": slug,
                    "version": version,
                    "pages_changed": -1 if changed is None else len(changed),
                    "state_ms": round(1000 * (written_at - started), 1),
                    "state_cpu_ms": round(1000 * (written_cpu - cpu), 1),
                    "after_ms": round(1000 * (time.perf_counter() - written_at), 1),
                    "after_cpu_ms": round(1000 * (time.thread_time() - written_cpu), 1),
                    "since_last_ms": -1.0
                    if last is None or last.at == -float("inf")
                    else round(1000 * (now - last.at), 1),
                    "oldest_fact_ms": -1.0
                    if oldest is None
                    else round(1000 * (written_wall - oldest).total_seconds(), 1),
                    "gc_ms": round(1000 * (_gc.seconds - collected), 1),
                },
            )
        return state

    def _pages_changed(self, slug: str, data: PublicData, state: State) -> frozenset[str] | None:
        """The codes of the stations whose pages ``state`` changes: those that changed since
        the last state, or None (every page of the election) on new data, another election
        row or publication time, the results held back or let out, or another register. The
        publisher marks their files stale after writing the state; a page rendered from an
        older state and written after that is removed by its writer (:func:`still_current`)."""
        last = self._pages.get(slug)
        taken = data.take_pages()
        self._pages[slug] = _Pages(data, state.fingerprint, state.withheld, state.register_tag)
        if (
            last is None
            or last.data is not data
            or last.fingerprint != state.fingerprint
            or last.withheld != state.withheld
            or last.register_tag != state.register_tag
        ):
            return None
        return frozenset(data.station(s).code for s in taken)

    @staticmethod
    def _recent(
        last: State | None, state: State, changed: frozenset[str] | None
    ) -> tuple[tuple[int, frozenset[str] | None], ...]:
        """``state``'s window of page changes: the last state's, then its own, the oldest
        dropped beyond ``PAGES_WINDOW`` states or ``PAGES_WINDOW_CODES`` codes."""
        return _window(last.pages_recent if last is not None else (), state.version, changed)

    @staticmethod
    def _units_changed(data: PublicData, changed: frozenset[str] | None) -> frozenset[str] | None:
        """The codes of the units whose results answers the stations ``changed`` change: the
        units above each of them, up to the root (None: every unit's)."""
        if changed is None:
            return None
        ids = data.station_ids()
        units: set[int] = set()
        for code in changed:
            units.update(data.branch(data.station(ids[code]).unit_id))
        return frozenset(u.code for u in data.units if u.id in units)

    def _open_data(self, election: Election, now: float) -> None:
        """Refresh the election's open-data live files (and cut a due release, unless the
        releases are cut apart) when the last refresh is at least ``open_data_every`` old.
        With the releases apart, a refresh never waits for the election's lock: while the
        releases' thread holds it, the files stay behind and the next state's step tries
        again."""
        if now - self._opened.get(election.slug, -float("inf")) < self.open_data_every:
            return
        apart = self.releases_apart
        done = snapshots.refresh(election, keep=True, wait=not apart, release=not apart)
        if done.seq < 0:  # the lock was held (a release being cut): again at the next step
            return
        self._opened[election.slug] = now
        self._behind.discard(election.slug)

    def release(self) -> list[str]:
        """Cut the due open-data release of each election (bringing its live files to the
        head first); returns the releases cut (their names)."""
        elections = Election.objects.order_by("slug")
        if self.slug:
            elections = elections.filter(slug=self.slug)
        cut = []
        for election in elections:
            done = snapshots.refresh(election, keep=True)
            if done.release:
                cut.append(f"{election.slug}/{done.release}")
        return cut

    def run_releases(self, stop: threading.Event, *, every: float = RELEASES_EVERY) -> None:
        """Look for due releases every ``every`` seconds until ``stop`` is set (``secki publish
        --watch`` runs this in a thread of its own, with ``releases_apart``)."""
        while not stop.wait(every):
            try:
                self.release()
            except Exception:  # the database away, a full disk: log, try again next look
                log.exception("cutting the open-data releases failed")
                connection.close()
        connection.close()

    def _write_parts(self, slug: str, data: PublicData, version: int) -> _Written:
        """Write the part files of the units whose stations changed since the last state
        (all of them for new data), the register's with new data; returns what is on disk."""
        directory = parts_dir(slug)
        directory.mkdir(parents=True, exist_ok=True)
        written = self._written.get(slug)
        if written is None or written.data is not data:
            if written is None:  # files of an earlier publisher: gone after the grace period
                for path in directory.iterdir():
                    self._stale.append((self.clock(), path))
            else:
                self._retire(directory, [*written.files.values(), written.register])
            register = f"register-{version}-{self._token}"
            _write_file(directory / register, data.stations)
            written = _Written(data, {}, {}, register, _register_tag(data), -1, {})
            self._written[slug] = written
            units = {s.unit_id for s in data.stations}
        else:
            units = {u for u, rev in data.unit_rev.items() if rev > written.revs.get(u, -1)}
        old = []
        for unit_id in units:
            name = f"{unit_id}-{version}-{self._token}"
            _write_file(directory / name, data.part(unit_id))
            if unit_id in written.files:
                old.append(written.files[unit_id])
            written.files[unit_id] = name
            written.revs[unit_id] = data.rev
        self._retire(directory, old)
        if written.turnout_rev != data.turnout_rev:
            written.turnout = _turnout_figures(data)
            written.turnout_rev = data.turnout_rev
        return written

    def _retire(self, directory: Path, names: list[str]) -> None:
        at = self.clock()
        self._stale.extend((at, directory / name) for name in names)

    def _remove_stale(self) -> None:
        now = self.clock()
        keep = []
        for since, path in self._stale:
            if now - since >= PART_GRACE:
                path.unlink(missing_ok=True)
            else:
                keep.append((since, path))
        self._stale = keep

    def _current_data(self, election: Election) -> PublicData:
        """The election's public data, brought up to now: the open-data snapshot's kept data
        caught up (its files are rewritten after the state), or through a full refresh, or on
        its own."""
        key = (election.pk, str(election.created_at))
        if self.open_data:
            # the state first: the open-data files the changes touch are written after it
            # (step_one), so that a national file of a million rows never delays a total
            advanced = snapshots.advance(election)
            if advanced is not None:
                return advanced
            snapshots.refresh(election, keep=True, release=False)
            kept = snapshots.kept(election)
            if kept is not None:
                return kept
        data = self._data.get(key)
        if data is not None and catch_up(data) is not None:
            return data
        data = collect(election)
        self._data = {key: data}
        if self.open_data:
            snapshots.write_live(election, data, keep=True)
        return data

    def _forget_others(self, slugs: set[str]) -> None:
        """Remove the state files of elections that are gone."""
        directory = state_dir()
        if not directory.is_dir():
            return
        for path in directory.glob(f"*{SUFFIX}"):
            if path.name[: -len(SUFFIX)] not in slugs:
                path.unlink(missing_ok=True)
        for path in directory.glob(f"*{PARTS}"):
            slug = path.name[: -len(PARTS)]
            if slug not in slugs:
                self._written.pop(slug, None)
                shutil.rmtree(path, ignore_errors=True)
        pages = stationpages.root_dir()
        if pages.is_dir():
            for path in pages.iterdir():
                if not path.name.startswith(".") and path.name not in slugs:
                    self._pages.pop(path.name, None)
                    stationpages.remove_election(path.name)

    def run(self, stop: threading.Event, *, tick: float = 0.1) -> None:
        """Step until ``stop`` is set (``secki publish --watch`` runs this in a thread)."""
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # a failing round (database away): log, try again next tick
                log.exception("publishing the public state failed")
                connection.close()
            stop.wait(tick)
        connection.close()


# -- the readers (server workers) ---------------------------------------------------------


@dataclass
class _Loaded:
    stamp: tuple[int, int, int]  # inode, mtime, size of the file it was read from
    state: State


_files: dict[str, _Loaded] = {}
_loading: set[str] = set()
_memory: dict[str, tuple[float, State]] = {}  # on demand: slug → (built at, state)
_checked: dict[str, tuple[float, store.ElectionState | None]] = {}
_files_lock = threading.Lock()
_demand_lock = threading.Lock()
_versions: dict[tuple[int, str], int] = {}


def clear() -> None:
    """Forget every state this process holds (tests: the database was rolled back)."""
    with _files_lock:
        _files.clear()
        _loading.clear()
    with _demand_lock:
        _memory.clear()
        _checked.clear()
        _versions.clear()
    _part_cache.clear()


def _write_station_answers(slug: str, state: State, data: PublicData, codes: frozenset[str]) -> int:
    """Write the public results answers of these stations (their codes) from ``state``
    (``data``: the publisher's data it was made of, still the same) as the API answers an
    anonymous reader on the public origin (:func:`secki.opendata.stationpages.public_origin`):
    the same bytes (:func:`secki.opendata.answers.station_answer`); a stale one left beside
    goes. Returns how many."""
    origin = stationpages.public_url()
    ids = data.station_ids()
    unit_codes = {u.id: u.code for u in data.units}
    parts: dict[int, StationPart] = {}  # one part per unit of the changed stations
    written = 0
    for code in sorted(codes):
        sid = ids.get(code)
        if sid is None:
            continue
        s = data.station(sid)
        part = parts.get(s.unit_id)
        if part is None:
            part = parts[s.unit_id] = data.part(s.unit_id)
        content = answers.station_answer(
            slug, unit_codes[s.unit_id], s, part, origin, withheld=state.withheld
        )
        path = stationpages.write_answer(slug, stationpages.STATIONS, code, content)
        if path is not None:
            path.with_name(stationpages.STALE_ANSWER).unlink(missing_ok=True)
            written += 1
    return written


def _write_unit_answers(slug: str, state: State, data: PublicData, units: frozenset[str]) -> int:
    """Write the public results answers of these units (their codes) from ``state`` (``data``:
    the publisher's data it was made of, still the same), those on disk only (fresh or stale:
    asked for once), as the API answers an anonymous reader without a language (the site's
    default): the same bytes (:func:`secki.opendata.answers.unit_answer`). Returns how many."""
    tab = state.tabulation()
    nodes = {u.code: u for u in tab.units.values() if u.code in units}
    written = 0
    with translation.override(settings.LANGUAGE_CODE):
        for code, node in nodes.items():
            path = stationpages.answer_path(slug, stationpages.UNITS, code)
            if path is None:
                continue
            stale = path.with_name(stationpages.STALE_ANSWER)
            if not (path.exists() or stale.exists()):
                continue
            content = answers.unit_answer(tab, node, data.part(node.id))
            if stationpages.write_answer(slug, stationpages.UNITS, code, content) is not None:
                stale.unlink(missing_ok=True)
                written += 1
    return written


def national_answer(state: State) -> bytes:
    """The public's ``GET /api/v1/elections/<slug>/results`` from ``state``: the body the API
    sends (:func:`secki.portal.api.national`) and the file the publisher writes with each
    state for nginx (:func:`secki.opendata.stationpages.write_results`)."""
    return json.dumps(national_json(state.data, withheld=state.withheld)).encode()


def current(slug: str) -> State | None:
    """The latest published state of ``slug``; None when there is no such election."""
    if snapshots.publisher_alive():
        state = _from_file(slug)
        if state is not None:
            if slug in _memory:  # a state built here before the publisher's first one
                with _demand_lock:
                    _memory.pop(slug, None)
            return state
    return _on_demand(slug)


def from_file(slug: str) -> State | None:
    """The state the publisher last wrote for ``slug`` (kept in memory while its file does not
    change), or None without one: never built here."""
    return _from_file(slug)


def _from_file(slug: str) -> State | None:
    path = state_file(slug)
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    with _files_lock:
        loaded = _files.get(slug)
        if loaded is not None and (loaded.stamp == stamp or slug in _loading):
            return loaded.state  # current, or another thread is loading the new one
        _loading.add(slug)
    try:
        state = read(slug)
    finally:
        with _files_lock:
            _loading.discard(slug)
    if state is None:
        return loaded.state if loaded is not None else None
    with _files_lock:
        old = _files.get(slug)
        if old is None or old.state.version <= state.version or old.state.key != state.key:
            _files[slug] = _Loaded(stamp, state)
        return _files[slug].state


def still_current(state: State, code: str | None = None, *, unit: bool = False) -> bool:
    """Whether a page of station ``code`` rendered from ``state`` still shows the latest
    published state: the election's state file is stat'ed again and loaded if it changed
    (while another thread of this process loads it: no); it must be ``state``'s own file, or
    a later one of the same election whose window of page changes
    (:attr:`State.pages_recent`) covers every state since ``state`` and names ``code`` in
    none of them. With ``unit``, ``code`` is a unit's, whose results answer is checked
    against the window of unit changes (:attr:`State.units_recent`). False for a state
    built in memory (no publisher runs: nothing would remove a page written from it)."""
    slug = state.election.slug
    if state.parts is None:
        return False
    _from_file(slug)
    try:
        st = state_file(slug).stat()
    except OSError:
        return False
    with _files_lock:
        loaded = _files.get(slug)
    if loaded is None or loaded.stamp != (st.st_ino, st.st_mtime_ns, st.st_size):
        return False
    latest = loaded.state
    if latest is state or _same(latest, state):
        return True
    if code is None or latest.key != state.key or latest.version <= state.version:
        return False
    recent = dict(latest.units_recent if unit else latest.pages_recent)
    for version in range(state.version + 1, latest.version + 1):
        if version not in recent:
            return False
        changed = recent[version]
        if changed is None or code in changed:
            return False
    return True


def _same(one: State, other: State) -> bool:
    """Whether two states loaded apart (this process forgot the first meanwhile: tests'
    :func:`clear`) are the same published state."""
    return (one.key, one.version, one.head, one.seq, one.published_at) == (
        other.key,
        other.version,
        other.head,
        other.seq,
        other.published_at,
    )


def _window(
    window: tuple[tuple[int, frozenset[str] | None], ...],
    version: int,
    changed: frozenset[str] | None,
) -> tuple[tuple[int, frozenset[str] | None], ...]:
    """A window of changes (:attr:`State.pages_recent`, :attr:`State.units_recent`) with
    ``version``'s own added, the oldest dropped beyond ``PAGES_WINDOW`` states or
    ``PAGES_WINDOW_CODES`` codes."""
    if changed is not None and len(changed) > PAGES_WINDOW_CODES:
        changed = None
    kept = [*window, (version, changed)][-PAGES_WINDOW:]
    codes = sum(len(c) for _v, c in kept if c is not None)
    while codes > PAGES_WINDOW_CODES:
        _v, dropped = kept.pop(0)
        codes -= len(dropped) if dropped is not None else 0
    return tuple(kept)


def _row(slug: str, now: float) -> store.ElectionState | None:
    hit = _checked.get(slug)
    if hit is not None and now - hit[0] < ON_DEMAND_SECONDS:
        return hit[1]
    row = store.election_state(slug)
    _checked[slug] = (now, row)
    return row


def _on_demand(slug: str) -> State | None:
    """Without a publisher: this process's own state, rebuilt when the ledger or the election
    moved, at most once per ``ON_DEMAND_SECONDS`` (one thread builds; the others wait)."""
    with _demand_lock:
        now = time.monotonic()
        wall = timezone.now()
        row = _row(slug, now)
        if row is None:
            return None
        hit = _memory.get(slug)
        if hit is not None:
            built, state = hit
            fresh = (
                state.key[0] == row.election.id
                and state.head == row.head
                and state.fingerprint == _fingerprint(row.election, wall)
            )
            if fresh or (state.key[0] == row.election.id and now - built < ON_DEMAND_SECONDS):
                return state
        election = Election.objects.get(pk=row.election.id)
        key = (election.pk, str(election.created_at))
        version = _versions.get(key, 0) + 1
        _versions[key] = version
        state = _build(election, row, collect(election), version, now=wall)
        _memory[slug] = (now, state)
        # no publisher removes the station page files of the states it does not write
        if stationpages.election_dir(slug).exists():
            stationpages.remove_election(slug)
        return state
