"""Signed notes, keys and witness cosignatures (spec §3.2–3.4, §4.1–4.2; C2SP signed-note,
tlog-cosignature).

Two key types: ``0x01`` plain Ed25519 over the note text (the log) and ``0x04`` timestamped
Ed25519 cosignatures (witnesses). Keys are written as Go's ``golang.org/x/mod/sumdb/note``
writes them:

* verifier key (vkey): ``<name>+<8 hex digits of key ID>+<base64(type || public key)>``;
* private key: ``PRIVATE+KEY+<name>+<8 hex digits of key ID>+<base64(type || seed)>``;

with key ID = H(name || LF || type || public key)[0:4], recomputed and compared by every parser.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

EM_DASH = "\u2014"
SIGNATURE_PREFIX = EM_DASH + " "
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
#: signature lines a note may carry; §3.4 step 3 requires at least 16, allows refusing > 100
MAX_SIGNATURES = 100
#: cosignature timestamps are unsigned 64-bit but at most 2^63 − 1 (§4.1)
MAX_TIMESTAMP = 2**63 - 1


class KeyType(enum.IntEnum):
    """Signature type bytes of signed-note (§3.3) that this log uses."""

    ED25519 = 0x01  #: the log's note signature
    COSIGNATURE = 0x04  #: a witness's timestamped cosignature (cosignature/v1)


class NoteError(ValueError):
    """A malformed key or note, or a signature that does not verify; the message says which."""


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """H(name || 0x0A || type || public key)[0:4] (§3.3)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def check_key_name(name: str) -> None:
    """Key names are non-empty, without whitespace or ``+`` (§3.2)."""
    if not name:
        raise NoteError("a key name is empty")
    if "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        raise NoteError(f"key name {name!r} holds whitespace, '+' or a control character")


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _key_type(value: int, what: str) -> KeyType:
    try:
        return KeyType(value)
    except ValueError:
        raise NoteError(f"{what} has key type 0x{value:02x}, not 0x01 or 0x04") from None


@dataclass(frozen=True)
class VerifierKey:
    """A named public key of a type (§3.3): the log's (0x01) or a witness's (0x04)."""

    name: str
    key_type: KeyType
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        object.__setattr__(self, "key_type", _key_type(self.key_type, f"key {self.name}"))
        if len(self.public_key) != 32:
            raise NoteError(f"key {self.name}: an Ed25519 public key has 32 bytes")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public_key)

    def format(self) -> str:
        """The vkey text, e.g. ``PeterNeumann+c74f20a3+ARpc…``."""
        raw = bytes([self.key_type]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse a vkey, recomputing its key ID (a mismatch is refused)."""
        parts = text.split("+", 2)  # base64 may hold '+', a name and a key ID never do
        if len(parts) != 3:
            raise NoteError(f"vkey {text!r} is not name+keyid+key")
        name, hex_id, encoded = parts
        raw = _b64decode(encoded, f"vkey {name!r}")
        if not raw:
            raise NoteError(f"vkey {name!r} has no key")
        key = cls(name, _key_type(raw[0], f"vkey {name!r}"), raw[1:])
        if hex_id != key.key_id.hex():
            raise NoteError(
                f"vkey {name!r}: key ID {hex_id} does not match the key ({key.key_id.hex()})"
            )
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A named private key (§3.3). :meth:`format` is its private-key text: keep it secret."""

    name: str
    key_type: KeyType
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        object.__setattr__(self, "key_type", _key_type(self.key_type, f"key {self.name}"))

    @classmethod
    def from_seed(cls, name: str, key_type: KeyType, seed: bytes) -> Signer:
        """The signer of a 32-byte Ed25519 seed (RFC 8032's private key)."""
        if len(seed) != 32:
            raise NoteError(f"key {name}: an Ed25519 seed has 32 bytes, not {len(seed)}")
        return cls(name, key_type, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def seed(self) -> bytes:
        return self.private_key.private_bytes_raw()

    @property
    def verifier(self) -> VerifierKey:
        public = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, self.key_type, public)

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def format(self) -> str:
        """``PRIVATE+KEY+<name>+<keyid>+<base64(type || seed)>``."""
        raw = bytes([self.key_type]) + self.seed
        return (
            f"{PRIVATE_KEY_PREFIX}{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"
        )

    @classmethod
    def parse(cls, text: str) -> Signer:
        """Parse a private-key text, recomputing its key ID from the derived public key."""
        if not text.startswith(PRIVATE_KEY_PREFIX):
            raise NoteError("a private key starts with PRIVATE+KEY+")
        parts = text[len(PRIVATE_KEY_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise NoteError("a private key is PRIVATE+KEY+name+keyid+key")
        name, hex_id, encoded = parts
        raw = _b64decode(encoded, f"private key {name!r}")
        if not raw:
            raise NoteError(f"private key {name!r} has no key")
        signer = cls.from_seed(name, _key_type(raw[0], f"private key {name!r}"), raw[1:])
        if hex_id != signer.key_id.hex():
            raise NoteError(f"private key {name!r}: key ID {hex_id} does not match the key")
        return signer


def generate_key(name: str, key_type: KeyType = KeyType.ED25519) -> Signer:
    """A new random key: ``KeyType.ED25519`` for a log, ``KeyType.COSIGNATURE`` for a
    witness."""
    return Signer(name, key_type, Ed25519PrivateKey.generate())


# -- notes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureLine:
    """One parsed signature line: the key name, the 4-byte key ID and what follows it."""

    name: str
    key_id: bytes
    payload: bytes

    def format(self) -> str:
        encoded = base64.b64encode(self.key_id + self.payload).decode()
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True)
class Note:
    """A note split into its text (ending in LF) and its signature lines (§3.4 steps 1–2)."""

    text: str
    signatures: tuple[SignatureLine, ...]


@dataclass(frozen=True)
class Verified:
    """A signature line that verified with a trusted key; ``timestamp`` for cosignatures."""

    key: VerifierKey
    timestamp: int | None = None


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified: tuple[Verified, ...]


def check_text(text: str) -> None:
    """A note text is non-empty UTF-8 ending in LF, with no control character but LF."""
    if not text.endswith("\n"):
        raise NoteError("the note text does not end in a newline")
    _check_characters(text)


def _check_characters(text: str) -> None:
    for i, c in enumerate(text):
        if (c < " " and c != "\n") or "\x7f" <= c <= "\x9f":
            raise NoteError(f"control character U+{ord(c):04X} at offset {i}")
        if "\ud800" <= c <= "\udfff":
            raise NoteError(f"lone surrogate at offset {i}")


def split_note(note: bytes | str) -> Note:
    """§3.4 steps 1–2: UTF-8, no control character but LF, ending in LF; split at the last
    LF LF into the text and well-formed signature lines (at most 100)."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError(f"the note is not UTF-8 (byte {exc.start})") from None
    _check_characters(note)
    if not note.endswith("\n"):
        raise NoteError("the note does not end in a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("the note has no blank line before its signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    lines = block[:-1].split("\n") if block else []
    if not lines:
        raise NoteError("the note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has {len(lines)} signature lines, over {MAX_SIGNATURES}")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def _parse_signature_line(line: str) -> SignatureLine:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"signature line {line[:40]!r} does not start with an em dash and a space")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise NoteError(f"signature line {line[:40]!r} is not '— name signature'")
    check_key_name(name)
    raw = _b64decode(encoded, f"the signature of {name}")
    if len(raw) < 5:
        raise NoteError(f"the signature of {name} is too short")
    return SignatureLine(name, raw[:4], raw[4:])


def sign_note(text: str, signer: Signer) -> str:
    """The note of ``text`` signed by a log key: text, blank line, signature line (§3.2)."""
    if signer.key_type != KeyType.ED25519:
        raise NoteError(f"key {signer.name} is a cosignature key; a note is signed with 0x01")
    check_text(text)
    line = SignatureLine(signer.name, signer.key_id, signer.sign(text.encode()))
    return text + "\n" + line.format()


def add_signatures(note: str, lines: Iterable[str]) -> str:
    """The note with more signature lines appended (order is not significant, §4.2); each line
    must be well formed and end in LF; the text is never changed."""
    split_note(note)
    extra = list(lines)
    for line in extra:
        if not line.endswith("\n"):
            raise NoteError("a signature line ends in a newline")
        _check_characters(line)
        _parse_signature_line(line[:-1])
    return note + "".join(extra)


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a witness signs (§4.1): ``cosignature/v1``, ``time <t>``, then the note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"timestamp {timestamp} is outside 0…2^63−1")
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(text: str, signer: Signer, timestamp: int) -> str:
    """A witness's cosignature line for the checkpoint ``text`` at ``timestamp`` (§4.1): its
    payload is the 8-byte big-endian timestamp and the 64-byte signature."""
    if signer.key_type != KeyType.COSIGNATURE:
        raise NoteError(f"key {signer.name} is not a cosignature key (0x04)")
    check_text(text)
    signature = signer.sign(cosignature_message(text, timestamp))
    payload = struct.pack(">Q", timestamp) + signature
    return SignatureLine(signer.name, signer.key_id, payload).format()


def open_note(note: bytes | str, verifiers: Sequence[VerifierKey]) -> OpenedNote:
    """Open a note with trusted keys (§3.4 steps 1–3).

    Every line whose (name, key ID) is a trusted key's is verified with that key's algorithm,
    and any failure rejects the note; lines of unknown keys are ignored. A note that no trusted
    key signed is rejected too. Returns the text and the verified signatures in note order.
    """
    parsed = split_note(note)
    known = {(key.name, key.key_id): key for key in verifiers}
    verified = []
    for line in parsed.signatures:
        key = known.get((line.name, line.key_id))
        if key is None:
            continue
        verified.append(_verify_line(parsed.text, key, line))
    if not verified:
        raise NoteError("no signature by a trusted key")
    return OpenedNote(parsed.text, tuple(verified))


def _verify_line(text: str, key: VerifierKey, line: SignatureLine) -> Verified:
    if key.key_type == KeyType.ED25519:
        if len(line.payload) != 64 or not key.verify(text.encode(), line.payload):
            raise NoteError(f"the signature of {key.name} does not verify")
        return Verified(key)
    if len(line.payload) != 72:
        raise NoteError(f"the cosignature of {key.name} has {len(line.payload) + 4} bytes, not 76")
    (timestamp,) = struct.unpack(">Q", line.payload[:8])
    if timestamp > MAX_TIMESTAMP:
        raise NoteError(f"the cosignature of {key.name} has timestamp {timestamp}, over 2^63−1")
    if not key.verify(cosignature_message(text, timestamp), line.payload[8:]):
        raise NoteError(f"the cosignature of {key.name} does not verify")
    return Verified(key, timestamp)
