"""Witnesses for tests: deterministic keys, a log of entries in memory, and the witness server
really started on a loopback port (port 0: the kernel picks a free one) in a thread."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from secki.tlog.checkpoint import Checkpoint
from secki.tlog.merkle import consistency_proof, leaf_hash, memory_subtree, root_of
from secki.tlog.note import KeyType, Signer, sign_note
from secki.witness.server import Witness, WitnessServer

SITE = "example.test/log"
ORIGIN = f"{SITE}/2026-parl"
#: the cosignatures' clock in these tests
NOW = 1_780_000_000


def log_key(name: str = SITE, seed: int = 1) -> Signer:
    return Signer.from_seed(name, KeyType.ED25519, bytes([seed]) * 32)


def witness_key(number: int) -> Signer:
    return Signer.from_seed(
        f"w{number}.example.test", KeyType.COSIGNATURE, bytes([100 + number]) * 32
    )


@dataclass
class MemoryLog:
    """A log held in memory: its entries, checkpoints signed by ``signer``, and proofs."""

    signer: Signer
    origin: str = ORIGIN
    entries: list[bytes] = field(default_factory=list)

    def append(self, *entries: bytes) -> None:
        self.entries.extend(entries)

    def add(self, count: int, tag: str = "entry") -> None:
        start = len(self.entries)
        self.append(*(f"{tag} {i}".encode() for i in range(start, start + count)))

    @property
    def size(self) -> int:
        return len(self.entries)

    @property
    def root(self) -> bytes:
        return root_of([leaf_hash(e) for e in self.entries])

    def note(self, size: int | None = None) -> str:
        """The log-signed checkpoint note of the first ``size`` entries (all by default)."""
        entries = self.entries if size is None else self.entries[:size]
        root = root_of([leaf_hash(e) for e in entries])
        return sign_note(Checkpoint(self.origin, len(entries), root).format(), self.signer)

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        if old in (0, new):
            return []
        return consistency_proof(old, new, memory_subtree([leaf_hash(e) for e in self.entries]))


def body(old: int, proof: Sequence[bytes], note: str) -> bytes:
    from secki.witness.client import submission_body

    return submission_body(old, proof, note)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


def request(url: str, method: str, path: str, data: bytes | None = None) -> Reply:
    """One raw HTTP request to the witness (every status, not only 200, comes back)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request(method, path, body=data)
        response = connection.getresponse()
        return Reply(response.status, response.getheader("Content-Type", ""), response.read())
    finally:
        connection.close()


def post(url: str, data: bytes) -> Reply:
    return request(url, "POST", "/add-checkpoint", data)


def monitored(url: str, origin: str = ORIGIN) -> Reply:
    return request(url, "GET", f"/{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint")


@contextlib.contextmanager
def serving(witness: Witness) -> Iterator[WitnessServer]:
    """The witness's HTTP server on a free loopback port, in a thread, for the block."""
    server = WitnessServer(witness, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def make_witness(
    tmp_path: Path, number: int = 1, logs: Sequence[Signer] = (), prefixes: Sequence[str] = ()
) -> Witness:
    return Witness(
        witness_key(number),
        tmp_path / f"witness{number}.sqlite",
        [k.verifier for k in (logs or [log_key()])],
        prefixes,
        clock=lambda: NOW,
    )


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog(log_key())


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return make_witness(tmp_path)


@pytest.fixture
def server(witness: Witness) -> Iterator[WitnessServer]:
    with serving(witness) as running:
        yield running
