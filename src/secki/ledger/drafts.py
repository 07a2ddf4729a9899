"""Drafts of log entries: what a caller knows about a fact, turned into the entry's canonical
bytes (:mod:`secki.tlog.entries`) only when it is written, under the log's lock, once the
entry's subject's previous entry is known (spec/transparency.md §5.2–5.3).

Every entry has a *subject*, what it is about, and entries of one subject that carry a
``version`` form that subject's chain (each names the one before it, ``prev``):

=================================  ===============================================================
``protocol:<station>``             ``protocol.accepted`` / ``.amended`` / ``.annulled`` (the log's
                                   protocol version: 1 when accepted, +1 per amendment or
                                   annulment); ``protocol.status`` (no version: a submission or a
                                   status change that is not public, without values)
``turnout:<station>@<HH:MM>``      ``turnout.reported`` (1, +1 per correction)
``scan:<station>``                 ``scan.uploaded`` (version: the protocol's version in the
                                   database, which the scan is attached to; not a chain)
``election``                       ``election.published`` / ``election.closed`` (1, 2, 3 … : the
                                   log's open state is its last one); ``election.status``,
                                   ``election.settings`` (no version)
``register``                       ``register.published`` (the register's version);
                                   ``register.amended`` (no version: an amendment during setup)
``integrity``                      ``integrity.settings``, ``integrity.pvt_sample`` (no version)
``audit:<id>``                     ``audit.created``, ``audit.seed``, ``audit.round``,
                                   ``audit.count``, ``audit.result``, ``audit.report`` (no version;
                                   :mod:`secki.audits.actions`)
``chain``                          ``chain.anchor`` (only as entry 0 of a migrated log)
=================================  ===============================================================

Kinds outside :mod:`secki.tlog.entries` are *generic*: canonical JSON
``{"kind", "election", "at", …fields}`` whose values are only integers, strings, null, lists
and objects (:func:`plain` turns anything else into a string). This module is pure (no
database), so that the migration from the hash chain builds the same bytes as the live path.
"""

from __future__ import annotations

import datetime as dt
import decimal
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from secki.tlog import canonical, entries
from secki.tlog.entries import Prev, format_time

PROTOCOL_STATUS = "protocol.status"
ELECTION_STATUS = "election.status"

#: the generic fields every generic entry has, which its own fields may not replace
GENERIC_KEYS = frozenset({"kind", "election", "at"})


def protocol_subject(station: str) -> str:
    return f"protocol:{station}"


def turnout_subject(station: str, time: str) -> str:
    return f"turnout:{station}@{time}"


def scan_subject(station: str) -> str:
    return f"scan:{station}"


ELECTION = "election"
REGISTER = "register"
INTEGRITY = "integrity"
CHAIN = "chain"


@dataclass(frozen=True)
class Last:
    """The last entry of a subject's chain (the last with a version)."""

    index: int
    leaf_hash: str  # hex
    version: int
    kind: str
    body: str

    @property
    def prev(self) -> Prev:
        return Prev(self.index, bytes.fromhex(self.leaf_hash))


@dataclass(frozen=True)
class Built:
    """A draft's entry: its kind, canonical bytes and version in its subject's chain."""

    kind: str
    body: bytes
    version: int | None


def plain(value: object) -> object:
    """``value`` with only integers, strings (NFC), None, lists and objects with string keys:
    booleans become ``"true"``/``"false"``, times RFC 3339 UTC, anything else its ``str``."""
    if value is None or isinstance(value, str):
        return None if value is None else unicodedata.normalize("NFC", value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) > canonical.MAX_SAFE_INTEGER:
            return str(value)
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return format_time(value)
    if isinstance(value, decimal.Decimal | float | dt.date | dt.time):
        return unicodedata.normalize("NFC", str(value))
    return unicodedata.normalize("NFC", str(value))


def generic(kind: str, election: str, at: dt.datetime, fields: Mapping[str, object]) -> bytes:
    """The canonical bytes of a generic entry (refused if its fields hold ``kind``,
    ``election`` or ``at``)."""
    clash = GENERIC_KEYS & set(fields)
    if clash:
        raise ValueError(f"a {kind} entry's fields may not hold {', '.join(sorted(clash))}")
    values = {str(k): plain(v) for k, v in fields.items()}
    return canonical.encode({"kind": kind, "election": election, "at": format_time(at), **values})


@dataclass(frozen=True)
class Draft:
    """A fact to log in election ``election`` (its slug) at ``at``, about ``subject``."""

    election: str
    at: dt.datetime

    #: whether :meth:`build` needs the subject's last entry
    chained = False

    @property
    def subject(self) -> str:
        raise NotImplementedError

    def build(self, last: Last | None) -> Built | None:
        """The entry, given the subject's last entry; None when there is nothing to write."""
        raise NotImplementedError


@dataclass(frozen=True)
class Generic(Draft):
    """A fact outside the spec's kinds (``election.settings``, ``integrity.pvt_sample`` …)."""

    kind: str
    about: str
    fields: Mapping[str, object] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.about

    def build(self, last: Last | None) -> Built:
        return Built(self.kind, generic(self.kind, self.election, self.at, self.fields), None)


@dataclass(frozen=True)
class ProtocolPublic(Draft):
    """A protocol version becomes public (status published): ``protocol.accepted`` when the
    station has no effective protocol in the log (or its last was annulled), else
    ``protocol.amended`` of the effective one."""

    station: str
    lines: Mapping[str, int]
    scan_sha256: str | None = None
    reason: str | None = None
    chained = True

    @property
    def subject(self) -> str:
        return protocol_subject(self.station)

    def build(self, last: Last | None) -> Built:
        if last is None or last.kind == entries.PROTOCOL_ANNULLED:
            body = entries.protocol_accepted(
                self.election, self.station, self.lines, self.at, scan_sha256=self.scan_sha256
            )
            return Built(entries.PROTOCOL_ACCEPTED, body, 1)
        version = last.version + 1
        body = entries.protocol_amended(
            self.election,
            self.station,
            version,
            last.prev,
            self.lines,
            self.at,
            scan_sha256=self.scan_sha256,
            reason=self.reason or None,
        )
        return Built(entries.PROTOCOL_AMENDED, body, version)


@dataclass(frozen=True)
class ProtocolAnnulled(Draft):
    """The commission annuls a station's protocol: ``protocol.annulled`` of the effective
    one when the log has one, else (annulled before publication) a ``protocol.status``."""

    station: str
    reason: str
    decision: str | None = None
    chained = True

    @property
    def subject(self) -> str:
        return protocol_subject(self.station)

    def build(self, last: Last | None) -> Built:
        if last is None or last.kind == entries.PROTOCOL_ANNULLED:
            fields = {"station": self.station, "status": "annulled"}
            body = generic(PROTOCOL_STATUS, self.election, self.at, fields)
            return Built(PROTOCOL_STATUS, body, None)
        version = last.version + 1
        body = entries.protocol_annulled(
            self.election,
            self.station,
            version,
            last.prev,
            self.at,
            self.reason,
            decision=self.decision or None,
        )
        return Built(entries.PROTOCOL_ANNULLED, body, version)


@dataclass(frozen=True)
class ProtocolStatus(Draft):
    """A submission or status change that is not public (``first_entry``, ``accepted``
    before publication, ``quarantined``, ``annulled`` before publication): a
    ``protocol.status`` entry, a public fact without values.

    When the log still holds an effective protocol for the station (a published version was
    amended, and the new version ``version`` awaits publication), the public totals no longer
    count the station, so neither may the log: the entry is then a ``protocol.annulled`` of
    the effective protocol, whose reason says so (a later publication is a new
    ``protocol.accepted``)."""

    station: str
    status: str
    version: int | None = None
    chained = True

    @property
    def subject(self) -> str:
        return protocol_subject(self.station)

    def build(self, last: Last | None) -> Built:
        if last is not None and last.kind != entries.PROTOCOL_ANNULLED:
            version = last.version + 1
            which = f"version {self.version}" if self.version else "a new version"
            body = entries.protocol_annulled(
                self.election,
                self.station,
                version,
                last.prev,
                self.at,
                f"superseded by {which}, {self.status} and not public",
            )
            return Built(entries.PROTOCOL_ANNULLED, body, version)
        fields = {"station": self.station, "status": self.status}
        return Built(
            PROTOCOL_STATUS, generic(PROTOCOL_STATUS, self.election, self.at, fields), None
        )


@dataclass(frozen=True)
class TurnoutReported(Draft):
    """A station's turnout at report time ``time``; a correction (the subject has a report
    already) is the next version, names the report it replaces and gives its reason."""

    station: str
    time: str
    voters: int
    reason: str | None = None
    chained = True

    @property
    def subject(self) -> str:
        return turnout_subject(self.station, self.time)

    def build(self, last: Last | None) -> Built:
        version = last.version + 1 if last else 1
        body = entries.turnout_reported(
            self.election,
            self.station,
            self.time,
            self.voters,
            self.at,
            version=version,
            prev=last.prev if last else None,
            reason=(self.reason or None) if last else None,
        )
        return Built(entries.TURNOUT_REPORTED, body, version)


@dataclass(frozen=True)
class ScanUploaded(Draft):
    """A scan of the station's protocol; ``version`` is the protocol's version in the
    database (the row the scan is attached to), which is not always the log's protocol
    version (a version that was never public has no log version)."""

    station: str
    version: int
    sha256: str
    size: int
    content_type: str

    @property
    def subject(self) -> str:
        return scan_subject(self.station)

    def build(self, last: Last | None) -> Built:
        body = entries.scan_uploaded(
            self.election,
            self.station,
            self.version,
            self.sha256,
            self.size,
            self.content_type,
            self.at,
        )
        return Built(entries.SCAN_UPLOADED, body, self.version)


@dataclass(frozen=True)
class ElectionStatusChanged(Draft):
    """The election's status moves from ``old`` to ``new``: ``election.published`` (with
    the SHA-256 of its ``election.json``) when results intake opens and the log is not open,
    ``election.closed`` when it leaves ``open`` and the log is open, else a generic
    ``election.status``."""

    old: str
    new: str
    reason: str = ""
    settings_sha256: str | None = None
    chained = True

    @property
    def subject(self) -> str:
        return ELECTION

    def build(self, last: Last | None) -> Built:
        log_open = last is not None and last.kind == entries.ELECTION_PUBLISHED
        version = (last.version if last else 0) + 1
        if self.new == "open" and not log_open and self.settings_sha256:
            body = entries.election_published(self.election, self.settings_sha256, self.at)
            return Built(entries.ELECTION_PUBLISHED, body, version)
        if self.old == "open" and log_open:
            reason = self.reason or None
            body = entries.election_closed(self.election, self.at, reason=reason)
            return Built(entries.ELECTION_CLOSED, body, version)
        fields = {"from": self.old, "to": self.new, "reason": self.reason}
        return Built(
            ELECTION_STATUS, generic(ELECTION_STATUS, self.election, self.at, fields), None
        )


@dataclass(frozen=True)
class RegisterPublished(Draft):
    """The register's files (name → SHA-256): ``register.published`` of the next version,
    or nothing when the last one named the same files."""

    files: Mapping[str, str]
    chained = True

    @property
    def subject(self) -> str:
        return REGISTER

    def build(self, last: Last | None) -> Built | None:
        if last is not None and canonical.decode(last.body.encode()).get("files") == dict(
            self.files
        ):
            return None
        version = (last.version if last else 0) + 1
        body = entries.register_published(self.election, version, self.files, self.at)
        return Built(entries.REGISTER_PUBLISHED, body, version)
