"""Election log entries: kinds and fields, validity and the totals rule (spec §5.2–5.4).

Every entry is canonical JSON (§5.1) with a ``kind``. The kinds this log writes, and their
fields (``?`` optional; times are RFC 3339 UTC ``YYYY-MM-DDThh:mm:ssZ``; hashes lowercase hex
SHA-256; ``prev`` is ``{"index": i, "leaf_hash": hex LH(entry i)}``):

========================  ========================================================================
``protocol.accepted``     election, station, version (1), lines, prev (null), accepted_at,
                          scan_sha256?
``protocol.amended``      election, station, version, lines, prev, accepted_at, scan_sha256?,
                          reason?
``protocol.annulled``     election, station, version, prev, accepted_at, reason, decision?
``turnout.reported``      election, station, time (``HH:MM``, the report time), voters, version,
                          prev (null for version 1, else the report it corrects), reported_at,
                          reason?
``scan.uploaded``         election, station, version (of the protocol), scan_sha256, size,
                          content_type, uploaded_at
``election.published``    election, settings_sha256 (of the published ``election.json``),
                          published_at — results intake opens (again, after a close)
``election.closed``       election, closed_at, reason?
``register.published``    election, version (1, +1 per republication), files (file name →
                          SHA-256 of the register files published beside the log), published_at
``chain.anchor``          seq, head (the old database chain's last sequence number and hash),
                          anchored_at — only as entry 0 (§5.5 migration)
========================  ========================================================================

``lines`` maps the line codes of the election's form to integers ≥ 0. Fields beyond the
spec's §5.2 table (``version`` of an annulment, ``decision``, ``reason``, the turnout
``time``/``version``/``prev``, and the last four kinds) are this module's design; the spec's
own entries (§6.8) are reproduced byte for byte.

Validity (§5.3) is checked by :class:`Replay`, which walks the entries in index order and
raises :class:`InvalidEntry` naming the index and the rule of the first invalid one; kinds it
does not know are only required to be canonical JSON with a ``kind``. The totals rule (§5.4)
is :meth:`Replay.tally`.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from secki.tlog import canonical
from secki.tlog.merkle import leaf_hash

PROTOCOL_ACCEPTED = "protocol.accepted"
PROTOCOL_AMENDED = "protocol.amended"
PROTOCOL_ANNULLED = "protocol.annulled"
TURNOUT_REPORTED = "turnout.reported"
SCAN_UPLOADED = "scan.uploaded"
ELECTION_PUBLISHED = "election.published"
ELECTION_CLOSED = "election.closed"
REGISTER_PUBLISHED = "register.published"
CHAIN_ANCHOR = "chain.anchor"

IDENTIFIER_MAX = 100
TEXT_MAX = 2000


class Rule(enum.StrEnum):
    """Why an entry is invalid."""

    CANONICAL = "canonical"  #: not canonical JSON, or no kind (§5.1)
    FIELDS = "fields"  #: a field missing, unknown or of the wrong form (§5.2)
    PREV = "prev"  #: prev does not name the current entry it supersedes (§5.3)
    VERSION = "version"  #: not that entry's version + 1, or an acceptance not of version 1
    ALREADY_ACCEPTED = "already-accepted"  #: protocol.accepted while one is effective (§5.3)
    NOTHING_EFFECTIVE = "nothing-effective"  #: amended or annulled with no effective protocol
    ELECTION_STATE = "election-state"  #: published while open, closed while not open
    ANCHOR = "anchor"  #: chain.anchor anywhere but entry 0


class EntryError(ValueError):
    """An entry that breaks a rule; ``rule`` names it."""

    def __init__(self, rule: Rule, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class InvalidEntry(EntryError):
    """The first invalid entry of a log: evidence against the operator (§5.3)."""

    def __init__(self, index: int, rule: Rule, message: str) -> None:
        super().__init__(rule, f"entry {index}: {message} (rule: {rule})")
        self.index = index
        self.message = message


# -- field forms ----------------------------------------------------------------------------------

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")

Check = Callable[[object], str | None]  # a message when the value is not of the form


def _identifier(value: object) -> str | None:
    if type(value) is str:
        return _identifier_text(value)
    if not isinstance(value, str) or not value or len(value) > IDENTIFIER_MAX:
        return f"a non-empty string of at most {IDENTIFIER_MAX} characters"
    if not value.isprintable() or value != value.strip():
        return "printable, without surrounding spaces"
    return None


@functools.lru_cache(maxsize=4096)
def _identifier_text(value: str) -> str | None:
    """:func:`_identifier` of a plain string, remembered: line codes, stations and elections
    come back in entry after entry."""
    if not value or len(value) > IDENTIFIER_MAX:
        return f"a non-empty string of at most {IDENTIFIER_MAX} characters"
    if not value.isprintable() or value != value.strip():
        return "printable, without surrounding spaces"
    return None


def _text(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > TEXT_MAX:
        return f"a string of at most {TEXT_MAX} characters"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: object) -> str | None:
    return None if _is_int(value) and cast(int, value) >= 0 else "an integer ≥ 0"


def _positive(value: object) -> str | None:
    return None if _is_int(value) and cast(int, value) >= 1 else "an integer ≥ 1"


def _sha256(value: object) -> str | None:
    ok = isinstance(value, str) and _HEX64.fullmatch(value)
    return None if ok else "64 lowercase hex digits"


def _time(value: object) -> str | None:
    if type(value) is str:
        return _time_text(value)
    return _time_text(value) if isinstance(value, str) else "a time YYYY-MM-DDThh:mm:ssZ"


@functools.lru_cache(maxsize=1024)
def _time_text(value: str) -> str | None:
    """:func:`_time` of a string, remembered: the entries of a batch or a bulk write share
    their time, and a date's check (strptime) costs more than the rest of an entry's."""
    if _TIME.fullmatch(value):
        try:
            dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")  # noqa: DTZ007 - Z is matched
        except ValueError:
            pass
        else:
            return None
    return "a time YYYY-MM-DDThh:mm:ssZ"


def _hhmm(value: object) -> str | None:
    return None if isinstance(value, str) and _HHMM.fullmatch(value) else "a time HH:MM"


def _content_type(value: object) -> str | None:
    ok = isinstance(value, str) and len(value) <= IDENTIFIER_MAX and _CONTENT_TYPE.fullmatch(value)
    return None if ok else "a media type such as application/pdf"


def _lines(value: object) -> str | None:
    if not isinstance(value, dict) or not value:
        return "a non-empty object of line codes"
    for code, count in value.items():
        if _identifier(code) is not None:
            return f"line code {code!r} is not a non-empty printable string"
        if (type(count) is not int or count < 0) and _count(count) is not None:
            return f"line {code} is not an integer ≥ 0"
    return None


def _files(value: object) -> str | None:
    if not isinstance(value, dict) or not value:
        return "a non-empty object of file names"
    for name, digest in value.items():
        if not _FILE_NAME.fullmatch(name):
            return f"file name {name!r} is not letters, digits, '.', '_' and '-'"
        if _sha256(digest) is not None:
            return f"the hash of {name} is not 64 lowercase hex digits"
    return None


def _prev(value: object) -> str | None:
    if not isinstance(value, dict) or set(value) != {"index", "leaf_hash"}:
        return 'an object {"index": …, "leaf_hash": …}'
    if _count(value["index"]) is not None or _sha256(value["leaf_hash"]) is not None:
        return "an index ≥ 0 and a leaf_hash of 64 lowercase hex digits"
    return None


def _null(value: object) -> str | None:
    return None if value is None else "null"


def _prev_or_null(value: object) -> str | None:
    return None if value is None else _prev(value)


_COMMON = {"election": _identifier, "station": _identifier}

#: per kind: (required fields, optional fields), each field with its form
SCHEMAS: dict[str, tuple[dict[str, Check], dict[str, Check]]] = {
    PROTOCOL_ACCEPTED: (
        {**_COMMON, "version": _positive, "lines": _lines, "prev": _null, "accepted_at": _time},
        {"scan_sha256": _sha256},
    ),
    PROTOCOL_AMENDED: (
        {**_COMMON, "version": _positive, "lines": _lines, "prev": _prev, "accepted_at": _time},
        {"scan_sha256": _sha256, "reason": _text},
    ),
    PROTOCOL_ANNULLED: (
        {**_COMMON, "version": _positive, "prev": _prev, "accepted_at": _time, "reason": _text},
        {"decision": _text},
    ),
    TURNOUT_REPORTED: (
        {
            **_COMMON,
            "time": _hhmm,
            "voters": _count,
            "version": _positive,
            "prev": _prev_or_null,
            "reported_at": _time,
        },
        {"reason": _text},
    ),
    SCAN_UPLOADED: (
        {
            **_COMMON,
            "version": _positive,
            "scan_sha256": _sha256,
            "size": _count,
            "content_type": _content_type,
            "uploaded_at": _time,
        },
        {},
    ),
    ELECTION_PUBLISHED: (
        {"election": _identifier, "settings_sha256": _sha256, "published_at": _time},
        {},
    ),
    ELECTION_CLOSED: ({"election": _identifier, "closed_at": _time}, {"reason": _text}),
    REGISTER_PUBLISHED: (
        {"election": _identifier, "version": _positive, "files": _files, "published_at": _time},
        {},
    ),
    CHAIN_ANCHOR: ({"seq": _count, "head": _sha256, "anchored_at": _time}, {}),
}


# -- parsed entries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prev:
    """The entry an amendment, annulment or turnout correction supersedes."""

    index: int
    leaf_hash: bytes

    @classmethod
    def of(cls, index: int, entry: bytes) -> Prev:
        """A reference to ``entry``, the log's entry ``index``."""
        return cls(index, leaf_hash(entry))

    def as_json(self) -> dict[str, object]:
        return {"index": self.index, "leaf_hash": self.leaf_hash.hex()}


@dataclass(frozen=True)
class Entry:
    """A parsed entry: its kind and fields (checked against :data:`SCHEMAS` for known kinds)."""

    kind: str
    fields: dict[str, object]

    @property
    def known(self) -> bool:
        return self.kind in SCHEMAS

    def text(self, name: str) -> str:
        return cast(str, self.fields[name])

    def number(self, name: str) -> int:
        return cast(int, self.fields[name])

    @property
    def lines(self) -> dict[str, int]:
        return cast(dict[str, int], self.fields["lines"])

    @property
    def prev(self) -> Prev | None:
        value = self.fields.get("prev")
        if value is None:
            return None
        ref = cast(dict[str, object], value)
        return Prev(cast(int, ref["index"]), bytes.fromhex(cast(str, ref["leaf_hash"])))


def parse_entry(data: bytes) -> Entry:
    """Decode and check one entry's form (§5.1, §5.2); :class:`EntryError` if it breaks one."""
    try:
        fields = canonical.decode(data)
    except canonical.CanonicalError as exc:
        raise EntryError(Rule.CANONICAL, f"not canonical JSON: {exc}") from None
    kind = fields.get("kind")
    if not isinstance(kind, str) or not kind:
        raise EntryError(Rule.CANONICAL, "no kind")
    del fields["kind"]
    if kind in SCHEMAS:
        _check_fields(kind, fields)
    return Entry(kind, fields)


def _check_fields(kind: str, fields: Mapping[str, object]) -> None:
    required, optional = SCHEMAS[kind]
    missing = sorted(set(required) - set(fields))
    if missing:
        raise EntryError(Rule.FIELDS, f"{kind} lacks {', '.join(missing)}")
    unknown = sorted(set(fields) - set(required) - set(optional))
    if unknown:
        raise EntryError(Rule.FIELDS, f"{kind} has no field {', '.join(unknown)}")
    for name, value in fields.items():
        problem = (required.get(name) or optional[name])(value)
        if problem:
            raise EntryError(Rule.FIELDS, f"{kind}: {name} must be {problem}")


# -- building entries -----------------------------------------------------------------------------


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 UTC to the second, ``YYYY-MM-DDThh:mm:ssZ`` (fractions are dropped)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a log time needs a time zone")
    return _utc_text(moment)


@functools.lru_cache(maxsize=1024)
def _utc_text(moment: dt.datetime) -> str:
    """:func:`format_time` of an aware time, remembered (a bulk write's entries share their
    time). Aware times that are equal are the same instant, so they share one text."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _build(kind: str, fields: dict[str, object]) -> bytes:
    """Canonical bytes of an entry, refused (:class:`EntryError`) unless :func:`parse_entry`
    accepts them: builders never write what a verifier refuses.

    The value is checked, not the bytes parsed back: :func:`canonical.encode` accepts only
    values whose bytes :func:`canonical.decode` gives back as an equal value (that is its
    contract, and what decode's own re-encoding checks), so :func:`_check_fields` of the
    fields written is :func:`parse_entry`'s check of the bytes, without a second encoding."""
    written = {k: v for k, v in fields.items() if v is not None or k == "prev"}
    try:
        data = canonical.encode({"kind": kind, **written})
    except canonical.CanonicalError as exc:
        raise EntryError(Rule.CANONICAL, str(exc)) from None
    _check_fields(kind, written)
    return data


def _prev_json(prev: Prev | None) -> dict[str, object] | None:
    return prev.as_json() if prev else None


def protocol_accepted(
    election: str,
    station: str,
    lines: Mapping[str, int],
    accepted_at: dt.datetime,
    *,
    scan_sha256: str | None = None,
) -> bytes:
    """A station's first protocol (version 1) counts."""
    return _build(
        PROTOCOL_ACCEPTED,
        {
            "election": election,
            "station": station,
            "version": 1,
            "lines": dict(lines),
            "prev": None,
            "accepted_at": format_time(accepted_at),
            "scan_sha256": scan_sha256,
        },
    )


def protocol_amended(
    election: str,
    station: str,
    version: int,
    prev: Prev,
    lines: Mapping[str, int],
    accepted_at: dt.datetime,
    *,
    scan_sha256: str | None = None,
    reason: str | None = None,
) -> bytes:
    """A new version of the station's effective protocol ``prev`` counts instead."""
    return _build(
        PROTOCOL_AMENDED,
        {
            "election": election,
            "station": station,
            "version": version,
            "lines": dict(lines),
            "prev": prev.as_json(),
            "accepted_at": format_time(accepted_at),
            "scan_sha256": scan_sha256,
            "reason": reason,
        },
    )


def protocol_annulled(
    election: str,
    station: str,
    version: int,
    prev: Prev,
    accepted_at: dt.datetime,
    reason: str,
    *,
    decision: str | None = None,
) -> bytes:
    """The station's effective protocol ``prev`` no longer counts."""
    return _build(
        PROTOCOL_ANNULLED,
        {
            "election": election,
            "station": station,
            "version": version,
            "prev": prev.as_json(),
            "accepted_at": format_time(accepted_at),
            "reason": reason,
            "decision": decision,
        },
    )


def turnout_reported(
    election: str,
    station: str,
    time: str,
    voters: int,
    reported_at: dt.datetime,
    *,
    version: int = 1,
    prev: Prev | None = None,
    reason: str | None = None,
) -> bytes:
    """A station's turnout at report time ``time`` (``HH:MM``); a correction has version
    > 1 and ``prev``, the report it replaces."""
    return _build(
        TURNOUT_REPORTED,
        {
            "election": election,
            "station": station,
            "time": time,
            "voters": voters,
            "version": version,
            "prev": _prev_json(prev),
            "reported_at": format_time(reported_at),
            "reason": reason,
        },
    )


def scan_uploaded(
    election: str,
    station: str,
    version: int,
    scan_sha256: str,
    size: int,
    content_type: str,
    uploaded_at: dt.datetime,
) -> bytes:
    """A scan of version ``version`` of the station's protocol, published at
    ``scans/<scan_sha256>``."""
    return _build(
        SCAN_UPLOADED,
        {
            "election": election,
            "station": station,
            "version": version,
            "scan_sha256": scan_sha256,
            "size": size,
            "content_type": content_type,
            "uploaded_at": format_time(uploaded_at),
        },
    )


def election_published(election: str, settings_sha256: str, published_at: dt.datetime) -> bytes:
    """The election opens for results, with the SHA-256 of its published settings."""
    return _build(
        ELECTION_PUBLISHED,
        {
            "election": election,
            "settings_sha256": settings_sha256,
            "published_at": format_time(published_at),
        },
    )


def election_closed(election: str, closed_at: dt.datetime, *, reason: str | None = None) -> bytes:
    """Results intake closes."""
    return _build(
        ELECTION_CLOSED,
        {"election": election, "closed_at": format_time(closed_at), "reason": reason},
    )


def register_published(
    election: str, version: int, files: Mapping[str, str], published_at: dt.datetime
) -> bytes:
    """The register's files (units, stations, candidates …) by SHA-256, version 1 first."""
    return _build(
        REGISTER_PUBLISHED,
        {
            "election": election,
            "version": version,
            "files": dict(files),
            "published_at": format_time(published_at),
        },
    )


def chain_anchor(seq: int, head: str, anchored_at: dt.datetime) -> bytes:
    """Entry 0 of a migrated log: the old chain's last sequence number and hash (§5.5)."""
    return _build(CHAIN_ANCHOR, {"seq": seq, "head": head, "anchored_at": format_time(anchored_at)})


# -- replay: validity (§5.3) and the totals rule (§5.4) -------------------------------------------


@dataclass(frozen=True)
class Current:
    """The entry that currently holds a station's protocol or a turnout report."""

    index: int
    leaf_hash: bytes
    version: int
    entry: Entry


@dataclass(frozen=True)
class UnitTotals:
    totals: dict[str, int]
    stations_counted: int


@dataclass(frozen=True)
class Tally:
    """One election's figures at a tree size (§5.4): the effective protocol of every station
    and the current turnout report of every station and report time."""

    election: str
    tree_size: int
    protocols: dict[str, Current]
    turnout: dict[str, dict[str, int]]

    @property
    def stations(self) -> dict[str, dict[str, int]]:
        """Line values of every counted station, by station code."""
        return {code: p.entry.lines for code, p in sorted(self.protocols.items())}

    @property
    def totals(self) -> dict[str, int]:
        """Per line code, the sum over the effective protocols."""
        return _sum(p.entry.lines for p in self.protocols.values())

    @property
    def stations_counted(self) -> int:
        return len(self.protocols)

    def by_unit(self, units_of: Mapping[str, Iterable[str]]) -> dict[str, UnitTotals]:
        """Totals per territorial unit, given every counted station's units (from the
        published register: e.g. its region and constituency, or the whole path)."""
        members: dict[str, list[dict[str, int]]] = {}
        for code, protocol in self.protocols.items():
            if code not in units_of:
                raise ValueError(f"station {code} is not in the register")
            for unit in units_of[code]:
                members.setdefault(unit, []).append(protocol.entry.lines)
        return {
            unit: UnitTotals(_sum(lines), len(lines)) for unit, lines in sorted(members.items())
        }


def _sum(protocols: Iterable[Mapping[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for lines in protocols:
        for code, value in lines.items():
            totals[code] = totals.get(code, 0) + value
    return dict(sorted(totals.items()))


@dataclass
class Replay:
    """The log's state after its entries, fed in index order to :meth:`add`."""

    leaf_hashes: list[bytes] = field(default_factory=list)
    #: (election, station) -> effective protocol
    protocols: dict[tuple[str, str], Current] = field(default_factory=dict)
    #: (election, station, time) -> current turnout report
    turnout: dict[tuple[str, str, str], Current] = field(default_factory=dict)
    #: election -> results intake open (after election.published, until election.closed)
    open: dict[str, bool] = field(default_factory=dict)
    #: election -> last register version
    registers: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.leaf_hashes)

    def add(self, data: bytes) -> Entry:
        """Check entry number :attr:`size` and apply it; :class:`InvalidEntry` if it is
        invalid (the state is then unchanged)."""
        index = self.size
        try:
            entry = parse_entry(data)
            apply = self._check(index, entry)
        except InvalidEntry:
            raise
        except EntryError as exc:
            raise InvalidEntry(index, exc.rule, exc.message) from None
        digest = leaf_hash(data)
        apply(digest)
        self.leaf_hashes.append(digest)
        return entry

    def tally(self, election: str) -> Tally:
        """The totals rule (§5.4) for ``election`` at the current size."""
        turnout: dict[str, dict[str, int]] = {}
        for (e, station, time), report in sorted(self.turnout.items()):
            if e == election:
                turnout.setdefault(station, {})[time] = report.entry.number("voters")
        protocols = {s: p for (e, s), p in sorted(self.protocols.items()) if e == election}
        return Tally(election, self.size, protocols, turnout)

    # Each check returns what applying the entry does, given its leaf hash.

    def _check(self, index: int, entry: Entry) -> Callable[[bytes], None]:
        if entry.kind in (PROTOCOL_ACCEPTED, PROTOCOL_AMENDED, PROTOCOL_ANNULLED):
            return self._check_protocol(index, entry)
        if entry.kind == TURNOUT_REPORTED:
            return self._check_turnout(index, entry)
        if entry.kind in (ELECTION_PUBLISHED, ELECTION_CLOSED):
            return self._check_election(entry)
        if entry.kind == REGISTER_PUBLISHED:
            return self._check_register(entry)
        if entry.kind == CHAIN_ANCHOR and index != 0:
            raise EntryError(Rule.ANCHOR, "chain.anchor is only allowed as entry 0")
        return lambda digest: None  # scan.uploaded, chain.anchor, kinds this log does not know

    def _check_protocol(self, index: int, entry: Entry) -> Callable[[bytes], None]:
        key = (entry.text("election"), entry.text("station"))
        current = self.protocols.get(key)
        version = entry.number("version")
        where = f"station {key[1]} of {key[0]}"
        if entry.kind == PROTOCOL_ACCEPTED:
            if current is not None:
                raise EntryError(
                    Rule.ALREADY_ACCEPTED,
                    f"{where} already has an effective protocol (entry {current.index})",
                )
            if version != 1:
                raise EntryError(Rule.VERSION, f"an accepted protocol has version 1, not {version}")
        else:
            if current is None:
                raise EntryError(
                    Rule.NOTHING_EFFECTIVE, f"{entry.kind} but {where} has no effective protocol"
                )
            self._check_prev(index, entry, current, f"{where}'s effective protocol")
            if version != current.version + 1:
                raise EntryError(
                    Rule.VERSION,
                    f"version {version} follows version {current.version} of {where}",
                )

        def apply(digest: bytes) -> None:
            if entry.kind == PROTOCOL_ANNULLED:
                del self.protocols[key]
            else:
                self.protocols[key] = Current(index, digest, version, entry)

        return apply

    def _check_turnout(self, index: int, entry: Entry) -> Callable[[bytes], None]:
        key = (entry.text("election"), entry.text("station"), entry.text("time"))
        current = self.turnout.get(key)
        version = entry.number("version")
        where = f"the {key[2]} report of station {key[1]} of {key[0]}"
        if current is None:
            if entry.prev is not None or version != 1:
                raise EntryError(
                    Rule.PREV if entry.prev is not None else Rule.VERSION,
                    f"{where} is the first: version 1 without prev",
                )
        else:
            self._check_prev(index, entry, current, where)
            if version != current.version + 1:
                raise EntryError(
                    Rule.VERSION, f"version {version} follows version {current.version} of {where}"
                )

        def apply(digest: bytes) -> None:
            self.turnout[key] = Current(index, digest, version, entry)

        return apply

    def _check_prev(self, index: int, entry: Entry, current: Current, what: str) -> None:
        prev = entry.prev
        if prev is None:
            raise EntryError(Rule.PREV, f"{entry.kind} supersedes {what} but has no prev")
        if prev.index >= index:
            raise EntryError(Rule.PREV, f"prev.index {prev.index} is not below {index}")
        if prev.leaf_hash != self.leaf_hashes[prev.index]:
            raise EntryError(
                Rule.PREV, f"prev.leaf_hash is not the leaf hash of entry {prev.index}"
            )
        if prev.index != current.index:
            raise EntryError(
                Rule.PREV, f"prev names entry {prev.index}, but {what} is entry {current.index}"
            )

    def _check_election(self, entry: Entry) -> Callable[[bytes], None]:
        election = entry.text("election")
        is_open = self.open.get(election, False)
        if entry.kind == ELECTION_PUBLISHED and is_open:
            raise EntryError(Rule.ELECTION_STATE, f"election {election} is already open")
        if entry.kind == ELECTION_CLOSED and not is_open:
            raise EntryError(Rule.ELECTION_STATE, f"election {election} is not open")

        def apply(digest: bytes) -> None:
            self.open[election] = entry.kind == ELECTION_PUBLISHED

        return apply

    def _check_register(self, entry: Entry) -> Callable[[bytes], None]:
        election = entry.text("election")
        version = entry.number("version")
        last = self.registers.get(election, 0)
        if version != last + 1:
            raise EntryError(
                Rule.VERSION, f"register version {version} of {election} follows version {last}"
            )

        def apply(digest: bytes) -> None:
            self.registers[election] = version

        return apply


def replay(entries: Iterable[bytes]) -> Replay:
    """The state after ``entries`` (D[0:N] in order); :class:`InvalidEntry` at the first
    invalid one."""
    state = Replay()
    for data in entries:
        state.add(data)
    return state


def first_invalid(entries: Iterable[bytes]) -> InvalidEntry | None:
    """The first invalid entry (its index, rule and message), or None if all are valid."""
    try:
        replay(entries)
    except InvalidEntry as exc:
        return exc
    return None


def tally(entries: Iterable[bytes], election: str) -> Tally:
    """§5.4 for ``election`` over ``entries``, all of which must be valid."""
    return replay(entries).tally(election)
