"""What a server process keeps of the published states stays bounded (issue 15): the unit
parts it loaded, by the bytes of their files and one per unit; no state that no reader can
ask for again."""

from __future__ import annotations

import gc
import pickle
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.elections.models import Election, Station
from secki.opendata import published, snapshots
from secki.opendata.collect import StationPart
from secki.portal import http
from secki.protocols.actions import amend_protocol
from tests.portal.conftest import Clock, protocol_data, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    published.clear()
    yield
    published.clear()


def write_part(directory: Path, unit: int, version: int, padding: int) -> Path:
    """A part file of ``unit`` for state ``version``, about ``padding`` × 10 bytes."""
    path = directory / f"{unit}-{version}-feedbeef"
    values = {n: {"L2": n} for n in range(padding)}
    path.write_bytes(pickle.dumps(StationPart(unit, [], {}, values, {}, {})))
    return path


def kept() -> dict[str, int]:
    """The name → file size of every part this process keeps loaded."""
    return {path.name: size for path, (size, _part) in published._part_cache.items.items()}


def test_the_parts_kept_never_exceed_their_byte_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = {u: write_part(tmp_path, u, 1, 100 * u).stat().st_size for u in range(1, 21)}
    budget = sizes[18] + sizes[19] + sizes[20]
    monkeypatch.setattr(published, "PARTS_BYTES_KEPT", budget, raising=False)
    for unit in range(1, 21):
        part = published._part(tmp_path / f"{unit}-1-feedbeef")
        assert part.unit_id == unit and len(part.values) == 100 * unit
        assert sum(kept().values()) <= budget
        assert published._part_cache.size == sum(kept().values())
    assert kept() == {f"{u}-1-feedbeef": sizes[u] for u in (18, 19, 20)}
    # a part larger than the whole budget is still kept (the one being read), alone
    big = write_part(tmp_path, 99, 1, 10 * 2000)
    assert published._part(big).unit_id == 99
    assert kept() == {big.name: big.stat().st_size}


def test_of_each_unit_only_the_newest_part_is_kept(tmp_path: Path) -> None:
    old, new = write_part(tmp_path, 7, 1, 10), write_part(tmp_path, 7, 2, 11)
    other = write_part(tmp_path, 8, 1, 10)
    published._part(old)
    published._part(other)
    assert set(kept()) == {old.name, other.name}
    published._part(new)  # a newer state's part of unit 7 drops the older one
    assert set(kept()) == {new.name, other.name}
    # a reader still on the older state gets its part, read again, not kept
    assert len(published._part(old).values) == 10
    assert set(kept()) == {new.name, other.name}
    # the newer part's file gone (the election made again): the part asked for is kept
    new.unlink()
    published._part(old)
    assert set(kept()) == {old.name, other.name}
    # two threads that read the same file at once put it twice: still one part of unit 7
    published._part_cache.put(old, old.stat().st_size, published._part(old))
    newer = write_part(tmp_path, 7, 3, 12)
    published._part(newer)
    assert set(kept()) == {newer.name, other.name}


def test_a_station_read_after_many_states_keeps_one_part_of_its_unit(
    waiting: Election, admin: Any, clock: Clock
) -> None:
    publisher = published.Publisher(clock=clock)
    station = Station.objects.get(election=waiting, code="1-1")
    amended: list[str] = []
    for number in range(4):
        if number == 0:
            submit(waiting, "1-1", admin)
        else:
            data = protocol_data("1-1")
            changed = type(data)(
                {**data.counts, "L2": data.counts["L2"] + number}, data.instants, data.candidates
            )
            amend_protocol(station, changed, actor=admin, reason=f"recount {number}")
        clock.now += published.INTERVAL
        [state] = publisher.step()
        assert state.parts is not None
        amended.append(state.parts[station.unit_id])
        answer = Client().get(f"/api/v1/elections/{waiting.slug}/results/stations/1-1").json()
        assert answer["values"]["L2"] == protocol_data("1-1").counts["L2"] + number
    assert len(set(amended)) == 4  # each state named a new part of the unit
    assert [name for name in kept() if name.startswith(f"{station.unit_id}-")] == [amended[-1]]


def test_a_state_built_before_the_publisher_s_first_is_not_kept_after_it(
    waiting: Election, admin: Any, clock: Clock
) -> None:
    """A server started before the publisher's first state (its heartbeat beats while the
    first round runs, minutes for a national election) builds a state itself; once the
    publisher's state is out, nothing keeps the one built here (at 100,000 stations every
    station's data)."""
    snapshots.beat()
    assert Client().get(f"/api/v1/elections/{waiting.slug}/results").status_code == 200
    built = published._memory[waiting.slug][1]
    assert built.parts is None  # built in this process, every station's data in it
    gone = weakref.ref(built)
    del built
    published.Publisher(clock=clock).step()
    answer = Client().get(f"/api/v1/elections/{waiting.slug}/results")
    assert answer.status_code == 200 and answer["X-Secki-State"] == "1"
    gc.collect()
    assert gone() is None


def test_an_older_published_state_is_not_kept_once_a_newer_one_is_read(
    waiting: Election, admin: Any, clock: Clock
) -> None:
    publisher = published.Publisher(clock=clock)
    publisher.step()
    client = Client()
    assert client.get(f"/e/{waiting.slug}/").status_code == 200
    assert client.get(f"/e/{waiting.slug}/s/1-1/").status_code == 200
    first = published.from_file(waiting.slug)
    assert first is not None
    gone = weakref.ref(first)
    del first
    submit(waiting, "1-1", admin)
    clock.now += published.INTERVAL
    publisher.step()
    assert client.get(f"/e/{waiting.slug}/")["X-Secki-State"] == "2"
    assert client.get(f"/e/{waiting.slug}/s/1-1/").status_code == 200
    gc.collect()
    assert gone() is None


def test_the_page_cache_holds_at_most_its_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "CACHE_BYTES", 1000, raising=False)
    cache = http._PageCache()
    for n in range(10):
        cache.put(f"s{n}", bytes([n]) * 300, "text/html")
        held = [key for key in (f"s{m}" for m in range(n + 1)) if cache.get(key) is not None]
        assert len(held) * 300 <= 1000 and f"s{n}" in held
    assert held == ["s7", "s8", "s9"] and cache.size == 900
    cache.put("s9", b"x" * 100, "text/html")  # a page put again counts once
    assert cache.size == 700 and cache.get("s9") == (b"x" * 100, "text/html")
