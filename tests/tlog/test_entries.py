"""Election entries (spec §5.2–5.4): the §6.8 entries byte for byte, the validity rules with
the index and rule of the first invalid entry, and the totals rule against the reference."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from types import ModuleType

import pytest

from secki.tlog import canonical
from secki.tlog.entries import (
    EntryError,
    InvalidEntry,
    Prev,
    Rule,
    chain_anchor,
    election_closed,
    election_published,
    first_invalid,
    format_time,
    parse_entry,
    protocol_accepted,
    protocol_amended,
    protocol_annulled,
    register_published,
    replay,
    scan_uploaded,
    tally,
    turnout_reported,
)
from secki.tlog.merkle import inclusion_path, leaf_hash, memory_subtree, root_of

ELECTION = "2026-parl"
SCAN = b"%PDF-1.7 example scan of protocol 01-001\n"
ENTRY_0 = (
    b'{"accepted_at":"2026-03-08T21:14:05Z","election":"2026-parl","kind":"protocol.accepted",'
    b'"lines":{"ballots_cast":412,"invalid":7,"party_a":230,"party_b":175},"prev":null,'
    b'"scan_sha256":"1631cfadf072857bd639b19ab147b0ff31d258985461e286a48de5c6ea8ac092",'
    b'"station":"01-001","version":1}'
)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def election_entries() -> list[bytes]:
    """The three entries of spec §6.8."""
    e0 = protocol_accepted(
        ELECTION,
        "01-001",
        {"ballots_cast": 412, "invalid": 7, "party_a": 230, "party_b": 175},
        at("2026-03-08T21:14:05+00:00"),
        scan_sha256=sha(SCAN),
    )
    e1 = protocol_accepted(
        ELECTION,
        "01-002",
        {"ballots_cast": 388, "invalid": 3, "party_a": 190, "party_b": 195},
        at("2026-03-08T21:20:44Z"),
        scan_sha256=sha(b"scan 01-002"),
    )
    e2 = protocol_amended(
        ELECTION,
        "01-001",
        2,
        Prev.of(0, e0),
        {"ballots_cast": 412, "invalid": 6, "party_a": 231, "party_b": 175},
        at("2026-03-09T13:02:11+04:00"),  # the same instant as 09:02:11Z
        scan_sha256=sha(SCAN + b"amended"),
    )
    return [e0, e1, e2]


def test_the_election_example_of_6_8(reference: ModuleType) -> None:
    entries = election_entries()
    assert entries[0] == ENTRY_0
    assert len(ENTRY_0) == 281
    assert [leaf_hash(e).hex() for e in entries] == [
        "168c32c0b75d3148119484a549016ee0e1ec45252cb599e74fd5f41286f9738d",
        "f43fb3b2c955733af5264d57452a84ef749009d4b7e066c0fa130ff22cb66ca0",
        "6e74c9baea20b8e1d0fa74bd975d16dbb72a05955a913df00c361b7ae11c98f6",
    ]
    hashes = [leaf_hash(e) for e in entries]
    assert root_of(hashes).hex() == (
        "601894d251c33c8345194b8d8a4f6ed56141196e66946af16a0300fec65ae260"
    )
    assert inclusion_path(1, 3, memory_subtree(hashes)) == [hashes[0], hashes[2]]
    result = tally(entries, ELECTION)
    assert result.totals == {"ballots_cast": 800, "invalid": 9, "party_a": 421, "party_b": 370}
    assert canonical.encode(result.totals) == (
        b'{"ballots_cast":800,"invalid":9,"party_a":421,"party_b":370}'
    )
    assert result.stations_counted == 2
    assert result.stations["01-001"]["invalid"] == 6
    assert result.protocols["01-001"].index == 2
    assert (result.totals, sorted(result.stations)) == reference.recompute_totals(entries, ELECTION)


def test_every_kind_builds_and_parses() -> None:
    when = at("2026-03-08T08:00:00Z")
    e0 = protocol_accepted(ELECTION, "01-001", {"a": 1}, when)
    entries = [
        chain_anchor(41, "ab" * 32, when),
        election_published(ELECTION, sha(b"election.json"), when),
        register_published(ELECTION, 1, {"stations.csv": sha(b"s"), "units.csv": sha(b"u")}, when),
        turnout_reported(ELECTION, "01-001", "10:00", 120, when),
        e0,
        scan_uploaded(ELECTION, "01-001", 1, sha(SCAN), len(SCAN), "application/pdf", when),
        election_closed(ELECTION, when, reason="polls closed"),
    ]
    entries.insert(
        5, protocol_annulled(ELECTION, "01-001", 2, Prev.of(4, e0), when, "court", decision="D-1")
    )
    state = replay(entries)
    assert state.size == 8
    assert [parse_entry(e).kind for e in entries] == [
        "chain.anchor",
        "election.published",
        "register.published",
        "turnout.reported",
        "protocol.accepted",
        "protocol.annulled",
        "scan.uploaded",
        "election.closed",
    ]
    assert state.tally(ELECTION).stations_counted == 0
    assert state.tally(ELECTION).turnout == {"01-001": {"10:00": 120}}


def invalid(entries: list[bytes]) -> InvalidEntry:
    found = first_invalid(entries)
    assert found is not None
    return found


def accepted(station: str, value: int = 1, election: str = ELECTION) -> bytes:
    return protocol_accepted(election, station, {"votes": value}, at("2026-03-08T20:00:00Z"))


def amended(station: str, version: int, prev: Prev, value: int = 2) -> bytes:
    return protocol_amended(
        ELECTION, station, version, prev, {"votes": value}, at("2026-03-08T21:00:00Z")
    )


def annulled(station: str, version: int, prev: Prev) -> bytes:
    return protocol_annulled(ELECTION, station, version, prev, at("2026-03-08T22:00:00Z"), "court")


def test_a_second_acceptance_is_invalid() -> None:
    found = invalid([accepted("S1"), accepted("S2"), accepted("S1", 5)])
    assert (found.index, found.rule) == (2, Rule.ALREADY_ACCEPTED)
    assert "entry 2: station S1 of 2026-parl already has an effective protocol (entry 0)" in str(
        found
    )
    # in another election the same station code is another station
    assert first_invalid([accepted("S1"), accepted("S1", election="2027-local")]) is None


def test_an_amendment_must_name_the_effective_protocol() -> None:
    e0, e1 = accepted("S1"), accepted("S2")
    good = amended("S1", 2, Prev.of(0, e0))
    assert first_invalid([e0, e1, good]) is None
    cases = [
        (amended("S1", 2, Prev.of(1, e1)), Rule.PREV, "prev names entry 1, but station S1"),
        (amended("S1", 2, Prev(0, bytes(32))), Rule.PREV, "not the leaf hash of entry 0"),
        (amended("S1", 2, Prev(2, leaf_hash(e0))), Rule.PREV, "prev.index 2 is not below 2"),
        (amended("S1", 3, Prev.of(0, e0)), Rule.VERSION, "version 3 follows version 1"),
        (amended("S3", 2, Prev.of(0, e0)), Rule.NOTHING_EFFECTIVE, "S3 of 2026-parl has no"),
    ]
    for entry, rule, message in cases:
        found = invalid([e0, e1, entry])
        assert (found.index, found.rule) == (2, rule)
        assert message in found.message
    # after an amendment, the amendment is the effective protocol
    again = amended("S1", 3, Prev.of(0, e0))
    assert invalid([e0, e1, good, again]).rule == Rule.PREV
    assert first_invalid([e0, e1, good, amended("S1", 3, Prev.of(2, good))]) is None


def test_an_annulment_clears_the_station() -> None:
    e0 = accepted("S1", 7)
    gone = annulled("S1", 2, Prev.of(0, e0))
    assert tally([e0, gone], ELECTION).stations_counted == 0
    assert invalid([e0, gone, amended("S1", 3, Prev.of(0, e0))]).rule == Rule.NOTHING_EFFECTIVE
    assert invalid([e0, gone, annulled("S1", 3, Prev.of(1, gone))]).rule == Rule.NOTHING_EFFECTIVE
    again = accepted("S1", 9)  # the rule allows a new acceptance after an annulment
    assert tally([e0, gone, again], ELECTION).totals == {"votes": 9}
    assert invalid([e0, annulled("S1", 3, Prev.of(0, e0))]).rule == Rule.VERSION


def test_an_acceptance_is_version_1_without_prev() -> None:
    fields = canonical.decode(accepted("S1"))
    wrong = canonical.encode({**fields, "version": 2})
    assert invalid([wrong]).rule == Rule.VERSION
    wrong = canonical.encode({**fields, "prev": {"index": 0, "leaf_hash": "00" * 32}})
    assert invalid([wrong]).rule == Rule.FIELDS


@pytest.mark.parametrize(
    ("change", "rule", "message"),
    [
        ({"lines": {"votes": True}}, Rule.FIELDS, "line votes is not an integer ≥ 0"),
        ({"lines": {"votes": -1}}, Rule.FIELDS, "line votes is not an integer ≥ 0"),
        ({"lines": {}}, Rule.FIELDS, "lines must be a non-empty object"),
        ({"accepted_at": "2026-02-30T10:00:00Z"}, Rule.FIELDS, "accepted_at must be a time"),
        ({"accepted_at": "2026-03-08T10:00:00+00:00"}, Rule.FIELDS, "accepted_at must be a time"),
        ({"scan_sha256": "AB" * 32}, Rule.FIELDS, "scan_sha256 must be 64 lowercase hex"),
        ({"station": ""}, Rule.FIELDS, "station must be a non-empty string"),
        ({"station": " S1"}, Rule.FIELDS, "without surrounding spaces"),
        ({"extra": 1}, Rule.FIELDS, "protocol.accepted has no field extra"),
        ({"kind": 5}, Rule.CANONICAL, "no kind"),
    ],
)
def test_malformed_fields_are_invalid(change: dict[str, object], rule: Rule, message: str) -> None:
    fields = {**canonical.decode(accepted("S1")), **change}
    found = invalid([accepted("S0"), canonical.encode(fields)])
    assert (found.index, found.rule) == (1, rule)
    assert message in found.message


def test_missing_fields_and_non_canonical_bytes_are_invalid() -> None:
    fields = canonical.decode(accepted("S1"))
    del fields["lines"]
    assert "lacks lines" in invalid([canonical.encode(fields)]).message
    assert invalid([accepted("S1") + b" "]).rule == Rule.CANONICAL
    assert invalid([b'{"kind":"protocol.accepted","kind":"x"}']).rule == Rule.CANONICAL


def test_kinds_the_log_does_not_know_are_ignored() -> None:
    other = canonical.encode({"kind": "integrity.settings", "public": True})
    assert tally([accepted("S1"), other], ELECTION).totals == {"votes": 1}


def test_turnout_reports_and_their_corrections() -> None:
    when = at("2026-03-08T10:05:00Z")
    first = turnout_reported(ELECTION, "S1", "10:00", 100, when)
    fixed = turnout_reported(
        ELECTION, "S1", "10:00", 110, when, version=2, prev=Prev.of(0, first), reason="typo"
    )
    noon = turnout_reported(ELECTION, "S1", "12:00", 200, when)
    assert tally([first, fixed, noon], ELECTION).turnout == {"S1": {"10:00": 110, "12:00": 200}}
    found = invalid([first, turnout_reported(ELECTION, "S1", "10:00", 110, when)])
    assert (found.index, found.rule) == (1, Rule.PREV)
    found = invalid([turnout_reported(ELECTION, "S1", "10:00", 1, when, version=2)])
    assert found.rule == Rule.VERSION
    bad = turnout_reported(ELECTION, "S1", "10:00", 1, when, version=3, prev=Prev.of(0, first))
    assert invalid([first, bad]).rule == Rule.VERSION
    with pytest.raises(EntryError, match="time must be a time HH:MM"):
        turnout_reported(ELECTION, "S1", "24:00", 1, when)


def test_the_election_state_and_the_register_versions() -> None:
    when = at("2026-03-08T08:00:00Z")
    published = election_published(ELECTION, sha(b"e"), when)
    closed = election_closed(ELECTION, when)
    assert first_invalid([published, closed, published, closed]) is None
    assert invalid([closed]).rule == Rule.ELECTION_STATE
    assert invalid([published, published]).message == "election 2026-parl is already open"
    v1 = register_published(ELECTION, 1, {"stations.csv": sha(b"1")}, when)
    v2 = register_published(ELECTION, 2, {"stations.csv": sha(b"2")}, when)
    assert first_invalid([v1, v2]) is None
    found = invalid([v2])
    assert (found.rule, found.message) == (
        Rule.VERSION,
        "register version 2 of 2026-parl follows version 0",
    )
    with pytest.raises(EntryError, match=r"file name '\.\./x' is not"):
        register_published(ELECTION, 1, {"../x": sha(b"")}, when)


def test_a_chain_anchor_only_begins_the_log() -> None:
    anchor = chain_anchor(1234, sha(b"head"), at("2026-03-01T00:00:00Z"))
    assert first_invalid([anchor, accepted("S1")]) is None
    found = invalid([accepted("S1"), anchor])
    assert (found.index, found.rule) == (1, Rule.ANCHOR)


def test_builders_refuse_what_a_verifier_would() -> None:
    with pytest.raises(ValueError, match="time zone"):
        accepted_naive = dt.datetime(2026, 3, 8, 20, 0)  # noqa: DTZ001 - the point of the test
        protocol_accepted(ELECTION, "S1", {"a": 1}, accepted_naive)
    with pytest.raises(EntryError, match="line a is not an integer"):
        protocol_accepted(ELECTION, "S1", {"a": -1}, at("2026-03-08T20:00:00Z"))
    with pytest.raises(EntryError, match="beyond"):
        protocol_accepted(ELECTION, "S1", {"a": 2**53}, at("2026-03-08T20:00:00Z"))
    with pytest.raises(EntryError, match="not ASCII"):
        protocol_accepted(ELECTION, "S1", {"ş": 1}, at("2026-03-08T20:00:00Z"))
    with pytest.raises(EntryError, match="media type"):
        scan_uploaded(ELECTION, "S1", 1, sha(b""), 0, "PDF", at("2026-03-08T20:00:00Z"))
    assert format_time(at("2026-03-08T23:59:59.999+01:00")) == "2026-03-08T22:59:59Z"
    # remembered by instant: the same instant in another zone, and the next second, again
    assert format_time(at("2026-03-08T22:59:59.999+00:00")) == "2026-03-08T22:59:59Z"
    assert format_time(at("2026-03-09T00:00:00.000+01:00")) == "2026-03-08T23:00:00Z"
    assert format_time(at("2026-03-08T23:59:59.999+01:00")) == "2026-03-08T22:59:59Z"


def test_builders_refuse_exactly_what_parsing_their_bytes_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A builder checks the value it encodes (canonical form and the kind's fields) instead
    of parsing its own bytes back: over random inputs, good and bad, a builder returns bytes
    exactly when parse_entry accepts the plain encoding of the same fields, and the bytes are
    that encoding."""
    rng = random.Random(5)
    when = at("2026-03-08T20:00:00Z")
    good_hash, prev = sha(b"x"), Prev(3, b"\x01" * 32)
    texts = ["01-001", "S 1", " S1", "", "e\u0301", "x" * 101, "ş", "a\tb"]
    counts: list[object] = [0, 1, 412, -1, 2**53, True, 1.0, "7"]
    line_sets: list[dict[str, object]] = [
        {"a": 1},
        {},
        {"a": -1},
        {"ş": 1},
        {"": 1},
        {"L1": 2**53 - 1, "L2": 0},
        {"a": 1.5},
        {"a": rng.choice(counts)},
    ]

    def pick(options: list[object]) -> object:
        return rng.choice(options)

    builders = [
        lambda: protocol_accepted(
            pick(texts),
            pick(texts),
            pick(line_sets),
            when,
            scan_sha256=pick([None, good_hash, "AB"]),
        ),
        lambda: protocol_amended(
            ELECTION,
            pick(texts),
            pick([1, 2, 0]),
            prev,
            pick(line_sets),
            when,
            reason=pick([None, "typo", "r" * 2001]),
        ),
        lambda: protocol_annulled(ELECTION, pick(texts), 2, prev, when, pick(["court", 5])),
        lambda: turnout_reported(
            ELECTION,
            pick(texts),
            pick(["10:00", "24:00", "9:00"]),
            pick(counts),
            when,
            version=pick([1, 2, 0]),
            prev=pick([None, prev]),
        ),
        lambda: scan_uploaded(
            ELECTION,
            pick(texts),
            1,
            pick([good_hash, "ab"]),
            pick(counts),
            pick(["application/pdf", "PDF", "image/png"]),
            when,
        ),
        lambda: register_published(
            ELECTION, pick([1, 0]), pick([{"units.csv": good_hash}, {"../x": good_hash}, {}]), when
        ),
        lambda: election_closed(pick(texts), when, reason=pick([None, "end"])),
    ]
    seen = {True: 0, False: 0}
    calls: list[dict[str, object]] = []
    real_encode = canonical.encode

    def spy(value: object) -> bytes:
        assert isinstance(value, dict)
        calls.append(dict(value))
        return real_encode(value)

    monkeypatch.setattr(canonical, "encode", spy)
    for _ in range(2000):
        calls.clear()
        try:
            data: bytes | None = rng.choice(builders)()  # type: ignore[no-untyped-call]
        except EntryError:
            data = None
        value = calls[0]
        try:
            plain = real_encode(value)
            parse_entry(plain)
        except (canonical.CanonicalError, EntryError):
            plain = None
        assert data == plain, value
        seen[data is not None] += 1
    assert min(seen.values()) > 200


def test_units_add_up_their_stations() -> None:
    entries = [accepted("S1", 1), accepted("S2", 2), accepted("S3", 4)]
    units = {"S1": ["AZ", "R1"], "S2": ["AZ", "R1"], "S3": ["AZ", "R2"], "S4": ["AZ", "R2"]}
    by_unit = tally(entries, ELECTION).by_unit(units)
    assert {u: (t.totals, t.stations_counted) for u, t in by_unit.items()} == {
        "AZ": ({"votes": 7}, 3),
        "R1": ({"votes": 3}, 2),
        "R2": ({"votes": 4}, 1),
    }
    with pytest.raises(ValueError, match="station S3 is not in the register"):
        tally(entries, ELECTION).by_unit({"S1": ["AZ"], "S2": ["AZ"]})


@pytest.mark.parametrize("seed", range(5))
def test_random_logs_agree_with_the_reference_totals(reference: ModuleType, seed: int) -> None:
    """Random valid histories of two elections (acceptances, amendments, annulments, scans
    and turnout reports interleaved): the same totals and counted stations as the spec's
    reference code."""
    rng = random.Random(seed)
    when = at("2026-03-08T20:00:00Z")
    lines = ["ballots_cast", "invalid", "L1", "L2"]
    entries: list[bytes] = []
    effective: dict[tuple[str, str], Prev] = {}
    versions: dict[tuple[str, str], int] = {}
    reported: set[tuple[str, str]] = set()
    for _ in range(600):
        key = (rng.choice([ELECTION, ELECTION, "2026-local"]), f"{rng.randint(1, 80):03d}")
        values = {code: rng.randint(0, 500) for code in lines}
        prev, version = effective.get(key), versions.get(key, 0)
        roll = rng.random()
        if roll < 0.1 and key not in reported:
            entry = turnout_reported(*key, "10:00", rng.randint(0, 900), when)
            reported.add(key)
        elif roll < 0.2 and version:
            entry = scan_uploaded(*key, version, sha(bytes(version)), 1, "image/png", when)
        elif prev is None:
            entry = protocol_accepted(*key, values, when)
            version = 1
        elif roll < 0.75:
            version += 1
            entry = protocol_amended(*key, version, prev, values, when)
        else:
            version += 1
            entry = protocol_annulled(*key, version, prev, when, "court")
        kind = parse_entry(entry).kind
        if kind == "protocol.annulled":
            del effective[key]
        elif kind.startswith("protocol."):
            effective[key] = Prev.of(len(entries), entry)
        versions[key] = version
        entries.append(entry)
    for election in (ELECTION, "2026-local"):
        ours = tally(entries, election)
        totals, stations = reference.recompute_totals(entries, election)
        assert (ours.totals, sorted(ours.stations)) == (totals, stations)
        assert ours.stations_counted == len(stations) > 10
