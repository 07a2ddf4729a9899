"""Issue 19: proportional seats, referendums and the minimum turnout, end to end (bundle →
import → tabulation → outcome → results API and national page), against allocations
computed by hand on the small test election.

The small election (tests/factories.py): valid votes A 1,330, B 720, C 145 (2,195); North
A 800, B 270, C 100 (1,170), South A 530, B 450, C 45 (1,025); 3,300 registered voters,
2,250 participants (L5 + L6) = 68.18 % turnout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.bundle import CANDIDATE_COLUMNS, UNIT_COLUMNS
from secki.bundle.read import BundleError, read_bundle
from secki.bundle.write import write_table
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from secki.protocol_schema import ProtocolSchema
from secki.results import tabulate
from secki.results.rules import ElectionOutcome, decide
from secki.results.tabulate import Tabulation
from tests.factories import PROTOCOLS, UNITS, protocol, settings, write_small_bundle

pytestmark = pytest.mark.django_db

BASE_RULE = {"rule": "absolute_majority", "base": "valid", "runoff_size": 2}


@pytest.fixture(autouse=True)
def _fresh(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path / "var"
    settings.SECKI_SNAPSHOT_AUTO = False
    tabulate._cache.clear()


def bundle(directory: Path, rule: dict[str, Any], **overrides: Any) -> Path:
    return write_small_bundle(
        directory, win_rule={**BASE_RULE, "invalid_station_share": 0.4, **rule}, **overrides
    )


def outcome(election: Election) -> ElectionOutcome:
    tab = Tabulation(election)
    districts = [tab.result(u) for u in tab.units.values() if u.seats is not None]
    return decide(election, tab.result(), districts=districts)


def seats(result: ElectionOutcome) -> dict[str, int]:
    return {row.candidate.name[-1]: row.seats for row in result.seats}


@pytest.mark.parametrize(
    ("method", "threshold", "expected"),
    [
        # D'Hondt, 10 seats: A 1330 665 443.3 332.5 266 221.7 190 | B 720 360 240 → A 7, B 3
        # (next: B 180, A 166.3, C 145)
        ("dhondt", 0, {"A": 7, "B": 3, "C": 0}),
        # Sainte-Laguë: A 1330 443.3 266 190 147.8 120.9 | B 720 240 144 | C 145 → A 6 B 3 C 1
        ("sainte_lague", 0, {"A": 6, "B": 3, "C": 1}),
        # 7 % threshold: C has 145 / 2,195 = 6.6 %, out; the 10th seat goes to A's 120.9?
        # no: without C the ten highest are 1330 720 443.3 266 240 190 147.8 144 120.9 102.9(B)
        # → A 6, B 4
        ("sainte_lague", 0.07, {"A": 6, "B": 4, "C": 0}),
        # Hare: quota 219.5; A 6.059 B 3.280 C 0.661 → 6 3 0, one left to C (.661)
        ("hare", 0, {"A": 6, "B": 3, "C": 1}),
    ],
)
def test_national_proportional_allocation(
    tmp_path: Path, method: str, threshold: float, expected: dict[str, int]
) -> None:
    rule = {"rule": "proportional", "method": method, "seats": 10, "threshold": threshold}
    election = import_bundle(read_bundle(bundle(tmp_path, rule)))
    result = outcome(election)
    assert result.status == "seats" and not result.provisional
    assert seats(result) == expected
    assert {r.candidate.name[-1]: r.qualified for r in result.seats}["C"] == (threshold == 0)


def district_bundle(directory: Path, rule: dict[str, Any], slug: str = "testland-2024") -> Path:
    source = bundle(
        directory, {"rule": "proportional", "seat_scope": "district", **rule}, slug=slug
    )
    write_table(
        source / "units.csv",
        [*UNIT_COLUMNS, "seats"],
        [[*UNITS[0], None], [*UNITS[1], 3], [*UNITS[2], 2]],
    )
    return source


def test_per_district_allocation_and_threshold(tmp_path: Path) -> None:
    # North, 3 seats, D'Hondt: A 800 400 266.7 | B 270 | C 100 → A 2, B 1
    # South, 2 seats: A 530 265 | B 450 225 | C 45 → A 1, B 1; in all A 3, B 2
    election = import_bundle(read_bundle(district_bundle(tmp_path / "a", {})))
    result = outcome(election)
    assert result.status == "seats"
    assert seats(result) == {"A": 3, "B": 2, "C": 0}
    assert [(d.unit.code, d.seats, [r.seats for r in d.lists]) for d in result.districts] == [
        ("1", 3, [2, 1, 0]),
        ("2", 2, [1, 1, 0]),
    ]
    # Sainte-Laguë in North (3 seats): A 800 266.7 | B 270 | C 100 → A 2, B 1;
    # South: A 530 176.7 | B 450 150 | C 45 → A 1, B 1. With a 10 % district threshold C is
    # out everywhere (8.5 % and 4.4 %); with a 50 % national threshold only A (60.6 %) is in,
    # and A takes every seat of both districts.
    strict = import_bundle(
        read_bundle(
            district_bundle(
                tmp_path / "b",
                {"method": "sainte_lague", "threshold": 0.5, "threshold_scope": "national"},
                slug="strict-2024",
            )
        )
    )
    result = outcome(strict)
    assert seats(result) == {"A": 5, "B": 0, "C": 0}
    # the national page shows the seats, per district too
    html = Client().get(f"/e/{strict.slug}/").content.decode()
    assert 'id="seats"' in html and 'id="district-seats"' in html
    api = Client().get(f"/api/v1/elections/{strict.slug}/results").json()
    assert api["outcome"]["status"] == "seats"
    assert [s["seats"] for s in api["outcome"]["seats"]] == [5, 0, 0]
    assert [d["unit"] for d in api["outcome"]["districts"]] == ["1", "2"]


def test_a_tie_for_the_last_seat_goes_by_the_published_rule(tmp_path: Path) -> None:
    # A 300+100+200+50 = 650, B 200+200+200+50 = 650, C 145; 3 seats, D'Hondt:
    # A 650 325 | B 650 325 | C 145: seats 1 and 2 go to A and B (both get one: no tie
    # decides anything); seat 3 is A/2 = B/2 = 325 with one seat left: equal votes, so the
    # lower ballot number, A (1), wins it → A 2, B 1.
    votes = [[300, 200, 60], [100, 200, 40], [200, 200, 30], [50, 50, 15]]
    rows = [
        protocol(r[0], r[1], issued, v, 5)
        for r, issued, v in zip(PROTOCOLS, [700, 500, 900, 150], votes, strict=True)
    ]
    source = bundle(tmp_path, {"rule": "proportional", "seats": 3})
    columns = ["station", *ProtocolSchema.builtin().columns(3)]
    write_table(source / "protocols.csv", columns, rows)
    election = import_bundle(read_bundle(source))
    result = outcome(election)
    assert seats(result) == {"A": 2, "B": 1, "C": 0}
    assert [(t.unit, t.seat, [c.number for c in t.tied], t.winner.number) for t in result.ties] == [
        (None, 3, [1, 2], 1)
    ]
    html = Client().get(f"/e/{election.slug}/").content.decode()
    assert "Seat 3: equal claims; it goes to Candidate A" in html
    api = Client().get(f"/api/v1/elections/{election.slug}/results").json()
    assert api["outcome"]["ties"] == [{"unit": None, "seat": 3, "tied": [1, 2], "winner": 1}]


def test_no_seats_before_every_station_is_finished(tmp_path: Path) -> None:
    source = bundle(tmp_path, {"rule": "proportional", "seats": 10})
    columns = ["station", *ProtocolSchema.builtin().columns(3)]
    write_table(source / "protocols.csv", columns, PROTOCOLS[:3])
    pending = outcome(import_bundle(read_bundle(source)))
    assert pending.status == "pending" and pending.seats == [] and pending.provisional


def test_referendum_quorums(tmp_path: Path) -> None:
    # yes 500+300+450+80 = 1,330, no 180+190+430+65 = 865; 3,300 registered voters
    options = [[1, "Yes", ""], [2, "No", ""]]
    votes = [[500, 180], [300, 190], [450, 430], [80, 65]]
    regs = [(r[0], r[1]) for r in PROTOCOLS]
    issued = [700, 500, 900, 150]
    rows = [
        protocol(code, reg, iss, v, 3)
        for (code, reg), iss, v in zip(regs, issued, votes, strict=True)
    ]

    def referendum(name: str, **rule: Any) -> Election:
        source = bundle(
            tmp_path / name,
            {"rule": "referendum", **rule},
            kind="referendum",
            slug=f"ref-{name}",
        )
        write_table(source / "candidates.csv", CANDIDATE_COLUMNS, options)
        columns = ["station", *ProtocolSchema.builtin().columns(2)]
        write_table(source / "protocols.csv", columns, rows)
        return import_bundle(read_bundle(source))

    # approval quorum 40 %: 1,320 ≤ 1,330 → approved
    approved = outcome(referendum("a", approval_quorum=0.4))
    assert (approved.status, approved.yes, approved.no) == ("approved", 1330, 865)
    # 41 %: 1,353 > 1,330 → rejected (a majority, but under the approval quorum)
    assert outcome(referendum("b", approval_quorum=0.41)).status == "rejected"
    # turnout quorum 70 %: turnout 2,250 / 3,300 = 68.2 % → invalid, whatever the votes
    invalid = outcome(referendum("c", min_turnout=0.7))
    assert (invalid.status, invalid.reason) == ("invalid", "turnout")
    api = Client().get("/api/v1/elections/ref-a/results").json()
    assert api["outcome"]["referendum"] == {"yes": 1330, "no": 865}
    html = Client().get("/e/ref-c/").content.decode()
    assert "is below the minimum of" in html


def test_minimum_turnout_for_any_rule(tmp_path: Path) -> None:
    # 68.18 %: a 68 % minimum is met, 69 % is not
    met = import_bundle(read_bundle(bundle(tmp_path / "a", {"min_turnout": 0.68})))
    assert outcome(met).status == "winner"
    missed = import_bundle(
        read_bundle(bundle(tmp_path / "b", {"min_turnout": 0.69}, slug="low-2024"))
    )
    result = outcome(missed)
    assert (result.status, result.reason, result.winner) == ("invalid", "turnout", None)
    # the setting goes back out in election.json
    exported = json.loads(Client().get("/api/v1/elections/low-2024").content.decode())["win_rule"]
    assert exported["min_turnout"] == 0.69


def test_minimum_turnout_waits_for_every_station(tmp_path: Path) -> None:
    source = bundle(tmp_path, {"min_turnout": 0.99})
    columns = ["station", *ProtocolSchema.builtin().columns(3)]
    write_table(source / "protocols.csv", columns, PROTOCOLS[:3])
    result = outcome(import_bundle(read_bundle(source)))
    assert result.status == "pending"  # no verdict, not even "invalid", before the end


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"rule": "proportional", "seats": 0}, "win_rule.seats"),
        ({"rule": "proportional", "seats": 5, "threshold": 1.2}, "win_rule.threshold"),
        ({"rule": "proportional", "seats": 5, "threshold": 0.0525}, "win_rule.threshold"),
        ({"rule": "proportional", "seats": 5, "method": "imperiali"}, "win_rule.method"),
        ({"rule": "proportional", "seat_scope": "district"}, "seats"),
        ({"rule": "referendum"}, None),  # three options
        ({"rule": "plurality", "min_turnout": -0.1}, "win_rule.min_turnout"),
        ({"rule": "referendum", "approval_quorum": 2}, "win_rule.approval_quorum"),
        ({"rule": "borda"}, "win_rule.rule"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    tmp_path: Path, rule: dict[str, Any], field: str | None
) -> None:
    with pytest.raises(BundleError) as caught:
        read_bundle(bundle(tmp_path, rule))
    issue = caught.value.issues[0]
    assert issue.column == field, caught.value
    assert not Election.objects.exists()


def test_settings_defaults_keep_old_bundles_bytes() -> None:
    data = settings()
    assert set(data["win_rule"]) == {"rule", "base", "runoff_size", "invalid_station_share"}
