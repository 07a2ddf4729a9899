"""The standalone verifier against a published site (issue 14 part 5): the honest site passes
every check, a station's inclusion and scan are shown, and each tampering of the issue fails
with a message that names what is wrong."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import random
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.verifier.conftest import (
    ELECTION,
    ORIGIN,
    SITE,
    Publisher,
    failures,
    run,
    station_lines,
)
from tests.witness.conftest import log_key

from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint, WitnessPolicy
from secki.tlog.entries import protocol_accepted, turnout_reported
from secki.tlog.merkle import leaf_hash
from secki.tlog.note import split_note
from secki.tlog.results import results_path
from secki.tlog.tiles import bundle_path
from secki.verifier.check import Options, verify
from secki.verifier.state import load_state
from secki.witness.client import QuorumError


def site_root(site: Publisher) -> str:
    """The root of the site's published (signed) checkpoint, in base64."""
    note = (site.dir / "checkpoint").read_text()
    return base64.b64encode(Checkpoint.parse(split_note(note).text).root).decode()


def test_the_honest_site_passes_and_the_next_checkpoint_extends_it(
    site: Publisher, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    report, printed = run(site, state)
    assert not report.failed, printed
    size = len(site.entries)
    assert f"PASS  {ELECTION} checkpoint: size {size}, root " in printed
    assert "cosigned by w1.example.test at " in printed and "w2.example.test" in printed
    assert f"PASS  {ELECTION} entries: all {size} entries hash to the checkpoint's root" in printed
    assert f"PASS  {ELECTION} {results_path(size)}: every number equals the log's" in printed
    assert "7 lines over 60 stations" in printed
    assert (
        f"PASS  {ELECTION} register: 3 files match the register.published (version 1) and "
        "election.published entries"
    ) in printed
    assert f"WARN  {ELECTION} consistency: no checkpoint saved for this log yet" in printed
    assert printed.splitlines()[-1].startswith("PASS  verdict: all ")
    saved = load_state(state)
    assert saved.log_key == site.signer.verifier.format()
    assert saved.checkpoints[ORIGIN] == (site.dir / "checkpoint").read_text()
    # the day goes on: amendments and more stations, a new checkpoint
    site.amend("7-3", {**station_lines(random.Random(1)), "C2": 231})
    for i in range(60, 70):
        site.station_day(f"7-{i}", station_lines(random.Random(i)))
    site.publish()
    report, printed = run(site, state)
    assert not report.failed, printed
    assert f"PASS  {ELECTION} consistency: extends the checkpoint saved at size {size}" in printed
    assert f"PASS  {ELECTION} {results_path(len(site.entries))}: every number" in printed
    # and once more with nothing new
    report, printed = run(site, state, totals=False)
    assert not report.failed and "the same checkpoint as the one saved" in printed


def test_a_station_is_included_with_its_scan(site: Publisher, tmp_path: Path) -> None:
    site.amend("7-3", {**station_lines(random.Random(2)), "C2": 231})
    site.publish()
    report, printed = run(site, tmp_path / "state.json", station="7-3", totals=False)
    assert not report.failed, printed
    index, _ = site.effective("7-3")
    lines = [line for line in printed.splitlines() if f"{ELECTION} station 7-3" in line]
    assert lines[0].startswith(f"PASS  {ELECTION} station 7-3: 5 entries included in size ")
    assert f"{index} (protocol.amended v2)" in lines[0]
    assert f"PASS  {ELECTION} station 7-3: protocol of entry {index} (version 2): " in lines[1]
    assert "C2=231" in lines[1]
    assert sum("scans/" in line and "matches entry" in line for line in lines) == 2
    # a station that is not in the log
    report, printed = run(site, None, station="9-9", totals=False)
    assert failures(report)[:1] == [
        f"FAIL  {ELECTION} station 9-9: no entry of this station in the log at size "
        f"{len(site.entries)}"
    ]
    assert f"WARN  {ELECTION} station 9-9: no hints file: reading all" in printed


def test_one_line_value_changed_in_one_bundle(site: Publisher) -> None:
    index, _ = site.effective("7-3")
    bundle = site.dir / bundle_path(0, len(site.entries))  # 242 entries: a partial bundle
    data = bundle.read_bytes()
    entry = site.entries[index]
    c2 = canonical.decode(entry)["lines"]["C2"]  # type: ignore[index]
    changed = entry.replace(f'"C2":{c2},'.encode(), f'"C2":{c2 + 1:0{len(str(c2))}d},'.encode())
    assert len(changed) == len(entry) and changed != entry
    bundle.write_bytes(data.replace(entry, changed))
    report, _ = run(site, None)
    assert failures(report)[:1] == [
        f"FAIL  {ELECTION} entries: entry {index} of {bundle.relative_to(site.dir)} does not "
        "hash to its "
        f"level-0 tile's hash — log entry {index}, a protocol.accepted of station 7-3, was "
        "changed after it was logged"
    ]


def test_one_entry_removed_and_the_tiles_rebuilt(site: Publisher, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert not run(site, state)[0].failed
    size = len(site.entries)
    index, _ = site.effective("7-3")
    # the operator drops the protocol of 7-3 and rebuilds every tile and bundle to match,
    # keeping the signed checkpoint: the files no longer hold the log it signed
    removed = site.entries[:index] + site.entries[index + 1 :]
    site.rewrite(removed)
    report, _ = run(site, state)
    assert failures(report)[0] == (
        f"FAIL  {ELECTION} entries: tile/entries/000.p/{size} is missing — the published "
        f"files are not the log of the signed checkpoint (size {size})"
    )
    # … even with an entry added at the end to keep the size: the root is not the signed one
    site.rewrite([*removed, turnout_reported(ELECTION, "7-200", "10:00", 5, site.tick())])
    report, _ = run(site, state)
    assert failures(report)[0].startswith(f"FAIL  {ELECTION} entries: the {size} entries hash to ")
    assert failures(report)[0].endswith(", not the checkpoint's root " + site_root(site))
    site.rewrite(removed)
    # … or re-signing a checkpoint of the shorter log: no witness cosigns it
    with pytest.raises(QuorumError, match=r"old size \d+ is larger than the size"):
        site.cosign(site.sign())
    site.write_checkpoint(site.sign())  # published with the log's signature alone
    report, _ = run(site, state)
    assert failures(report)[:2] == [
        f"FAIL  {ELECTION} checkpoint: size {size - 1} is signed by the log but refused: "
        "0 distinct policy witness(es) cosigned, the quorum is 2 — not accepted; its "
        "consistency is checked below as evidence",
        f"FAIL  {ELECTION} consistency: the site shows size {size - 1}, smaller than the "
        f"{size} saved: a stale copy, or a log that lost entries",
    ]


def test_a_checkpoint_re_signed_over_a_rewritten_history(site: Publisher, tmp_path: Path) -> None:
    """Consistency with the verifier's saved checkpoint fails, and the witnesses refuse to
    cosign it: both are shown."""
    state = tmp_path / "state.json"
    assert not run(site, state)[0].failed
    size = len(site.entries)
    index, _ = site.effective("7-3")
    entries = list(site.entries)
    lines = canonical.decode(entries[index])["lines"]
    assert isinstance(lines, dict)
    entries[index] = protocol_accepted(
        ELECTION, "7-3", {**lines, "C1": lines["C1"] + 50}, site.tick()
    )
    site.rewrite(entries)
    site.station_day("7-99", station_lines(random.Random(99)))
    # the witnesses refuse: the proof from their size does not hold (422)
    with pytest.raises(QuorumError) as refused:
        site.cosign(site.sign())
    assert refused.value.cosigned == 0
    for why in refused.value.failures.values():
        assert f"HTTP 422: consistency from size {size}" in why
    # the operator publishes it anyway, signed by the log alone (with its results)
    note = site.sign()
    site.write_checkpoint(note)
    report, _ = run(site, state)
    found = failures(report)
    assert found[0].startswith(
        f"FAIL  {ELECTION} checkpoint: size {size + 4} is signed by the log but refused: "
        "0 distinct policy witness(es) cosigned"
    )
    assert found[1].startswith(
        f"FAIL  {ELECTION} consistency: size {size + 4} does not extend the checkpoint saved "
        f"at size {size}: consistency proof gives old root"
    )
    assert "the history was rewritten (keep both notes: proof of misbehaviour)" in found[1]
    # the saved checkpoint is kept, not replaced by the refused one
    assert Checkpoint.parse(split_note(load_state(state).checkpoints[ORIGIN]).text).size == size


def test_a_results_file_one_vote_off(site: Publisher) -> None:
    size = len(site.entries)
    name = results_path(size)
    value = canonical.decode((site.dir / name).read_bytes())
    totals = value["totals"]
    assert isinstance(totals, dict)
    true_c2 = totals["C2"]
    value["totals"] = {**totals, "C2": true_c2 + 1}
    data = canonical.encode(value)
    (site.dir / name).write_bytes(data)
    (site.dir / "results" / "latest.json").write_bytes(data)
    report, _ = run(site, None)
    assert failures(report)[:1] == [
        f"FAIL  {ELECTION} {name}: line C2: published {true_c2 + 1}, the log adds up to {true_c2}"
    ]
    # latest.json and the file it copies must agree
    value["totals"] = totals
    (site.dir / name).write_bytes(canonical.encode(value))
    report, _ = run(site, None)
    assert failures(report)[:1] == [
        f"FAIL  {ELECTION} {name}: differs from results/latest.json, which claims to copy it"
    ]


def test_a_scan_altered_by_one_byte(site: Publisher) -> None:
    index, _ = site.effective("7-3")
    digest = canonical.decode(site.entries[index])["scan_sha256"]
    assert isinstance(digest, str)
    scan = site.dir / "scans" / digest
    data = bytearray(scan.read_bytes())
    data[-2] ^= 1
    scan.write_bytes(bytes(data))
    report, _ = run(site, None, station="7-3", totals=False)
    assert failures(report) == [
        f"FAIL  {ELECTION} station 7-3: scans/{digest} (named by entry {index}) has SHA-256 "
        f"{hashlib.sha256(data).hexdigest()}: the scan was altered",
        f"FAIL  verdict: 1 of {len(report.verdicts) - 1} checks failed",
    ]
    scan.unlink()
    report, _ = run(site, None, station="7-3", totals=False)
    assert f"scans/{digest} (named by entry {index}) is missing" in failures(report)[0]


def test_a_split_view_lacks_the_quorum(site: Publisher, tmp_path: Path) -> None:
    """The operator shows two different logs of one size to two verifiers: the witnesses
    cosign only the first, so the second lacks the quorum; a verifier who saw the first
    and is then shown the second holds two signed checkpoints of one size."""
    site.station_day("7-60", station_lines(random.Random(60)))
    view_a = tmp_path / "view-a"
    fork = list(site.entries)
    site.publish()
    shutil.copytree(site.root, view_a)
    # view B: the same size, its last station's protocol with other numbers
    index, _ = site.effective("7-60")
    lines = canonical.decode(fork[index])["lines"]
    assert isinstance(lines, dict)
    fork[index] = protocol_accepted(ELECTION, "7-60", {**lines, "C3": 0}, site.tick())
    site.rewrite(fork)
    with pytest.raises(QuorumError, match=r"size \d+ was cosigned with another root"):
        site.cosign(site.sign())
    site.write_checkpoint(site.sign())
    site.write_results(site.sign())
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    report, _ = run(view_a, first, log_key=site.signer.verifier, policy=site.policy)
    assert not report.failed
    report, _ = run(site, second)
    assert failures(report)[0].startswith(
        f"FAIL  {ELECTION} checkpoint: size {len(fork)} is signed by the log but refused: "
        "0 distinct policy witness(es) cosigned, the quorum is 2"
    )
    report, _ = run(site, first)
    assert (
        f"FAIL  {ELECTION} consistency: size {len(fork)} was saved with root "
        in failures(report)[1]
    )
    assert "two different logs of one size, both signed" in failures(report)[1]


def test_an_invalid_entry_cosigned_is_named(site: Publisher) -> None:
    """The operator logs a second acceptance for a station; witnesses check consistency, not
    validity, so it is cosigned; the verifier names the entry and the rule."""
    site.append(protocol_accepted(ELECTION, "7-3", {"C1": 1}, site.tick()))
    site.publish(results=False)
    report, _ = run(site, None)
    index = len(site.entries) - 1
    assert failures(report)[0].startswith(
        f"FAIL  {ELECTION} entries: invalid: entry {index}: station 7-3 of {ELECTION} already "
        "has an effective protocol"
    )
    assert "(rule: already-accepted)" in failures(report)[0]


def test_hints_that_omit_an_entry_of_the_station(site: Publisher) -> None:
    site.amend("7-3", station_lines(random.Random(3)))
    site.publish()
    hints = site.dir / "hints" / ELECTION / "7-3.json"
    value = canonical.decode(hints.read_bytes())
    indexes = value["indexes"]
    assert isinstance(indexes, list)
    hidden = indexes[-1]
    hints.write_bytes(canonical.encode({**value, "indexes": indexes[:-1]}))
    report, _ = run(site, None, station="7-3")
    assert failures(report)[0] == (
        f"FAIL  {ELECTION} station 7-3: hints/{ELECTION}/7-3.json omits entries {hidden} "
        "of this station"
    )
    # hints pointing at another station's entry
    hints.write_bytes(canonical.encode({**value, "indexes": [0]}))
    report, _ = run(site, None, station="7-3", totals=False)
    assert (
        "the hints name entry 0, which is a election.published of 'no station'"
        in (failures(report)[0])
    )


def test_a_register_file_altered(site: Publisher) -> None:
    register = sorted((site.dir / "register").iterdir())
    target = next(p for p in register if p.read_bytes().startswith(b"7-0"))
    target.write_bytes(target.read_bytes() + b"7-999,7,999\n")
    report, _ = run(site, None)
    assert failures(report)[0].startswith(
        f"FAIL  {ELECTION} register: register/{target.name} (stations.csv of entry 1) has SHA-256 "
    )


def test_keys_pinned_first_use_and_mismatch(site: Publisher, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    report, printed = run(site, state, pin=False, totals=False)
    assert not report.failed, printed
    assert "WARN  log key: taken from the site's log.vkey (trust on first use): " in printed
    assert "WARN  witnesses: taken from the site's witnesses.txt (trust on first use)" in printed
    report, printed = run(site, state, pin=False, totals=False)
    assert not report.failed and f"PASS  log key: {site.signer.verifier.format()} (pinned in" in (
        printed
    )
    # the site now publishes another key, and signs with it
    other = log_key(SITE, seed=8)
    (site.root / "log.vkey").write_text(other.verifier.format() + "\n")
    report, _ = run(site, state, pin=False, totals=False)
    assert failures(report)[0] == (
        f"FAIL  log key: the site's log.vkey has {other.verifier.format()}, not "
        f"{site.signer.verifier.format()} (pinned in {state})"
    )
    # a key given on the command line that the log did not sign with
    report, _ = run(site, None, log_key=other.verifier, totals=False)
    assert failures(report)[0] == f"FAIL  {ELECTION} checkpoint: no signature by a trusted key"
    # a weaker policy published by the site is refused against the pinned one
    (site.root / "log.vkey").write_text(site.signer.verifier.format() + "\n")
    weaker = WitnessPolicy(site.policy.witnesses, 1)
    (site.root / "witnesses.txt").write_text(weaker.format())
    report, _ = run(site, state, pin=False, totals=False)
    assert failures(report)[0].startswith("FAIL  witnesses: the site's witnesses.txt has quorum 1")


def test_the_list_of_elections_is_checked(site: Publisher, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert not run(site, state, totals=False)[0].failed
    site.list_elections([(ELECTION, f"elsewhere.test/{ELECTION}")])
    report, _ = run(site, state, totals=False)
    assert failures(report)[0] == (
        f"FAIL  {ELECTION}: its origin is 'elsewhere.test/{ELECTION}', not '{ORIGIN}'"
    )
    site.list_elections([])
    report, _ = run(site, state, totals=False)
    assert failures(report)[0] == (
        f"FAIL  {ORIGIN}: elections.json no longer lists it (last verified at size "
        f"{len(site.entries)})"
    )
    report, _ = run(site, state, election="2030-x", totals=False)
    assert failures(report)[0] == "FAIL  2030-x: elections.json does not list this election"


def test_results_newer_than_the_checkpoint_file_are_verified_at_their_size(
    site: Publisher, tmp_path: Path
) -> None:
    """The publisher wrote a newer checkpoint and results between the verifier's reads: the
    results file's own cosigned checkpoint is the one verified."""
    old_checkpoint = (site.dir / "checkpoint").read_text()
    site.station_day("7-77", station_lines(random.Random(77)))
    site.publish()
    (site.dir / "checkpoint").write_text(old_checkpoint)
    report, printed = run(site, tmp_path / "s.json")
    assert not report.failed, printed
    assert f"PASS  {ELECTION} {results_path(len(site.entries))} checkpoint: size " in printed
    latest = canonical.decode((site.dir / "results" / "latest.json").read_bytes())
    assert load_state(tmp_path / "s.json").checkpoints[ORIGIN] == latest["checkpoint"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served_site(site: Publisher) -> Iterator[str]:
    def handler(*args: object, **kwargs: object) -> _Quiet:
        return _Quiet(*args, directory=str(site.root), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_site_served_over_http(site: Publisher, served_site: str, tmp_path: Path) -> None:
    out = io.StringIO()
    report = verify(
        Options(
            served_site,
            station="7-5",
            log_key=site.signer.verifier,
            policy=site.policy,
            state_path=tmp_path / "http.json",
        ),
        out,
    )
    assert not report.failed, out.getvalue()
    assert f"PASS  {ELECTION} station 7-5: 4 entries included" in out.getvalue()


def test_the_checkpoint_note_and_entries_are_what_the_log_holds(site: Publisher) -> None:
    """A sanity check of the test publisher itself: tiles, checkpoint and results agree."""
    note = (site.dir / "checkpoint").read_text()
    checkpoint = Checkpoint.parse(split_note(note).text)
    assert checkpoint.size == len(site.entries) == 2 + 4 * 60
    assert (
        base64.b64encode(checkpoint.root).decode()
        in (site.dir / results_path(checkpoint.size)).read_text()
    )
    assert leaf_hash(site.entries[0]) == (site.dir / "tile/0/000.p/242").read_bytes()[:32]
