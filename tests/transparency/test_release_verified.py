"""Every published number checked against the log, station by station (issue 14, Build 5 and
the database-tamper line of "Done when"): the per-unit totals of ``results/<N>.json``; the
open-data release the publisher links beside the log (its bulk CSV, turnout CSV, NIST export,
``election.json``, ``units.csv`` and ``candidates.csv``) at the log size its manifest states.

A file altered by one unit or one character — by someone who also rewrote its manifest, so
that no SHA-256 gives it away — fails naming the file, the line and the station, unit or
candidate; so does a candidate's name, a station's registered voters, a turnout figure or a
line value changed directly in the database, once the next release states them."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from secki.elections.models import Candidate, Election, Station
from secki.ledger.models import LedgerEntry
from secki.opendata import snapshots, transparency
from secki.opendata.bulk import gzip_bytes
from secki.opendata.transparency import publish_all
from secki.protocols.models import ProtocolValue
from secki.tlog import canonical
from secki.tlog.results import results_path
from secki.turnout.models import TurnoutReport
from tests.portal.conftest import admin, submit
from tests.transparency.conftest import log_dir, opened
from tests.transparency.test_verified import check

pytestmark = pytest.mark.django_db
__all__ = ["admin"]  # the fixture


def newest_release(election: Election) -> Path:
    return snapshots.election_dir(election) / str(snapshots.releases(election)[0]["version"])


def rewrite_release(election: Election, name: str, edit: Callable[[str], str]) -> None:
    """The newest release's ``name`` rewritten by ``edit`` (on its text) and its manifest
    made to agree: an operator covering their tracks."""
    directory = newest_release(election)
    path = directory / name
    raw = path.read_bytes()
    packed = name.endswith(".gz")
    text = (gzip.decompress(raw) if packed else raw).decode()
    changed = edit(text).encode()
    assert changed != text.encode()
    data = gzip_bytes(changed) if packed else changed
    path.chmod(0o644)
    path.write_bytes(data)
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_bytes())
    for item in manifest["files"]:
        if item["name"] == name:
            item["sha256"] = hashlib.sha256(data).hexdigest()
            item["size"] = len(data)
    manifest_path.chmod(0o644)
    manifest_path.write_bytes(json.dumps(manifest, indent=1).encode() + b"\n")


def edit_csv(station: str, column: str, change: Callable[[str], str]) -> Callable[[str], str]:
    """An edit of a CSV text: ``column`` of ``station``'s row changed."""

    def edit(text: str) -> str:
        rows = list(csv.reader(io.StringIO(text)))
        header = rows[0]
        for row in rows[1:]:
            if row[0] == station:
                row[header.index(column)] = change(row[header.index(column)])
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue()

    return edit


def plus_one(value: str) -> str:
    return str(int(value) + 1)


def released_and_published(election: Election) -> None:
    snapshots.make_release(election)
    publish_all()


# -- the honest files ------------------------------------------------------------------------


def test_an_honest_release_equals_the_log_station_by_station(
    election: Election, tmp_path: Path
) -> None:
    released_and_published(election)
    directory = log_dir(election)
    index = canonical.decode((directory / "opendata.json").read_bytes())
    version = str(snapshots.releases(election)[0]["version"])
    assert index["release"] == version and index["election"] == election.slug
    manifest = json.loads((directory / "opendata" / str(index["manifest"])).read_bytes())
    assert manifest["log_size"] == opened(election).checkpoint.size  # nothing came after it
    for item in manifest["files"]:
        if item["name"] in transparency.RELEASE_FILES:  # the same bytes as /data/<slug>/v…/
            linked = directory / "opendata" / item["sha256"]
            assert linked.read_bytes() == (newest_release(election) / item["name"]).read_bytes()
    report, output = check(tmp_path)
    assert not report.failed, output
    assert f"PASS  {election.slug} open data {version}: stations.csv.gz" in output
    assert "4 stations, 4 counted, 3 candidates" in output
    assert "over 4 stations and 3 units" in output  # results/<N>.json's units too


def test_without_a_release_the_verifier_says_so(election: Election, tmp_path: Path) -> None:
    publish_all()
    report, output = check(tmp_path)
    assert not report.failed, output
    assert "WARN  testland-2024 open data: no opendata.json" in output


# -- one published file altered --------------------------------------------------------------


def test_a_unit_total_off_by_one_in_the_results_file_is_named(
    election: Election, tmp_path: Path
) -> None:
    publish_all()
    directory = log_dir(election)
    latest = directory / "results" / "latest.json"
    document = canonical.decode(latest.read_bytes())
    units = document["units"]
    assert isinstance(units, dict)
    code = sorted(c for c in units if units[c])[-1]  # a unit below the root
    logged = units[code]["C2"]
    units[code]["C2"] = logged + 1
    data = canonical.encode(document)
    latest.write_bytes(data)
    (directory / results_path(int(str(document["tree_size"])))).write_bytes(data)
    report, output = check(tmp_path)
    assert report.failed
    name = results_path(int(str(document["tree_size"])))
    assert (
        f"FAIL  testland-2024 {name}: unit {code} line C2: published {logged + 1}, the log adds "
        f"up to {logged}"
    ) in output, output


@pytest.mark.parametrize(
    ("name", "edit", "expected"),
    [
        (
            "stations.csv.gz",
            edit_csv("1-2", "C1", plus_one),
            r"stations.csv.gz line 3 \(station 1-2\): line C1 is '(\d+)', the log has \d+ "
            r"\(entry \d+\)",
        ),
        (
            "stations.csv.gz",
            edit_csv("2-1", "registered", plus_one),
            r"stations.csv.gz line 4 \(station 2-1\): registered is '\d+', the register "
            r"\(stations.csv line 4\) has '\d+'",
        ),
        (
            "turnout.csv.gz",
            edit_csv("1-1", "voters", plus_one),
            r"turnout.csv.gz line 2 \(station 1-1, \d\d:\d\d\): voters '\d+', the log has \d+",
        ),
        (
            "candidates.csv",
            lambda text: text.replace("Candidate A", "Candidate X", 1),
            r"candidates.csv line 2 is '1,Candidate X,Party One', the register's candidates.csv "
            r"in the log at size \d+ has '1,Candidate A,Party One'",
        ),
        (
            "election.json",
            lambda text: text.replace('"Testland', '"Testlanb', 1),
            r"election.json line \d+ is '.*Testlanb.*', the election.json the log names has "
            r"'.*Testland.*'",
        ),
        (
            "nist.json.gz",
            lambda text: text.replace('"Count": 300', '"Count": 301', 1).replace(
                '"Count":300', '"Count":301', 1
            ),
            r"nist.json.gz ContestSelection sel-1 VoteCounts\[\d+\] \(gpu-[-\w]+\): Count 301, "
            r"the log has 300 for (station|unit) [-\w]+ line C1",
        ),
    ],
    ids=["bulk line value", "bulk register", "turnout", "candidate", "election.json", "nist"],
)
def test_a_release_file_altered_by_one_is_named(
    election: Election, tmp_path: Path, name: str, edit: Callable[[str], str], expected: str
) -> None:
    snapshots.make_release(election)
    rewrite_release(election, name, edit)
    publish_all()
    report, output = check(tmp_path)
    assert report.failed
    assert re.search(f"FAIL  testland-2024 open data v\\d+: {expected}", output), output


def test_a_release_file_altered_after_linking_is_named_by_its_hash(
    election: Election, tmp_path: Path
) -> None:
    released_and_published(election)
    directory = log_dir(election)
    index = canonical.decode((directory / "opendata.json").read_bytes())
    manifest = json.loads((directory / "opendata" / str(index["manifest"])).read_bytes())
    sha = next(f["sha256"] for f in manifest["files"] if f["name"] == "units.csv")
    path = directory / "opendata" / sha
    path.write_bytes(path.read_bytes().replace(b",", b";", 1))
    report, output = check(tmp_path)
    assert report.failed
    assert f"opendata/{sha} (units.csv) has SHA-256" in output and "altered" in output, output


# -- the database altered, the next release states it ---------------------------------------


def test_a_candidate_renamed_in_the_database_is_caught(
    waiting: Election, admin: Any, tmp_path: Path
) -> None:
    submit(waiting, "1-1", admin)
    released_and_published(waiting)
    report, output = check(tmp_path)
    assert not report.failed, output
    Candidate.objects.filter(election=waiting, number=2).update(name="Someone Else")
    submit(waiting, "1-2", admin)
    released_and_published(waiting)
    report, output = check(tmp_path)
    assert report.failed
    assert "candidates.csv line 3 is '2,Someone Else" in output, output
    assert "nist.json.gz Candidate cand-2: BallotName 'Someone Else', the register " in output


def test_registered_voters_changed_in_the_database_are_caught(
    waiting: Election, admin: Any, tmp_path: Path
) -> None:
    submit(waiting, "1-1", admin)
    released_and_published(waiting)
    assert not check(tmp_path)[0].failed
    station = Station.objects.get(election=waiting, code="2-2")
    Station.objects.filter(pk=station.pk).update(registered=station.registered + 100)
    submit(waiting, "1-2", admin)
    released_and_published(waiting)
    report, output = check(tmp_path)
    assert report.failed
    assert (
        f"stations.csv.gz line 5 (station 2-2): registered is '{station.registered + 100}', "
        f"the register (stations.csv line 5) has '{station.registered}'"
    ) in output, output
    assert f"GpUnit gpu-ps-2-2 (station 2-2): VotersRegistered {station.registered + 100}" in output


def test_a_turnout_figure_changed_in_the_database_is_caught(
    waiting: Election, admin: Any, tmp_path: Path
) -> None:
    submit(waiting, "1-1", admin)
    released_and_published(waiting)
    assert not check(tmp_path)[0].failed
    report_row = (
        TurnoutReport.objects.filter(election=waiting, is_current=True)
        .select_related("station")
        .order_by("station__position", "time")
        .first()
    )
    assert report_row is not None
    TurnoutReport.objects.filter(pk=report_row.pk).update(voters=report_row.voters + 7)
    submit(waiting, "1-2", admin)
    released_and_published(waiting)
    report, output = check(tmp_path)
    assert report.failed
    assert (
        f"(station {report_row.station.code}, {report_row.time}): voters "
        f"'{report_row.voters + 7}', the log has {report_row.voters}"
    ) in output, output


def test_a_line_value_changed_in_the_database_is_named_with_its_station(
    waiting: Election, admin: Any, tmp_path: Path
) -> None:
    submit(waiting, "1-1", admin)
    released_and_published(waiting)
    assert not check(tmp_path)[0].failed
    value = ProtocolValue.objects.get(
        protocol__station__code="1-1", protocol__is_current=True, code="C1"
    )
    ProtocolValue.objects.filter(pk=value.pk).update(value=value.value + 10)
    submit(waiting, "1-2", admin)
    released_and_published(waiting)
    report, output = check(tmp_path)
    assert report.failed
    assert (
        f"stations.csv.gz line 2 (station 1-1): line C1 is '{value.value + 10}', the log has "
        f"{value.value}"
    ) in output, output
    assert "line C1: published" in output  # results/<N>.json's national total too


def test_the_download_page_names_the_log_size_and_leaf_hash(
    election: Election, client: Any
) -> None:
    snapshots.make_release(election)
    manifest = snapshots.releases(election)[0]
    page = client.get(f"/data/{election.slug}/").content.decode()
    assert "hash-chained" not in page and "Ledger hash" not in page
    size = manifest["log_size"]
    assert f"the first {size} entries of the transparency log" in page
    assert "Leaf hash of the log's last entry:" in page
    assert manifest["ledger_hash"][:8] in page.replace(" ", "")
    entry = LedgerEntry.objects.get(election=election, index=size - 1)
    assert manifest["ledger_hash"] == entry.leaf_hash and manifest["ledger_seq"] == entry.seq


def test_settings_changed_while_open_name_their_new_election_json(
    waiting: Election, admin: Any, tmp_path: Path
) -> None:
    from secki.accounts.actions import change_election

    submit(waiting, "1-1", admin)
    change_election(None, waiting, name="Waitland, renamed")
    submit(waiting, "1-2", admin)
    released_and_published(waiting)
    report, output = check(tmp_path)
    assert not report.failed, output  # the release's election.json is the one the log names
    assert "election.json not compared" not in output
    entry = LedgerEntry.objects.get(election=waiting, kind="election.settings")
    digest = json.loads(entry.body)["settings_sha256"]
    assert "Waitland, renamed" in (log_dir(waiting) / "register" / digest).read_text()
    assert "Waitland, renamed" in (newest_release(waiting) / "election.json").read_text()


def test_a_manifest_that_claims_another_log_size_is_named(
    election: Election, tmp_path: Path
) -> None:
    snapshots.make_release(election)
    directory = newest_release(election)
    path = directory / "manifest.json"
    manifest = json.loads(path.read_bytes())
    size = manifest["log_size"]
    manifest["log_size"] = size - 1  # the release claims to reflect one entry fewer
    path.chmod(0o644)
    path.write_bytes(json.dumps(manifest, indent=1).encode() + b"\n")
    publish_all()
    report, output = check(tmp_path)
    assert report.failed
    assert (
        f"manifest.json: ledger_hash {manifest['ledger_hash']} is not the leaf hash of log "
        f"entry {size - 2}"
    ) in output, output
