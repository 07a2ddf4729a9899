"""The station arrays read from flat (station, line, value) columns equal what the former
pivot query (one FILTER sum per line, grouped by station) gave: on a small election with
amended, annulled and not yet published protocols, and on a simulated one, staff and public
view, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from secki.elections.models import Election, Station, Unit
from secki.integrity import store
from secki.integrity.station_arrays import StationData, constituency_of, load
from secki.protocol_schema.schema import ROLES
from secki.protocols import actions
from secki.protocols.models import Protocol, counted_statuses
from secki.simulator import SimulationConfig, parse_fraud
from tests.integrity.conftest import Imported, import_simulated, module_transaction
from tests.personas import make_personas
from tests.protocols.test_api import register_only, write_small_bundle
from tests.protocols.test_permissions import data

pytestmark = pytest.mark.django_db


def pivot(election: Election, public: bool, codes: list[str]) -> dict[int, tuple[int, ...]]:
    """The former query: station id → one summed value per code (0 when missing), for the
    stations with any line of ``codes`` in a counted current protocol."""
    aggregates = {
        f"v{i}": Coalesce(Sum("values__value", filter=Q(values__code=code)), 0)
        for i, code in enumerate(codes)
    }
    rows = (
        Protocol.objects.filter(
            election=election,
            is_current=True,
            status__in=counted_statuses(public),
            values__code__in=codes,
        )
        .values("station_id")
        .annotate(**aggregates)
        .values_list("station_id", *aggregates)
    )
    return {int(r[0]): tuple(int(v) for v in r[1:]) for r in rows}


def assert_same_as_pivot(election: Election, public: bool) -> StationData:
    got = load(election, public=public, head=0, with_turnout_flags=False)
    schema = election.protocol_schema()
    candidates = [f"C{c.number}" for c in election.candidates.order_by("number")]
    names: set[str] = set()
    for role in ROLES:
        names |= schema.roles[role].names
    codes = sorted(names | set(candidates))
    by_station = pivot(election, public, codes)
    stations = list(
        Station.objects.filter(election=election)
        .order_by("position", "id")
        .values_list("id", "code", "unit_id")
    )
    kept = [s for s in stations if s[0] in by_station]
    assert got.codes == [s[1] for s in kept]
    assert got.stations_total == len(stations)
    matrix = np.array([by_station[s[0]] for s in kept], dtype=np.int64).reshape(
        len(kept), len(codes)
    )
    columns = {code: matrix[:, i] for i, code in enumerate(codes)}
    assert np.array_equal(got.votes, np.stack([columns[c] for c in candidates], axis=1))
    env: dict[str, Any] = {**columns, "C": got.votes.sum(axis=1)}
    for role in ROLES:
        expected = np.rint(
            np.broadcast_to(
                np.asarray(schema.roles[role].evaluate(env), dtype=np.float64), (len(kept),)
            )
        ).astype(np.int64)
        assert np.array_equal(getattr(got, role), expected), role
    by_unit = constituency_of({u.id: u for u in Unit.objects.filter(election=election)})
    assert got.groups.tolist() == [by_unit[s[2]].code for s in kept]
    return got


def test_amended_annulled_and_unpublished_protocols(tmp_path: Path) -> None:
    election = register_only(write_small_bundle(tmp_path))
    people = make_personas(election)
    cec = people["cec"].user
    for code in ("1-1", "1-2", "2-1", "2-2"):
        actions.submit_protocol(election, election.stations.get(code=code), data(code), actor=cec)
    first = load(election, public=False, head=0, with_turnout_flags=False)
    registered = dict(zip(first.codes, first.registered.tolist(), strict=True))
    amended = election.stations.get(code="1-1")
    actions.amend_protocol(
        amended, data("1-1", L1=registered["1-1"] + 50), actor=cec, reason="line 1 misread"
    )
    actions.annul_protocol(
        election.stations.get(code="2-1"), actor=cec, decision_ref="CEC 1/1", reason="test"
    )
    election.auto_publish = False
    election.save()
    actions.amend_protocol(
        election.stations.get(code="1-2"),
        data("1-2", L1=registered["1-2"] + 7),
        actor=cec,
        reason="line 1 misread",
    )
    staff = assert_same_as_pivot(election, public=False)
    public = assert_same_as_pivot(election, public=True)
    # the amended version counts, the annulled station does not, and the amendment awaiting
    # publication counts for staff only
    assert staff.codes == ["1-1", "1-2", "2-2"]
    assert dict(zip(staff.codes, staff.registered.tolist(), strict=True)) == {
        "1-1": registered["1-1"] + 50,
        "1-2": registered["1-2"] + 7,
        "2-2": registered["2-2"],
    }
    assert public.codes == ["1-1", "2-2"]


@pytest.fixture(scope="module")
def simulated(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Imported]:
    with module_transaction(django_db_blocker):
        yield import_simulated(
            tmp_path_factory.mktemp("arrays"),
            SimulationConfig(stations=400, seed=11, fraud=parse_fraud("stuffing:fi=0.1,fe=0.02")),
        )


@pytest.mark.parametrize("public", [False, True])
def test_simulated_election(simulated: Imported, public: bool) -> None:
    got = assert_same_as_pivot(simulated.election, public=public)
    assert got.n > 300


def test_lines_of_no_protocol_are_empty(simulated: Imported) -> None:
    station, line, value = store.protocol_lines(simulated.election.pk, ("published",), [])
    assert station.size == line.size == value.size == 0
    none = store.protocol_lines(simulated.election.pk, ("no such status",), ["L1"])
    assert all(a.size == 0 for a in none)
