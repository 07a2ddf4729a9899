"""Issue 19: an election with two contests on the same protocol (a list vote by D'Hondt with
a threshold, and a single-member vote by absolute majority), end to end: bundle → import →
tabulation → outcome per contest → results API, national page, NIST export (one contest per
contest, schema-valid) → export byte for byte.

Figures (four stations): list A 1,230, B 700, C 160 of 2,090 valid list ballots (LV); member
D 1,040, E 1,135 of 2,175 valid member ballots (MV). List, 6 seats, D'Hondt, 10 % threshold:
C has 7.66 %, out; quotients A 1230 615 410 307.5 | B 700 350 → A 4, B 2. Member: E has
1,135 / 2,175 = 52.18 %, more than half → E elected.
"""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.bundle import CANDIDATE_COLUMNS
from secki.bundle.read import BundleError, read_bundle
from secki.bundle.write import write_table
from secki.elections.models import Candidate, Election
from secki.intake.bundle_io import export_bundle, import_bundle
from secki.opendata.collect import collect
from secki.opendata.nist_export import export_nist
from secki.protocol_schema import ProtocolSchema, SchemaError
from secki.results import tabulate
from secki.results.rules import decide_contests
from secki.results.tabulate import Tabulation
from tests.factories import settings, write_small_bundle
from tests.portal.test_nist import check_report

pytestmark = pytest.mark.django_db

SCHEMA: dict[str, Any] = {
    "name": "two-contests",
    "lines": [
        {"code": "L1", "label": "Registered voters", "kind": "count", "required": True},
        {"code": "L2", "label": "Voters who received ballots", "kind": "count", "required": True},
        {"code": "LV", "label": "Valid list ballots", "kind": "count", "required": True},
        {"code": "LI", "label": "Invalid list ballots", "kind": "count", "required": True},
        {"code": "MV", "label": "Valid member ballots", "kind": "count", "required": True},
        {"code": "MI", "label": "Invalid member ballots", "kind": "count", "required": True},
    ],
    "checks": [
        {
            "code": "T-3",
            "expression": "LV == sum(C.list) and MV == sum(C.member)",
            "severity": "hard",
            "scope": "station",
            "message": "valid ballots differ from the votes of the contest's candidates",
        },
        {
            "code": "T-1",
            "expression": "LV + LI <= L2",
            "severity": "hard",
            "scope": "station",
            "message": "list ballots exceed the voters",
        },
        {
            "code": "T-2",
            "expression": "MV + MI <= L2",
            "severity": "hard",
            "scope": "station",
            "message": "member ballots exceed the voters",
        },
    ],
    "roles": {
        "registered": "L1",
        "participants": "L2",
        "cast": "LV + LI",
        "valid": "LV",
        "invalid": "LI",
    },
    "contests": [
        {
            "code": "list",
            "name": "Party lists",
            "valid": "LV",
            "invalid": "LI",
            "win_rule": {"rule": "proportional", "method": "dhondt", "seats": 6, "threshold": 0.1},
        },
        {
            "code": "member",
            "name": "Single-member seat",
            "valid": "MV",
            "invalid": "MI",
            "win_rule": {"rule": "absolute_majority", "runoff_size": 2},
        },
    ],
}
CANDIDATES = [
    [1, "List A", "Party One", "list"],
    [2, "List B", "Party Two", "list"],
    [3, "List C", "Party Three", "list"],
    [4, "Member D", "Party One", "member"],
    [5, "Member E", "", "member"],
]
# station, L1, L2, LV, LI, MV, MI, C1…C5
PROTOCOLS = [
    ["1-1", 1000, 700, 660, 10, 680, 5, 400, 200, 60, 350, 330],
    ["1-2", 800, 500, 450, 5, 480, 8, 250, 150, 50, 200, 280],
    ["2-1", 1200, 900, 840, 12, 870, 6, 500, 300, 40, 420, 450],
    ["2-2", 300, 150, 140, 3, 145, 2, 80, 50, 10, 70, 75],
]
FILES = ("election.json", "units.csv", "stations.csv", "candidates.csv", "protocols.csv")


@pytest.fixture(autouse=True)
def _fresh(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path / "var"
    settings.SECKI_SNAPSHOT_AUTO = False
    tabulate._cache.clear()


def two_contests(directory: Path, candidates: list[list[Any]] = CANDIDATES) -> Path:
    source = write_small_bundle(
        directory,
        kind="parliamentary",
        win_rule={
            "rule": "plurality",
            "base": "valid",
            "runoff_size": 2,
            "invalid_station_share": 0.4,
        },
        protocol=SCHEMA,
    )
    write_table(source / "candidates.csv", [*CANDIDATE_COLUMNS, "contest"], candidates)
    schema = ProtocolSchema.from_dict(SCHEMA)
    write_table(source / "protocols.csv", ["station", *schema.columns(5)], PROTOCOLS)
    return source


def test_two_contests_end_to_end(tmp_path: Path) -> None:
    source = two_contests(tmp_path / "in")
    election = import_bundle(read_bundle(source))
    assert [c.contest for c in Candidate.objects.filter(election=election)] == [
        "list",
        "list",
        "list",
        "member",
        "member",
    ]
    decided = decide_contests(election, Tabulation(election).result())
    assert [d.contest.code for d in decided] == ["list", "member"]
    lists, member = decided
    assert lists.result.base == 2090 and member.result.base == 2175
    assert lists.outcome.status == "seats" and not lists.outcome.provisional
    assert [(r.candidate.name, r.seats, r.qualified) for r in lists.outcome.seats] == [
        ("List A", 4, True),
        ("List B", 2, True),
        ("List C", 0, False),
    ]
    assert member.outcome.status == "winner"
    assert member.outcome.winner is not None and member.outcome.winner.name == "Member E"

    api = Client().get(f"/api/v1/elections/{election.slug}/results").json()
    blocks = {b["contest"]: b for b in api["contests"]}
    assert list(blocks) == ["list", "member"]
    assert blocks["list"]["base"] == 2090
    assert [c["votes"] for c in blocks["list"]["candidates"]] == [1230, 700, 160]
    assert [c["percent"] for c in blocks["member"]["candidates"]] == ["47.82", "52.18"]
    assert [s["seats"] for s in blocks["list"]["outcome"]["seats"]] == [4, 2, 0]
    assert blocks["member"]["outcome"]["status"] == "winner"
    assert blocks["member"]["outcome"]["winner"] == 5
    assert api["outcome"] == blocks["list"]["outcome"]
    # every figure of a contest's candidate is a share of its own contest's valid ballots
    assert [c["percent"] for c in api["candidates"]] == ["58.85", "33.49", "7.66", "47.82", "52.18"]
    north = Client().get(f"/api/v1/elections/{election.slug}/results/units/1").json()
    assert [c["percent"] for c in north["candidates"]][3:] == ["47.41", "52.59"]

    html = Client().get(f"/e/{election.slug}/").content.decode()
    assert 'id="contest-list"' in html and 'id="contest-member"' in html
    assert "Seats allocated by D&#x27;Hondt: List A 4, List B 2." in html
    assert "Member E is elected with more than half of the valid votes." in html

    report = export_nist(collect(election))
    check_report(report, election)
    contests = report["Election"][0]["Contest"]
    assert [c["Name"] for c in contests] == ["Party lists", "Single-member seat"]
    assert contests[0]["NumberElected"] == 6 and contests[1]["NumberElected"] == 1
    selections = [[s["CandidateIds"] for s in c["ContestSelection"]] for c in contests]
    assert selections == [[["cand-1"], ["cand-2"], ["cand-3"]], [["cand-4"], ["cand-5"]]]
    status = {c["@id"]: c.get("PostElectionStatus") for c in report["Election"][0]["Candidate"]}
    assert status == {
        "cand-1": "winner",
        "cand-2": "winner",
        "cand-3": "defeated",
        "cand-4": "defeated",
        "cand-5": "winner",
    }

    export_bundle(election, tmp_path / "out")
    for name in FILES:
        assert filecmp.cmp(source / name, tmp_path / "out" / name, shallow=False), name


def test_pending_contests_state_no_verdict(tmp_path: Path) -> None:
    source = two_contests(tmp_path / "in")
    write_table(
        source / "protocols.csv",
        ["station", *ProtocolSchema.from_dict(SCHEMA).columns(5)],
        PROTOCOLS[:3],
    )
    election = import_bundle(read_bundle(source))
    decided = decide_contests(election, Tabulation(election).result())
    assert [d.outcome.status for d in decided] == ["pending", "pending"]
    assert all(not d.outcome.seats and d.outcome.winner is None for d in decided)


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ([*CANDIDATES[:4], [5, "Member E", "", "senate"]], "contest 'senate' is not one of"),
        ([*CANDIDATES[:4], [5, "Member E", "", ""]], "name the candidate's contest"),
        ([[*row[:3], "list"] for row in CANDIDATES], "contest 'member' has no candidate"),
    ],
)
def test_candidate_contests_are_checked(
    tmp_path: Path, candidates: list[list[Any]], message: str
) -> None:
    with pytest.raises(BundleError) as err:
        read_bundle(two_contests(tmp_path, candidates))
    assert "candidates.csv" in str(err.value) and message in str(err.value)


def test_contest_column_needs_contests(tmp_path: Path) -> None:
    source = write_small_bundle(tmp_path)
    write_table(
        source / "candidates.csv",
        [*CANDIDATE_COLUMNS, "contest"],
        [[1, "A", "", "list"], [2, "B", "", "list"], [3, "C", "", "list"]],
    )
    with pytest.raises(BundleError, match="declares no contests"):
        read_bundle(source)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"win_rule": {"rule": "proportional"}}, "win_rule.seats"),
        ({"win_rule": {"rule": "referendum"}}, "win_rule.rule 'referendum'"),
        ({"valid": "ZZ"}, "valid must name the contest's own lines, not ZZ"),
        ({"code": "member"}, "code 'member' is duplicated"),
        ({"win_rule": {"rule": "plurality", "seats": 3}}, "takes no other key"),
    ],
)
def test_schema_contests_are_checked(change: dict[str, Any], message: str) -> None:
    contests = [{**SCHEMA["contests"][0], **change}, SCHEMA["contests"][1]]
    with pytest.raises(SchemaError, match=message):
        ProtocolSchema.from_dict({**SCHEMA, "contests": contests})
    with pytest.raises(SchemaError, match="leave it out"):
        ProtocolSchema.from_dict({**SCHEMA, "contests": contests[1:]})


def test_a_contest_sum_check_refuses_the_bundle(tmp_path: Path) -> None:
    source = two_contests(tmp_path)
    rows = [list(r) for r in PROTOCOLS]
    rows[1][7] += 1  # one more vote for List A at 1-2 than valid list ballots
    write_table(
        source / "protocols.csv", ["station", *ProtocolSchema.from_dict(SCHEMA).columns(5)], rows
    )
    with pytest.raises(BundleError) as err:
        read_bundle(source)
    assert "station 1-2 fails hard check T-3" in str(err.value)
    assert "sum(C.list)=451, sum(C.member)=480" in str(err.value)


def test_contest_sums_per_protocol() -> None:
    schema = ProtocolSchema.from_dict(SCHEMA).with_candidates(
        ["list", "list", "list", "member", "member"]
    )
    values = dict(zip(["L1", "L2", "LV", "LI", "MV", "MI"], PROTOCOLS[0][1:7], strict=True))
    results = {r.code: r for r in schema.evaluate(values, PROTOCOLS[0][7:])}
    assert results["T-3"].passed is True
    assert results["T-3"].values["sum(C.list)"] == 660
    results = {r.code: r for r in schema.evaluate({**values, "MV": 679}, PROTOCOLS[0][7:])}
    assert results["T-3"].passed is False
    with pytest.raises(SchemaError, match=r"sum\(C.senate\) names no contest"):
        check = {**SCHEMA["checks"][0], "expression": "LV == sum(C.senate)"}
        ProtocolSchema.from_dict({**SCHEMA, "checks": [check]})


def test_sum_of_candidates_is_refused_with_contests() -> None:
    check = {**SCHEMA["checks"][0], "expression": "LV == sum(C)"}
    with pytest.raises(SchemaError, match=r"T-3: sum\(C\) adds the candidates"):
        ProtocolSchema.from_dict({**SCHEMA, "checks": [check]})


def test_single_contest_schema_has_no_contests_key() -> None:
    assert "contests" not in ProtocolSchema.builtin().to_dict()
    assert settings()["protocol"] == ProtocolSchema.builtin().to_dict()


def test_simulator_writes_a_two_contest_election(tmp_path: Path) -> None:
    from secki.simulator.config import SimulationConfig
    from secki.simulator.model import simulate
    from secki.simulator.write import write_bundle

    write_bundle(simulate(SimulationConfig(stations=60, list_seats=20)), tmp_path / "sim")
    election = import_bundle(read_bundle(tmp_path / "sim"))
    schema = election.protocol_schema()
    assert [c.code for c in schema.contests] == ["president", "lists"]
    assert {c.code: c.source for c in schema.checks}["LIST-2"] == "P1 == sum(C.lists)"
    assert "L14 == sum(C.president)" in [c.source for c in schema.checks]
    decided = decide_contests(election, Tabulation(election).result())
    president, lists = decided
    assert president.outcome.status == "winner"
    assert president.outcome.winner is not None
    assert president.outcome.winner.name == "Candidate A"
    assert [c.candidate.number for c in president.result.candidates] == list(range(1, 8))
    assert lists.outcome.status == "seats"
    assert sum(r.seats for r in lists.outcome.seats) == 20
    # every list's votes add up to the contest's valid ballots
    assert sum(c.votes for c in lists.result.candidates) == lists.result.base > 0
    below = [r for r in lists.outcome.seats if not r.qualified]
    assert below and all(r.seats == 0 for r in below)  # List 6 (3 %) is under the 5 % threshold
    report = export_nist(collect(election))
    check_report(report, election)
    assert [c["Name"] for c in report["Election"][0]["Contest"]] == ["President", "Party lists"]


def test_secki_schema_prints_the_contests(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from secki.intake.cli import schema_cmd

    path = tmp_path / "two.json"
    path.write_text(json.dumps(SCHEMA), encoding="utf-8")
    result = CliRunner().invoke(schema_cmd, [str(path)])
    assert result.exit_code == 0, result.output
    assert (
        "contest list: Party lists; valid LV, invalid LI; rule proportional, method dhondt, "
        "seats 6, threshold 0.1" in result.output
    )
    assert "contest member: Single-member seat; valid MV, invalid MI; rule absolute_majority" in (
        result.output
    )


def test_demo_prepares_a_two_contest_election(tmp_path: Path) -> None:
    from secki.demo.cli import prepare_demo

    _, slug = prepare_demo(False, 7, 40, list_seats=12)
    election = Election.objects.get(slug=slug)
    assert [c.code for c in election.protocol_schema().contests] == ["president", "lists"]
    assert election.candidates.filter(contest="lists").count() == 6


def test_bulk_upload_checks_each_contest_against_its_candidates(tmp_path: Path) -> None:
    from secki.errors import IntakeError
    from secki.protocols.bulk import parse_csv

    source = two_contests(tmp_path)
    (source / "protocols.csv").unlink()
    election = import_bundle(read_bundle(source))
    schema = election.protocol_schema()
    assert schema.candidate_contests == ("list", "list", "list", "member", "member")
    header = ",".join(["station", *schema.columns(5)])
    good = "\n".join([header, *(",".join(map(str, r)) for r in PROTOCOLS)]) + "\n"
    assert [r.station for r in parse_csv(election, good.encode())] == ["1-1", "1-2", "2-1", "2-2"]
    bad = [list(r) for r in PROTOCOLS]
    bad[2][10] += 1  # Member D at 2-1: one vote more than valid member ballots
    content = "\n".join([header, *(",".join(map(str, r)) for r in bad)]) + "\n"
    with pytest.raises(IntakeError, match="station 2-1 fails hard check T-3"):
        parse_csv(election, content.encode())
