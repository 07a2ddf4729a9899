"""The NIST SP 1500-100 v2 export validates against the official schema with 0 errors, every
id it refers to exists, and every number adds up (the schema checks neither)."""

from __future__ import annotations

import gzip
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from secki.bundle.read import read_bundle
from secki.elections.models import Election, Station
from secki.intake.bundle_io import import_bundle
from secki.opendata import snapshots
from secki.opendata.collect import collect
from secki.opendata.nist_export import export_nist, station_id, unit_id, write_nist
from secki.protocols.actions import annul_protocol
from secki.results.tabulate import Tabulation
from secki.simulator import SimulationConfig, simulate, write_bundle

pytestmark = pytest.mark.django_db

SCHEMA = Path(__file__).resolve().parents[2] / "src/secki/elections/nist_schema.json"
OFFICIAL = (
    Path(__file__).resolve().parents[3] / "shared/schemas/NIST_V2_election_results_reporting.json"
)


# Properties whose values are enumerations in the schema: shapes() records each value seen.
ENUMERATED = {
    "Type",
    "OtherType",
    "PostElectionStatus",
    "Label",
    "Status",
    "VoteVariation",
    "Format",
    "TestType",
}

# What the export of the default simulated election (6,537 stations) holds, as shapes() lists it:
# every element type (``@type`` without ``ElectionResults.``), each with the properties it
# carries and the enumerated values it takes. bench/bench_nist.py checks the full-size export
# against this; the test of the small election checks that it holds exactly the same.
FULL_EXPORT_SHAPES: dict[str, set[str]] = {
    kind: set(names.split())
    for kind, names in {
        "ElectionReport": "Election Format=precinct-level GeneratedDate GpUnit IsTest Issuer "
        "IssuerAbbreviation Notes Party SequenceEnd SequenceStart Status=unofficial-complete "
        "TestType=simulated VendorApplicationId",
        "ReportingUnit": "@id ComposingGpUnitIds ExternalIdentifier Name Number "
        "OtherType=constituency OtherType=region SubUnitsReported TotalSubUnits Type=country "
        "Type=other Type=polling-place VotersParticipated VotersRegistered",
        "ExternalIdentifier": "Label=local Type=ocd-id Value",
        "InternationalizedText": "Text",
        "LanguageString": "Content Language",
        "Party": "@id Name",
        "Election": "BallotCounts Candidate Contest ElectionScopeId EndDate Name StartDate "
        "Type=general",
        "Candidate": "@id BallotName PartyId PostElectionStatus=defeated PostElectionStatus=winner",
        "CandidateContest": "@id ContestSelection ElectionDistrictId Name NumberRunoff "
        "SubUnitsReported TotalSubUnits VoteVariation=majority VotesAllowed",
        "CandidateSelection": "@id CandidateIds SequenceOrder VoteCounts",
        "VoteCounts": "Count GpUnitId Type=total",
        "BallotCounts": "BallotsCast BallotsRejected GpUnitId Type=total",
    }.items()
}


def shapes(node: Any, found: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """Every element type in a report, with the properties it carries (``Name``) and, for the
    enumerated ones, the values it takes (``Type=country``)."""
    found = {} if found is None else found
    if isinstance(node, dict):
        if "@type" in node:
            names = found.setdefault(node["@type"].removeprefix("ElectionResults."), set())
            names.update(
                f"{k}={v}" if k in ENUMERATED else k for k, v in node.items() if k != "@type"
            )
        for value in node.values():
            shapes(value, found)
    elif isinstance(node, list):
        for item in node:
            shapes(item, found)
    return found


def schema() -> dict[str, Any]:
    path = OFFICIAL if OFFICIAL.is_file() else SCHEMA
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(schema())


def reference_properties() -> set[str]:
    """Names of the properties the schema marks as references (``refTypes``)."""
    names = set()
    for definition in schema()["definitions"].values():
        for name, prop in (definition.get("properties") or {}).items():
            if "refTypes" in prop or "refTypes" in (prop.get("items") or {}):
                names.add(name)
    return names


def references(node: Any, names: set[str]) -> Iterator[str]:
    """Every value of a reference property anywhere in the report."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in names:
                yield from ([value] if isinstance(value, str) else value)
            else:
                yield from references(value, names)
    elif isinstance(node, list):
        for item in node:
            yield from references(item, names)


def ids(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "@id" in node:
            yield node["@id"]
        for value in node.values():
            yield from ids(value)
    elif isinstance(node, list):
        for item in node:
            yield from ids(item)


def check_report(report: dict[str, Any], election: Election) -> None:
    errors = list(validator().iter_errors(report))
    assert errors == [], [e.message for e in errors[:5]]

    defined = list(ids(report))
    assert len(defined) == len(set(defined)), "duplicate @id"
    names = reference_properties()
    assert {"GpUnitId", "ComposingGpUnitIds", "CandidateIds", "PartyId"} <= names
    referred = set(references(report, names))
    assert referred - set(defined) == set()
    assert len(referred) > len(report["GpUnit"])  # every unit is referred to, and more

    units = {u["@id"]: u for u in report["GpUnit"]}
    children: dict[str, list[str]] = {
        k: list(u.get("ComposingGpUnitIds", [])) for k, u in units.items()
    }
    composed = [c for kids in children.values() for c in kids]
    assert len(composed) == len(set(composed)) == len(units) - 1  # a tree
    root = next(k for k in units if k not in composed)
    assert report["Election"][0]["ElectionScopeId"] == root
    contest = report["Election"][0]["Contest"][0]
    assert contest["ElectionDistrictId"] == root

    tab = Tabulation(election, public=True)
    national = tab.result()
    stations = {station_id(s.code): s for s in Station.objects.filter(election=election)}
    assert {k for k, u in units.items() if u["Type"] == "polling-place"} == set(stations)
    assert len(units) == len(stations) + len(tab.units)

    def subtotal(values: dict[str, int], key: str) -> int:
        kids = children[key]
        return sum(values.get(k, 0) for k in kids) if kids else values.get(key, 0)

    for selection in contest["ContestSelection"]:
        number = selection["SequenceOrder"]
        counts: dict[str, int] = defaultdict(int)
        for vc in selection["VoteCounts"]:
            assert vc["Type"] == "total"
            counts[vc["GpUnitId"]] += vc["Count"]
        for key, unit in units.items():
            if unit["Type"] != "polling-place":
                assert counts.get(key, 0) == subtotal(counts, key), (number, key)
        assert counts[root] == national.candidates[number - 1].votes
        for u in tab.units.values():
            assert counts.get(unit_id(u.code), 0) == tab.result(u).candidates[number - 1].votes
    cast = {b["GpUnitId"]: b["BallotsCast"] for b in report["Election"][0]["BallotCounts"]}
    rejected = {b["GpUnitId"]: b["BallotsRejected"] for b in report["Election"][0]["BallotCounts"]}
    schema = election.protocol_schema()
    assert cast[root] == schema.role("cast", national.totals.lines)
    assert rejected[root] == schema.role("invalid", national.totals.lines)
    registered = {k: u["VotersRegistered"] for k, u in units.items()}
    participated = {k: u.get("VotersParticipated", 0) for k, u in units.items()}
    for key, unit in units.items():
        if unit["Type"] == "polling-place":
            assert registered[key] == stations[key].registered
            continue
        assert registered[key] == subtotal(registered, key)
        assert participated[key] == subtotal(participated, key)
        assert cast.get(key, 0) == subtotal(cast, key)
        assert rejected.get(key, 0) == subtotal(rejected, key)
        reported = sum(1 for k in children[key] if k in stations and k in cast) + sum(
            units[k].get("SubUnitsReported", 0) for k in children[key] if k not in stations
        )
        assert unit["SubUnitsReported"] == reported
    assert units[root]["VotersRegistered"] == national.totals.registered_total
    assert units[root]["VotersParticipated"] == national.participants
    assert contest["SubUnitsReported"] == national.totals.stations_reported
    assert contest["TotalSubUnits"] == national.totals.stations_total


def test_export_of_the_small_election(tmp_path: Path, admin: Any) -> None:
    from tests.portal.conftest import load

    election = load(tmp_path / "b", simulated=True)
    annul_protocol(
        Station.objects.get(election=election, code="2-1"), actor=admin, decision_ref="dec 1"
    )
    report = export_nist(collect(election))
    check_report(report, election)
    assert report["IsTest"] is True and report["Status"] == "unofficial-partial"
    units = {u["@id"]: u for u in report["GpUnit"]}
    assert units["gpu-1"]["Type"] == "other" and units["gpu-1"]["OtherType"] == "constituency"
    assert units["gpu-XX"]["ExternalIdentifier"][0] == {
        "@type": "ElectionResults.ExternalIdentifier",
        "Type": "ocd-id",
        "Value": "ocd-division/country:xx",
    }
    assert units["gpu-1"]["ExternalIdentifier"][0]["Label"] == "local"
    contest = report["Election"][0]["Contest"][0]
    assert contest["VoteVariation"] == "majority" and contest["NumberRunoff"] == 2
    # the annulled station has no counts; the others have one per candidate
    counted = {vc["GpUnitId"] for vc in contest["ContestSelection"][0]["VoteCounts"]}
    assert "gpu-ps-2-1" not in counted and "gpu-ps-2-2" in counted


def test_nist_export_of_a_small_simulated_election(tmp_path: Path) -> None:
    """A 60-station simulated election (12 constituencies, so that the Nakhchivan region is
    there), exported from a release file, emits every element type, property and enumerated
    value that the export of the default 6,537-station election emits (FULL_EXPORT_SHAPES;
    bench/bench_nist.py exports and checks the full-size one and compares its shapes)."""
    out = tmp_path / "sim"
    write_bundle(simulate(SimulationConfig(stations=60, constituencies=12)), out)
    election = import_bundle(read_bundle(out))
    release = snapshots.make_release(election)
    report = json.loads(gzip.decompress((release / "nist.json.gz").read_bytes()))
    check_report(report, election)
    found = shapes(report)
    missing = {t: sorted(v - found.get(t, set())) for t, v in FULL_EXPORT_SHAPES.items()}
    extra = {t: sorted(v - FULL_EXPORT_SHAPES.get(t, set())) for t, v in found.items()}
    assert {t: v for t, v in missing.items() if v} == {}, "no longer covered by the small election"
    # a new element type or value: check it with bench/bench_nist.py and add it to the list
    assert {t: v for t, v in extra.items() if v} == {}, "not in FULL_EXPORT_SHAPES"
    assert report["Status"] == "unofficial-complete"
    assert sum(1 for u in report["GpUnit"] if u["Type"] == "polling-place") == 60
    candidates = report["Election"][0]["Candidate"]
    assert candidates[0]["PostElectionStatus"] == "winner"
    assert {c["PostElectionStatus"] for c in candidates[1:]} == {"defeated"}


def test_shapes_name_what_a_report_holds() -> None:
    report = {
        "@type": "ElectionResults.ElectionReport",
        "Status": "unofficial-partial",
        "GpUnit": [{"@type": "ElectionResults.ReportingUnit", "Type": "country", "Name": {}}],
    }
    assert shapes(report) == {
        "ElectionReport": {"GpUnit", "Status=unofficial-partial"},
        "ReportingUnit": {"Name", "Type=country"},
    }


def test_the_checks_catch_a_dangling_id_and_a_wrong_count(tmp_path: Path) -> None:
    from tests.portal.conftest import load

    election = load(tmp_path / "b")
    good = export_nist(collect(election))
    check_report(good, election)
    dangling = json.loads(json.dumps(good))
    dangling["Election"][0]["Contest"][0]["ContestSelection"][0]["CandidateIds"] = ["cand-99"]
    with pytest.raises(AssertionError):
        check_report(dangling, election)
    miscounted = json.loads(json.dumps(good))
    counts = miscounted["Election"][0]["Contest"][0]["ContestSelection"][1]["VoteCounts"]
    next(vc for vc in counts if vc["GpUnitId"] == "gpu-ps-1-1")["Count"] += 1
    with pytest.raises(AssertionError):
        check_report(miscounted, election)
    invalid = json.loads(json.dumps(good))
    invalid["GpUnit"][0]["Colour"] = "blue"  # additionalProperties is false
    with pytest.raises(AssertionError):
        check_report(invalid, election)


def test_the_release_writes_the_report_a_few_stations_at_a_time_with_the_same_bytes(
    tmp_path: Path, admin: Any
) -> None:
    """write_nist streams the stations' items; its bytes are those of the whole report
    dumped at once (export_nist), and it is what a release's nist.json.gz holds."""
    out = tmp_path / "sim"
    write_bundle(simulate(SimulationConfig(stations=60, constituencies=12)), out)
    election = import_bundle(read_bundle(out))
    annul_protocol(
        Station.objects.get(election=election, code="1-1"), actor=admin, decision_ref="CEC-1"
    )
    data = collect(election)
    whole = json.dumps(export_nist(data), ensure_ascii=False, separators=(",", ":")).encode()
    out = io.BytesIO()
    write_nist(data, out)
    assert out.getvalue() == whole
    report = json.loads(whole)
    assert len(report["GpUnit"]) == len(data.units) + len(data.stations)
    counted = sum(1 for s in data.stations if s.id in data.values)
    assert len(report["Election"][0]["BallotCounts"]) > counted > 0


def test_the_release_holds_a_bounded_share_of_the_stations_items_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_nist writes the stations' items once it gathered WRITE_BYTES of them (not a
    count of items: 10,000 of them were 32 MB held at once, which a release while results
    arrive left in the publisher for good, issue 15), with the same bytes."""
    from secki.opendata import nist_export

    out = tmp_path / "sim"
    write_bundle(simulate(SimulationConfig(stations=60, constituencies=12)), out)
    election = import_bundle(read_bundle(out))
    data = collect(election)
    whole = json.dumps(export_nist(data), ensure_ascii=False, separators=(",", ":")).encode()
    report = json.loads(whole)
    items = [*report["GpUnit"], *report["Election"][0]["BallotCounts"]]
    for contest in report["Election"][0]["Contest"]:
        for selection in contest["ContestSelection"]:
            items.extend(selection["VoteCounts"])
    largest = max(len(json.dumps(i, ensure_ascii=False, separators=(",", ":"))) for i in items)
    monkeypatch.setattr(nist_export, "WRITE_BYTES", 2_000, raising=False)
    writes: list[bytes] = []

    class Recorder:
        def write(self, data: bytes, /) -> int:
            writes.append(bytes(data))
            return len(data)

    write_nist(data, Recorder())
    assert b"".join(writes) == whole
    stations = [w for w in writes if b'"gpu-ps-' in w and w.startswith((b"{", b",{"))]
    assert len(stations) > 10  # the items came in many writes
    assert max(len(w) for w in stations) <= 2_000 + largest + 1
