"""Checkpoints, the witness policy and opening a cosigned checkpoint (spec §3.1, §3.4 steps
4–5, §4.4; C2SP tlog-checkpoint).

Witness policy text (this log's format; one item per line, ``#`` starts a comment, blank
lines are ignored)::

    # who must cosign before a checkpoint counts
    witness observers.example.net/w1+c9387d91+BD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM https://observers.example.net/w1/
    witness …
    quorum 2

``witness <vkey> [<submission URL prefix>]`` names a witness by its type-0x04 verifier key
(names and keys are distinct across the policy); ``quorum <k>`` (exactly once, 0 ≤ k ≤ the
number of witnesses) is how many distinct witnesses must cosign.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from secki.tlog.merkle import HASH_SIZE
from secki.tlog.note import KeyType, NoteError, VerifierKey, open_note

#: cosignature timestamps may be this far ahead of the verifier's clock (§4.4)
MAX_CLOCK_SKEW = 600
#: tree sizes are unsigned 64-bit integers (C2SP tlog-checkpoint)
MAX_SIZE = 2**64 - 1

_SIZE = re.compile(r"0|[1-9][0-9]*")


class CheckpointError(ValueError):
    """A malformed checkpoint or policy, or a checkpoint that does not meet the log key or the
    witness policy; the message says what is wrong."""


def check_origin(origin: str) -> None:
    """An origin is non-empty, with no whitespace, ``+`` or control character (§3.1)."""
    if not origin:
        raise CheckpointError("the origin is empty")
    if "+" in origin or any(c.isspace() for c in origin) or not origin.isprintable():
        raise CheckpointError(f"origin {origin!r} holds whitespace, '+' or a control character")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: origin, size and root MTH(D[0:size]) (§3.1). This log writes no extension
    lines; parsed ones are kept so the text can be rebuilt byte for byte."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_origin(self.origin)
        if not 0 <= self.size <= MAX_SIZE:
            raise CheckpointError(f"tree size {self.size} is outside 0…2^64−1")
        if len(self.root) != HASH_SIZE:
            raise CheckpointError(f"the root has {len(self.root)} bytes, not {HASH_SIZE}")
        for line in self.extensions:
            if not line or not line.isprintable():
                raise CheckpointError(f"extension line {line!r} is empty or not printable")

    def format(self) -> str:
        """The checkpoint text: origin, size, base64 root, extension lines, each ending in LF."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """§3.4 step 5's parsing: three or more non-empty lines, each ending in LF; a decimal
        size without leading zeros; a base64 root of 32 bytes."""
        if not text.endswith("\n"):
            raise CheckpointError("the checkpoint text does not end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"a checkpoint has at least 3 lines, this one {len(lines)}")
        if not all(lines):
            raise CheckpointError("the checkpoint has an empty line")
        origin, size, root = lines[:3]
        if not _SIZE.fullmatch(size):
            raise CheckpointError(
                f"tree size {size!r} is not a decimal number without leading zeros"
            )
        try:
            raw_root = base64.b64decode(root, validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError(f"root {root!r} is not base64") from None
        if base64.b64encode(raw_root).decode() != root:
            raise CheckpointError(f"root {root!r} is not canonical base64")
        return cls(origin, int(size), raw_root, tuple(lines[3:]))


@dataclass(frozen=True)
class Witness:
    """A witness of the policy: its cosignature key and, for the log, where to submit."""

    key: VerifierKey
    url: str | None = None

    def __post_init__(self) -> None:
        if self.key.key_type != KeyType.COSIGNATURE:
            raise CheckpointError(f"witness {self.key.name} has a key of type 0x01, not 0x04")
        if self.url is not None and (not self.url or any(c.isspace() for c in self.url)):
            raise CheckpointError(f"witness {self.key.name}: bad URL {self.url!r}")


@dataclass(frozen=True)
class WitnessPolicy:
    """The published witness keys and quorum (§4.4)."""

    witnesses: tuple[Witness, ...]
    quorum: int

    def __post_init__(self) -> None:
        names = Counter(w.key.name for w in self.witnesses)
        keys = Counter(w.key.public_key for w in self.witnesses)
        twice = [n for n, c in names.items() if c > 1]
        if twice:
            raise CheckpointError(f"witness {twice[0]} appears twice in the policy")
        if any(c > 1 for c in keys.values()):
            raise CheckpointError("two witnesses of the policy share one key")
        if not 0 <= self.quorum <= len(self.witnesses):
            raise CheckpointError(
                f"quorum {self.quorum} is outside 0…{len(self.witnesses)} (the witnesses named)"
            )

    @property
    def keys(self) -> tuple[VerifierKey, ...]:
        return tuple(w.key for w in self.witnesses)

    def format(self) -> str:
        lines = [
            f"witness {w.key.format()}" + (f" {w.url}" if w.url else "") for w in self.witnesses
        ]
        return "\n".join([*lines, f"quorum {self.quorum}"]) + "\n"

    @classmethod
    def parse(cls, text: str) -> WitnessPolicy:
        witnesses = []
        quorum: int | None = None
        for number, raw in enumerate(text.splitlines(), 1):
            words = raw.split("#", 1)[0].split()
            if not words:
                continue
            try:
                if words[0] == "witness" and len(words) in (2, 3):
                    url = words[2] if len(words) == 3 else None
                    witnesses.append(Witness(VerifierKey.parse(words[1]), url))
                elif words[0] == "quorum" and len(words) == 2 and words[1].isdigit():
                    if quorum is not None:
                        raise CheckpointError("a second quorum line")
                    quorum = int(words[1])
                else:
                    raise CheckpointError(f"not 'witness <vkey> [url]' or 'quorum <k>': {raw!r}")
            except (CheckpointError, NoteError) as exc:
                raise CheckpointError(f"policy line {number}: {exc}") from None
        if quorum is None:
            raise CheckpointError("the policy has no quorum line")
        return cls(tuple(witnesses), quorum)


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature by a policy witness, at its POSIX timestamp."""

    witness: VerifierKey
    timestamp: int


@dataclass(frozen=True)
class OpenedCheckpoint:
    """A checkpoint whose log signature and witness quorum verified."""

    checkpoint: Checkpoint
    text: str
    cosignatures: tuple[Cosignature, ...]


def open_checkpoint(
    note: bytes | str,
    log_key: VerifierKey,
    policy: WitnessPolicy,
    origin: str,
    now: int,
    *,
    max_age: int | None = None,
) -> OpenedCheckpoint:
    """Open a cosigned checkpoint note (§3.4, §4.4) at POSIX time ``now``.

    Refused with :class:`CheckpointError` (or :class:`~secki.tlog.note.NoteError` for the note
    itself): a signature by the log key or a policy witness that fails; no log signature;
    fewer than the quorum of *distinct* policy witnesses (a witness cosigning twice counts
    once); a cosignature timestamp more than 10 minutes ahead of ``now``; with ``max_age``,
    a newest cosignature older than that many seconds; a text that is not a checkpoint; a
    foreign origin.
    """
    if log_key.key_type != KeyType.ED25519:
        raise CheckpointError(f"the log key {log_key.name} is not of type 0x01")
    opened = open_note(note, [log_key, *policy.keys])
    if not any(v.key == log_key for v in opened.verified):
        raise CheckpointError(f"the checkpoint has no signature by the log key {log_key.name}")
    cosignatures = tuple(
        Cosignature(v.key, v.timestamp) for v in opened.verified if v.timestamp is not None
    )
    for c in cosignatures:
        if c.timestamp > now + MAX_CLOCK_SKEW:
            raise CheckpointError(
                f"the cosignature of {c.witness.name} is dated {c.timestamp}, "
                f"{c.timestamp - now} s ahead of the clock"
            )
    _check_quorum(cosignatures, policy)
    if max_age is not None and policy.quorum:
        newest = max(c.timestamp for c in cosignatures)
        if newest < now - max_age:
            raise CheckpointError(
                f"the newest cosignature is {now - newest} s old, over {max_age} s: "
                "the log may be frozen"
            )
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != origin:
        raise CheckpointError(f"the checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    return OpenedCheckpoint(checkpoint, opened.text, cosignatures)


def _check_quorum(cosignatures: Sequence[Cosignature], policy: WitnessPolicy) -> None:
    by_witness = Counter(c.witness.name for c in cosignatures)
    if len(by_witness) >= policy.quorum:
        return
    twice = sorted(name for name, count in by_witness.items() if count > 1)
    detail = f"; {', '.join(twice)} cosigned more than once" if twice else ""
    raise CheckpointError(
        f"{len(by_witness)} distinct policy witness(es) cosigned, the quorum is "
        f"{policy.quorum}{detail}"
    )
