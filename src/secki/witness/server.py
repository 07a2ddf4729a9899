"""The witness: ``add-checkpoint`` (spec §4.3; C2SP tlog-witness) over its own SQLite state,
and the HTTP server around it.

A witness stores, per origin, the size and root of the last checkpoint it cosigned, and
cosigns a new one only after verifying the log's signature and a consistency proof from that
state, so it never cosigns two inconsistent views of a log (§4). Answers, in the order they
are checked:

* 400 — a malformed body (the ``old`` line, a proof line, the note or the checkpoint text), or
  ``old`` larger than the checkpoint's size;
* 404 — an origin under none of the configured prefixes;
* 403 — no trusted log key's signature verifies, or one fails;
* 422 — a size-0 checkpoint whose root is not H(""), ``old`` 0 with a proof, ``old`` equal
  to the size with another root than the one cosigned, or a proof that fails (§1.5);
* 409 — ``old`` is not the size last cosigned for the origin (0 if none): body ``<size>\\n``,
  ``Content-Type: text/x.tlog.size``; the log retries from that size;
* 200 — the witness's cosignature line.

The comparison of ``old`` with the stored state and the storing of the new state are one
atomic step: the proof is checked against the state read first, then, in one ``BEGIN
IMMEDIATE`` transaction, the state is read again and replaced only if it is still the one the
proof was checked against (else 409); two submissions from the same old size thus get one 200
and one 409, never two cosignatures of diverging sizes. A refused submission that the log
signed (422) is kept in the ``refusals`` table: it may be evidence of a split view (§4.4).
"""

from __future__ import annotations

import base64
import binascii
import http.server
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from secki.tlog.checkpoint import MAX_SIZE, Checkpoint, CheckpointError
from secki.tlog.merkle import EMPTY_ROOT, HASH_SIZE, ProofError, verify_consistency
from secki.tlog.note import KeyType, NoteError, Signer, VerifierKey, cosign, open_note, split_note
from secki.witness.store import Store

#: consistency proofs have at most 63 hashes (C2SP tlog-witness)
MAX_PROOF = 63
#: the largest request body accepted: a note of 100 signature lines and a full proof fit easily
MAX_BODY = 64 * 1024
#: sizes are stored as SQLite integers (signed 64-bit)
MAX_STORED_SIZE = 2**63 - 1

SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

_SIZE = re.compile(r"0|[1-9][0-9]*")
_ORIGIN_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body and its content type."""

    status: int
    body: bytes
    content_type: str = TEXT_CONTENT_TYPE

    @classmethod
    def text(cls, status: int, message: str) -> Answer:
        return cls(status, (message.rstrip("\n") + "\n").encode())


@dataclass(frozen=True)
class Submission:
    """A parsed ``add-checkpoint`` body."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


class BadRequest(ValueError):
    """A malformed ``add-checkpoint`` body (400)."""


def parse_submission(body: bytes) -> Submission:
    """``old <size>`` LF, 0–63 base64 hash lines, an empty line, the note (§4.3)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise BadRequest("no empty line between the old size and proof, and the checkpoint")
    lines = head.split("\n")
    words = lines[0].split(" ")
    if len(words) != 2 or words[0] != "old" or not _SIZE.fullmatch(words[1]):
        raise BadRequest(f"the first line is not 'old <size>': {lines[0][:40]!r}")
    old_size = int(words[1])
    if old_size > MAX_SIZE:
        raise BadRequest(f"old size {old_size} is beyond 2^64 − 1")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF:
        raise BadRequest(f"{len(proof_lines)} proof lines, at most {MAX_PROOF}")
    proof = []
    for number, line in enumerate(proof_lines, 2):
        try:
            raw = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"line {number} is not base64") from None
        if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != line:
            raise BadRequest(f"line {number} is not the canonical base64 of a 32-byte hash")
        proof.append(raw)
    return Submission(old_size, tuple(proof), note)


class _Refused(Exception):
    """A submission refused with an answer; ``evidence`` when the log signed it (§4.4)."""

    def __init__(self, answer: Answer, evidence: Submission | None = None) -> None:
        super().__init__(answer.body.decode(errors="replace"))
        self.answer = answer
        self.evidence = evidence


class Witness:
    """The witness's logic over its SQLite ``state`` file (created if missing).

    ``log_keys`` are the type-0x01 keys of the logs it witnesses; an origin is accepted if it
    is one of ``origin_prefixes`` or lies under one (``<prefix>/…``; by default the log keys'
    names, as a site's log key named ``example.org/log`` signs ``example.org/log/<election>``).
    ``clock`` gives the cosignatures' POSIX timestamps.
    """

    def __init__(
        self,
        signer: Signer,
        state: Path | str,
        log_keys: Sequence[VerifierKey],
        origin_prefixes: Iterable[str] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if signer.key_type != KeyType.COSIGNATURE:
            raise ValueError(f"the witness key {signer.name} is not a cosignature key (0x04)")
        if not log_keys:
            raise ValueError("a witness needs at least one log key")
        for key in log_keys:
            if key.key_type != KeyType.ED25519:
                raise ValueError(f"log key {key.name} is not an Ed25519 note key (0x01)")
        self.signer = signer
        self.state = Path(state)
        self.log_keys = tuple(log_keys)
        prefixes = [p.rstrip("/") for p in origin_prefixes] or [k.name for k in log_keys]
        if not all(prefixes):
            raise ValueError("an origin prefix is empty")
        self.origin_prefixes = tuple(prefixes)
        self.clock = clock
        #: called with the origin between checking a submission and storing it (tests use it
        #: to make two submissions interleave)
        self.before_commit: Callable[[str], None] | None = None
        self.store = Store(self.state)

    def accepts(self, origin: str) -> bool:
        return any(origin == p or origin.startswith(p + "/") for p in self.origin_prefixes)

    # -- add-checkpoint ----------------------------------------------------------------------

    def add_checkpoint(self, body: bytes) -> Answer:
        """Answer one ``add-checkpoint`` body (§4.3)."""
        try:
            return self._add(body)
        except _Refused as refused:
            if refused.evidence is not None:
                self._keep_refusal(refused.evidence, refused.answer)
            return refused.answer

    def _add(self, body: bytes) -> Answer:
        try:
            submission = parse_submission(body)
            checkpoint = Checkpoint.parse(split_note(submission.note).text)
        except (BadRequest, NoteError, CheckpointError) as exc:
            raise _Refused(Answer.text(400, str(exc))) from None
        origin, size, root = checkpoint.origin, checkpoint.size, checkpoint.root
        if not self.accepts(origin):
            raise _Refused(Answer.text(404, f"unknown origin {origin}"))
        try:
            opened = open_note(submission.note, self.log_keys)
        except NoteError as exc:
            raise _Refused(Answer.text(403, f"the log's signature: {exc}")) from None
        old, proof = submission.old_size, submission.proof
        if old > size:
            raise _Refused(Answer.text(400, f"old size {old} is larger than the size {size}"))
        if size > MAX_STORED_SIZE:
            raise _Refused(Answer.text(400, f"size {size} is beyond what this witness stores"))

        def refuse(message: str) -> _Refused:
            return _Refused(Answer.text(422, message), evidence=submission)

        if size == 0 and root != EMPTY_ROOT:
            raise refuse('a checkpoint of size 0 whose root is not H("")')
        if old == 0 and proof:
            raise refuse("old size 0 with a non-empty consistency proof")
        seen = self.store.read(origin)
        if old != seen.size:
            raise _Refused(_conflict(seen.size))
        if seen.root is not None:
            if old == size and root != seen.root:
                raise refuse(f"size {size} was cosigned with another root")
            if old:
                try:
                    verify_consistency(old, size, seen.root, root, proof)
                except ProofError as exc:
                    raise refuse(f"consistency from size {old}: {exc}") from None
        # the log's own signature lines (those that verified), then this witness's
        signatures = [
            line.format()
            for line in split_note(submission.note).signatures
            if any(line.name == k.name and line.key_id == k.key_id for k in self.log_keys)
        ]
        cosignature = cosign(opened.text, self.signer, int(self.clock()))
        note = opened.text + "\n" + "".join(signatures) + cosignature
        if self.before_commit is not None:
            self.before_commit(origin)
        current = self.store.replace(origin, seen, size, root, note, int(self.clock()))
        if current is not None:  # another submission changed the state meanwhile
            raise _Refused(_conflict(current))
        return Answer(200, cosignature.encode())

    def _keep_refusal(self, submission: Submission, answer: Answer) -> None:
        origin = Checkpoint.parse(split_note(submission.note).text).origin
        reason = answer.body.decode().strip()
        self.store.keep_refusal(
            origin, submission.old_size, submission.note, reason, int(self.clock())
        )

    # -- monitoring --------------------------------------------------------------------------

    def latest(self, hashed_origin: str) -> Answer:
        """The latest cosigned checkpoint note of the origin whose hex H(origin) is given."""
        if not _ORIGIN_HASH.fullmatch(hashed_origin):
            return Answer.text(404, "not a hex SHA-256 of an origin")
        note = self.store.latest_note(hashed_origin)
        if note is None:
            return Answer.text(404, "no checkpoint cosigned for this origin")
        return Answer(200, note.encode())

    def refusals(self) -> list[tuple[str, str, str]]:
        """The log-signed submissions refused with 422: (origin, reason, note), oldest first."""
        return self.store.refusals()


def _conflict(size: int) -> Answer:
    return Answer(409, f"{size}\n".encode(), SIZE_CONTENT_TYPE)


# -- HTTP -----------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    server: WitnessServer
    protocol_version = "HTTP/1.1"
    server_version = "secki-witness"
    sys_version = ""
    _CHECKPOINT: ClassVar[re.Pattern[str]] = re.compile(r"/([^/]+)/checkpoint")

    def do_POST(self) -> None:
        if self.path != "/add-checkpoint":
            self._answer(Answer.text(404, f"no {self.path} here: POST /add-checkpoint"))
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._answer(Answer.text(411, "a Content-Length is required"))
            return
        if int(length) > MAX_BODY:
            if int(length) <= 16 * MAX_BODY:  # read it, so that the client sees the answer
                self.rfile.read(int(length))
            else:
                self.close_connection = True
            self._answer(Answer.text(413, f"the body is over {MAX_BODY} bytes"))
            return
        body = self.rfile.read(int(length))
        self._answer(self.server.witness.add_checkpoint(body))

    def do_GET(self) -> None:
        match = self._CHECKPOINT.fullmatch(self.path)
        if match is None:
            self._answer(Answer.text(404, f"no {self.path} here: GET /<hex H(origin)>/checkpoint"))
            return
        self._answer(self.server.witness.latest(match.group(1)))

    def _answer(self, answer: Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


class WitnessServer(http.server.ThreadingHTTPServer):
    """The witness over HTTP: ``POST /add-checkpoint`` and ``GET /<hex H(origin)>/checkpoint``
    (one thread per connection). Port 0 picks a free port: see :attr:`url`."""

    daemon_threads = True

    def __init__(self, witness: Witness, host: str, port: int, *, quiet: bool = False) -> None:
        self.witness = witness
        self.quiet = quiet
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """The submission (and monitoring) prefix, ending in ``/``."""
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
