"""The log takes its totals from the public state (issue 20): with ``secki publish --watch``,
one publisher keeps the public state current by deltas, and the log's round publishes up to
that state with its totals instead of tabulating the whole election again (at a million
stations, seconds of the database's time at every round). The results file is the same as a
tabulation's, and equals the tally of the entries it covers."""

from __future__ import annotations

from typing import Any

import pytest

from secki.elections.models import Election
from secki.ledger.models import LedgerEntry
from secki.opendata import published, transparency
from secki.opendata.transparency import publish
from secki.results.tabulate import Tabulation
from secki.tlog.entries import tally
from secki.tlog.results import parse_results
from tests.portal.conftest import submit
from tests.transparency.conftest import entries_of, log_dir, opened

pytestmark = pytest.mark.django_db


def publish_state(election: Election) -> published.State:
    state = published.Publisher(election.slug, interval=0.0, open_data=False).step_one(
        election.slug
    )
    assert state is not None
    return state


def no_tabulation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Tabulation:
        raise AssertionError("the log tabulated the election")

    monkeypatch.setattr(transparency, "Tabulation", refuse)


def test_the_log_takes_its_totals_from_a_state_at_the_head(
    waiting: Election, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for code in ("1-1", "1-2", "2-1"):
        submit(waiting, code, admin)
    publish_state(waiting)
    tabulated = Tabulation(waiting, public=True)
    no_tabulation(monkeypatch)

    done = publish(waiting)
    entries = entries_of(waiting)
    assert (done.status, done.size, done.behind) == ("published", len(entries), False)
    document = parse_results((log_dir(waiting) / f"results/{len(entries)}.json").read_bytes())
    national = tabulated.result().totals
    assert document.totals == dict(sorted(national.lines.items())) != {}
    assert document.stations_counted == national.stations_reported == 3
    assert document.totals == tally(entries, waiting.slug).totals
    # every unit of the tree, as the tabulation has it
    assert document.units == {
        unit.code: dict(sorted(tabulated.totals[unit.id].lines.items()))
        for unit in tabulated.units.values()
    }
    assert opened(waiting).checkpoint.size == len(entries)


def test_a_state_behind_the_database_publishes_the_log_up_to_the_state(
    waiting: Election, admin: Any
) -> None:
    first = publish(waiting)  # no state yet: tabulated
    assert (first.status, first.behind) == ("published", False)
    submit(waiting, "1-1", admin)
    state = publish_state(waiting)
    reached = len(entries_of(waiting))
    submit(waiting, "1-2", admin)  # after the state: not in it
    assert len(entries_of(waiting)) > reached

    done = publish(waiting)
    assert (done.status, done.previous, done.size, done.behind) == (
        "published",
        first.size,
        reached,
        True,
    )
    document = parse_results((log_dir(waiting) / f"results/{reached}.json").read_bytes())
    assert document.stations_counted == 1
    assert document.totals == tally(entries_of(waiting)[:reached], waiting.slug).totals
    assert state.seq == LedgerEntry.objects.get(election=waiting, index=reached - 1).seq


def test_with_a_publisher_beside_new_entries_wait_for_its_state(
    waiting: Election, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(waiting, "1-1", admin)
    publish_state(waiting)
    publish(waiting)
    submit(waiting, "1-2", admin)
    with monkeypatch.context() as patched:
        no_tabulation(patched)
        held = publish(waiting, wait_for_state=True)
        size = held.previous
        assert (held.status, held.size, held.behind) == ("waiting", size, True)
        assert opened(waiting).checkpoint.size == size  # nothing published

        publish_state(waiting)  # the state reaches the new entries
        done = publish(waiting, wait_for_state=True)
    total = len(entries_of(waiting))
    assert (done.status, done.previous, done.size, done.behind) == ("published", size, total, False)
    assert (
        parse_results((log_dir(waiting) / f"results/{total}.json").read_bytes()).stations_counted
        == 2
    )

    # without a publisher beside (a one-off `secki publish`), a state behind is not waited for
    submit(waiting, "2-1", admin)
    alone = publish(waiting)
    assert (alone.status, alone.size, alone.behind) == (
        "published",
        len(entries_of(waiting)),
        False,
    )


def test_a_withheld_state_leaves_the_log_to_tabulate(
    waiting: Election, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(waiting, "1-1", admin)
    state = publish_state(waiting)
    monkeypatch.setattr(published, "read", lambda slug: _withheld(state))
    snapshot, wait = transparency._state_snapshot(waiting, 0)
    assert (snapshot, wait) == (None, False)
    done = publish(waiting, wait_for_state=True)  # tabulated, not waiting
    assert done.status == "published"


def _withheld(state: published.State) -> published.State:
    state.withheld = True
    return state
