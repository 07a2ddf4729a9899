"""Issue 19: official ballot numbers (3, 7, 41 …) kept apart from the ballot order round-trip
through the bundle (byte for byte), the pages, the results API and the NIST export; the NIST
export of a proportional election and of a referendum validates against the official schema
with every id resolving and every count adding up."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from secki.bundle import CANDIDATE_COLUMNS, UNIT_COLUMNS
from secki.bundle.read import BundleError, read_bundle
from secki.bundle.write import write_table
from secki.elections.models import Candidate
from secki.intake.bundle_io import export_bundle, import_bundle
from secki.opendata.collect import collect
from secki.opendata.nist_export import export_nist
from secki.protocol_schema import ProtocolSchema
from tests.factories import CANDIDATES, PROTOCOLS, UNITS, protocol, write_small_bundle
from tests.portal.test_nist import check_report

pytestmark = pytest.mark.django_db

FILES = ("election.json", "units.csv", "stations.csv", "candidates.csv", "turnout.csv")
OFFICIAL = [3, 7, 41]


def numbered(directory: Path, **overrides: Any) -> Path:
    source = write_small_bundle(directory, **overrides)
    write_table(
        source / "candidates.csv",
        [*CANDIDATE_COLUMNS, "ballot_number"],
        [[*row, n] for row, n in zip(CANDIDATES, OFFICIAL, strict=True)],
    )
    return source


def identifiers(item: dict[str, Any]) -> dict[str, str]:
    return {i.get("OtherType", i["Type"]): i["Value"] for i in item.get("ExternalIdentifier", [])}


def test_ballot_numbers_round_trip_through_bundle_pages_api_and_nist(tmp_path: Path) -> None:
    source = numbered(tmp_path / "in")
    election = import_bundle(read_bundle(source))
    assert [(c.number, c.ballot_number) for c in Candidate.objects.filter(election=election)] == [
        (1, 3),
        (2, 7),
        (3, 41),
    ]
    export_bundle(election, tmp_path / "out")
    for name in (*FILES, "protocols.csv"):
        assert filecmp.cmp(source / name, tmp_path / "out" / name, shallow=False), name
    # the pages show the official number beside the name
    html = Client().get(f"/e/{election.slug}/").content.decode()
    assert '<td>41</td><th scope="row">Candidate C</th>' in html
    api = Client().get(f"/api/v1/elections/{election.slug}/results").json()
    assert [(c["number"], c["ballot_number"]) for c in api["candidates"]] == [
        (1, 3),
        (2, 7),
        (3, 41),
    ]
    report = export_nist(collect(election))
    check_report(report, election)
    candidates = report["Election"][0]["Candidate"]
    assert [identifiers(c)["ballot-number"] for c in candidates] == ["3", "7", "41"]
    # the ballot order stays the selections' SequenceOrder
    contest = report["Election"][0]["Contest"][0]
    assert [s["SequenceOrder"] for s in contest["ContestSelection"]] == [1, 2, 3]


def test_without_ballot_numbers_the_files_keep_their_columns(tmp_path: Path) -> None:
    source = write_small_bundle(tmp_path / "in")
    election = import_bundle(read_bundle(source))
    export_bundle(election, tmp_path / "out")
    header = (tmp_path / "out" / "candidates.csv").read_text().splitlines()[0]
    assert header == "number,name,party"
    report = export_nist(collect(election))
    assert all("ExternalIdentifier" not in c for c in report["Election"][0]["Candidate"])


@pytest.mark.parametrize(
    ("numbers", "message"),
    [([3, 3, 41], "appears twice"), ([0, 7, 41], "1 or more"), (["x", 7, 41], "ballot_number")],
)
def test_bad_ballot_numbers_are_refused(tmp_path: Path, numbers: list[Any], message: str) -> None:
    source = write_small_bundle(tmp_path)
    write_table(
        source / "candidates.csv",
        [*CANDIDATE_COLUMNS, "ballot_number"],
        [[*row, n] for row, n in zip(CANDIDATES, numbers, strict=True)],
    )
    with pytest.raises(BundleError) as caught:
        read_bundle(source)
    assert caught.value.issues[0].column == "ballot_number"
    assert message in str(caught.value)


def test_nist_export_of_proportional_seats(tmp_path: Path) -> None:
    # per district, D'Hondt: North 3 seats → A 2, B 1; South 2 → A 1, B 1 (A 3, B 2, C 0)
    source = numbered(
        tmp_path,
        win_rule={
            "rule": "proportional",
            "base": "valid",
            "runoff_size": 2,
            "invalid_station_share": 0.4,
            # the canonical form: every proportional key, in this order
            "method": "dhondt",
            "seats": 0,
            "seat_scope": "district",
            "threshold": 0.0,
            "threshold_scope": "national",
        },
        kind="parliamentary",
    )
    write_table(
        source / "units.csv",
        [*UNIT_COLUMNS, "seats"],
        [[*UNITS[0], None], [*UNITS[1], 3], [*UNITS[2], 2]],
    )
    election = import_bundle(read_bundle(source))
    export_bundle(election, tmp_path / "out")
    for name in FILES:
        assert filecmp.cmp(source / name, tmp_path / "out" / name, shallow=False), name
    report = export_nist(collect(election))
    check_report(report, election)
    contest = report["Election"][0]["Contest"][0]
    assert contest["VoteVariation"] == "proportional" and contest["NumberElected"] == 5
    candidates = report["Election"][0]["Candidate"]
    assert [identifiers(c)["seats-won"] for c in candidates] == ["3", "2", "0"]
    assert [c["PostElectionStatus"] for c in candidates] == ["winner", "winner", "defeated"]


def test_nist_export_of_a_referendum(tmp_path: Path) -> None:
    import jsonschema

    from tests.portal.test_nist import schema

    source = write_small_bundle(
        tmp_path,
        win_rule={
            "rule": "referendum",
            "base": "valid",
            "runoff_size": 2,
            "invalid_station_share": 0.4,
            "approval_quorum": 0.25,
        },
        kind="referendum",
    )
    write_table(source / "candidates.csv", CANDIDATE_COLUMNS, [[1, "Yes", ""], [2, "No", ""]])
    votes = [[500, 180], [300, 190], [450, 430], [80, 65]]
    rows = [
        protocol(r[0], r[1], issued, v, 3)
        for r, issued, v in zip(PROTOCOLS, [700, 500, 900, 150], votes, strict=True)
    ]
    write_table(source / "protocols.csv", ["station", *ProtocolSchema.builtin().columns(2)], rows)
    election = import_bundle(read_bundle(source))
    report = export_nist(collect(election))
    errors = list(jsonschema.Draft4Validator(schema()).iter_errors(report))
    assert errors == [], [e.message for e in errors[:5]]
    contest = report["Election"][0]["Contest"][0]
    assert contest["@type"] == "ElectionResults.BallotMeasureContest"
    assert contest["Type"] == "referendum"
    assert identifiers(contest) == {"outcome": "approved"}
    totals = [
        sum(vc["Count"] for vc in s["VoteCounts"] if vc["GpUnitId"] == "gpu-XX")
        for s in contest["ContestSelection"]
    ]
    assert totals == [1330, 865]
