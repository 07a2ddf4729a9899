"""results/<N>.json (spec §5.4): built from the log, and checked against it number by
number; a file one vote off, or over entries that do not hash to its root, is refused."""

from __future__ import annotations

import base64

import pytest
from tests.tlog.conftest import ORIGIN
from tests.tlog.test_checkpoint import CHECKPOINT_FILE, TIMESTAMP
from tests.tlog.test_entries import ELECTION, at, election_entries

from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint, CheckpointError, Witness, WitnessPolicy
from secki.tlog.entries import InvalidEntry, Prev, protocol_amended, tally
from secki.tlog.merkle import leaf_hash, root_of
from secki.tlog.note import Signer, add_signatures, cosign, sign_note
from secki.tlog.results import (
    ResultsError,
    build_results,
    check_results,
    compare_units,
    parse_results,
    results_path,
)

ENTRIES = election_entries()
ROOT = root_of([leaf_hash(e) for e in ENTRIES])


@pytest.fixture
def policy(witness_signer: Signer) -> WitnessPolicy:
    return WitnessPolicy((Witness(witness_signer.verifier),), 1)


@pytest.fixture
def document() -> bytes:
    return build_results(tally(ENTRIES, ELECTION), ROOT, CHECKPOINT_FILE)


def check(data: bytes, log: Signer, policy: WitnessPolicy, entries: list[bytes] = ENTRIES) -> None:
    check_results(data, entries, log.verifier, policy, ORIGIN, TIMESTAMP)


def reencoded(data: bytes, **changes: object) -> bytes:
    return canonical.encode({**canonical.decode(data), **changes})


def test_the_election_results_at_size_3(
    document: bytes, log_signer: Signer, policy: WitnessPolicy
) -> None:
    assert results_path(3) == "results/3.json"
    parsed = parse_results(document)
    assert parsed.totals == {"ballots_cast": 800, "invalid": 9, "party_a": 421, "party_b": 370}
    assert (parsed.tree_size, parsed.stations_counted, parsed.root_hash) == (3, 2, ROOT)
    assert parsed.checkpoint == CHECKPOINT_FILE
    assert document.startswith(b'{"checkpoint":"results.example.org/log\\n3\\n')
    check(document, log_signer, policy)


def test_a_total_one_vote_off_is_named(
    document: bytes, log_signer: Signer, policy: WitnessPolicy
) -> None:
    totals = {"ballots_cast": 800, "invalid": 9, "party_a": 422, "party_b": 370}
    with pytest.raises(ResultsError, match="line party_a: published 422, the log adds up to 421"):
        check(reencoded(document, totals=totals), log_signer, policy)
    with pytest.raises(ResultsError, match="line extra: published 1, the log adds up to nothing"):
        check(
            reencoded(document, totals={**parse_results(document).totals, "extra": 1}),
            log_signer,
            policy,
        )
    with pytest.raises(ResultsError, match="stations_counted is 3, the log has 2"):
        check(reencoded(document, stations_counted=3), log_signer, policy)


def test_a_changed_entry_does_not_hash_to_the_root(
    document: bytes, log_signer: Signer, policy: WitnessPolicy
) -> None:
    changed = [*ENTRIES[:2], ENTRIES[2].replace(b'"party_a":231', b'"party_a":232')]
    with pytest.raises(ResultsError, match="the 3 entries do not hash to root_hash"):
        check(document, log_signer, policy, changed)
    with pytest.raises(ResultsError, match="2 entries given for tree size 3"):
        check(document, log_signer, policy, ENTRIES[:2])


def test_an_invalid_entry_is_named(
    log_signer: Signer, witness_signer: Signer, policy: WitnessPolicy
) -> None:
    """The operator logs an amendment that supersedes the wrong entry and publishes totals
    over it, properly signed: the check names the entry and the rule."""
    bad = protocol_amended(
        ELECTION,
        "01-002",
        2,
        Prev.of(0, ENTRIES[0]),
        {"ballots_cast": 1},
        at("2026-03-10T00:00:00Z"),
    )
    entries = [*ENTRIES, bad]
    root = root_of([leaf_hash(e) for e in entries])
    text = Checkpoint(ORIGIN, 4, root).format()
    note = add_signatures(sign_note(text, log_signer), [cosign(text, witness_signer, TIMESTAMP)])
    data = canonical.encode(
        {
            "election": ELECTION,
            "tree_size": 4,
            "root_hash": base64.b64encode(root).decode(),
            "totals": {},
            "stations_counted": 0,
            "checkpoint": note,
        }
    )
    with pytest.raises(InvalidEntry, match="entry 3: prev names entry 0, but station 01-002"):
        check(data, log_signer, policy, entries)


def test_the_checkpoint_must_be_valid_and_match(
    document: bytes, log_signer: Signer, policy: WitnessPolicy
) -> None:
    with pytest.raises(ResultsError, match="tree_size is 2, its checkpoint's size 3"):
        check(reencoded(document, tree_size=2), log_signer, policy)
    wrong_root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    with pytest.raises(ResultsError, match="root_hash is not the root of its checkpoint"):
        check(reencoded(document, root_hash=wrong_root), log_signer, policy)
    unsigned = CHECKPOINT_FILE.split("— observers")[0]
    with pytest.raises(CheckpointError, match="the quorum is 1"):
        check(reencoded(document, checkpoint=unsigned), log_signer, policy)
    with pytest.raises(ResultsError, match="the checkpoint is of size 3, the totals of size 2"):
        build_results(tally(ENTRIES[:2], ELECTION), ROOT, CHECKPOINT_FILE)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"tree_size": -1}, "integers ≥ 0"),
        ({"tree_size": True}, "integers ≥ 0"),
        ({"totals": {"a": -1}}, "totals must map"),
        ({"root_hash": "AAAA"}, "3 bytes, not 32"),
        ({"root_hash": "!!"}, "not base64"),
        ({"election": 1}, "must be strings"),
        ({"extra": 1}, "fields"),
    ],
)
def test_malformed_results_files_are_refused(
    document: bytes, change: dict[str, object], problem: str
) -> None:
    with pytest.raises(ResultsError, match=problem):
        parse_results(reencoded(document, **change))


def test_a_results_file_must_be_canonical(document: bytes) -> None:
    with pytest.raises(ResultsError, match="canonical form"):
        parse_results(document.replace(b'","', b'", "', 1))


# -- the units extension -------------------------------------------------------------------------

#: the register of the example: both stations in constituency 01 of region R
UNITS_OF = {"01-001": ["01", "R"], "01-002": ["01", "R"]}


def test_units_extend_the_file_and_are_checked_unit_by_unit(
    log_signer: Signer, policy: WitnessPolicy
) -> None:
    tallied = tally(ENTRIES, ELECTION)
    units = {code: u.totals for code, u in tallied.by_unit(UNITS_OF).items()}
    units["02"] = {}  # a unit of the tree without a counted station
    data = build_results(tallied, ROOT, CHECKPOINT_FILE, units=units)
    parsed = parse_results(data)
    assert parsed.units == units and parsed.units["R"]["party_a"] == 421
    check_results(data, ENTRIES, log_signer.verifier, policy, ORIGIN, TIMESTAMP, units_of=UNITS_OF)
    # a file without units is still valid, and says nothing about them
    plain = build_results(tallied, ROOT, CHECKPOINT_FILE)
    assert parse_results(plain).units is None and b"units" not in plain
    assert compare_units(parse_results(plain), tallied, UNITS_OF) == []

    off = {**units, "01": {**units["01"], "party_b": 371}}
    with pytest.raises(
        ResultsError, match="unit 01 line party_b: published 371, the log adds up to 370"
    ):
        check_results(
            reencoded(data, units=off),
            ENTRIES,
            log_signer.verifier,
            policy,
            ORIGIN,
            TIMESTAMP,
            units_of=UNITS_OF,
        )
    missing = {k: v for k, v in units.items() if k != "R"}
    assert compare_units(parse_results(reencoded(data, units=missing)), tallied, UNITS_OF) == [
        "unit R: not in the file, the log counts stations in it"
    ]
    counted_nowhere = {**units, "02": {"party_a": 1}}
    assert compare_units(
        parse_results(reencoded(data, units=counted_nowhere)), tallied, UNITS_OF
    ) == ["unit 02 line party_a: published 1, the log adds up to nothing"]


@pytest.mark.parametrize("units", [None, [], {"01": {"a": -1}}, {"01": 3}])
def test_malformed_units_are_refused(document: bytes, units: object) -> None:
    with pytest.raises(ResultsError, match="units must map"):
        parse_results(reencoded(document, units=units))
