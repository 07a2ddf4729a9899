"""The log's side of ``add-checkpoint`` (spec §4.3, §4.4): submit a checkpoint to one witness,
or to every witness of the published policy until a quorum has cosigned.

:func:`collect` asks every witness of the policy at once, each from the size the log believes
it last cosigned; a witness that answers 409 states its size, and is asked once more with a
proof from that size (``proof_for(size)``). Each witness's answer is verified with its policy
key before it counts; the note is returned with the cosignatures added only when at least the
quorum of distinct witnesses cosigned, else :class:`QuorumError` says what each one answered.
"""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from secki.tlog.checkpoint import Checkpoint, Witness, WitnessPolicy
from secki.tlog.note import NoteError, add_signatures, open_note, split_note

#: a witness's answer is a few signature lines; anything longer is refused
MAX_ANSWER = 64 * 1024

_SIZE = re.compile(r"(0|[1-9][0-9]*)\n")


class WitnessError(Exception):
    """A witness that did not cosign: unreachable, or an answer other than 200 (the message
    has the URL, the status and the witness's explanation)."""


class Conflict(WitnessError):
    """409: the witness last cosigned ``size``, not the old size given; retry from there."""

    def __init__(self, url: str, size: int) -> None:
        super().__init__(f"{url}: 409, the witness last cosigned size {size}")
        self.size = size


class QuorumError(Exception):
    """Fewer than the quorum of witnesses cosigned; ``failures`` maps each witness that did
    not to why."""

    def __init__(self, cosigned: int, quorum: int, failures: dict[str, str]) -> None:
        detail = "; ".join(f"{name}: {why}" for name, why in sorted(failures.items()))
        super().__init__(f"{cosigned} witness(es) cosigned, the quorum is {quorum}: {detail}")
        self.cosigned = cosigned
        self.quorum = quorum
        self.failures = failures


def submission_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """``old <size>``, the proof's hashes in base64, an empty line, the note (§4.3)."""
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof)]
    return ("".join(lines) + "\n" + note).encode()


def submit(
    url: str, old_size: int, proof: Sequence[bytes], note: str, timeout: float = 10.0
) -> list[str]:
    """POST the log-signed checkpoint ``note`` with a consistency proof from ``old_size`` to
    ``<url>/add-checkpoint``; returns the witness's signature lines (each ending in LF), not
    yet verified. Raises :class:`Conflict` for 409, :class:`WitnessError` otherwise."""
    target = url.rstrip("/") + "/add-checkpoint"
    if not target.startswith(("http://", "https://")):
        raise WitnessError(f"{url}: not an http:// or https:// URL")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        target,
        data=submission_body(old_size, proof, note),
        headers={"Content-Type": "text/plain; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as exc:
        text = exc.read(MAX_ANSWER).decode("utf-8", errors="replace")
        if exc.code == 409:
            content_type = (exc.headers.get("Content-Type") or "").split(";")[0].strip()
            match = _SIZE.fullmatch(text)
            if content_type != "text/x.tlog.size" or match is None:
                raise WitnessError(f"{target}: 409 without a size ({text[:80]!r})") from None
            raise Conflict(target, int(match.group(1))) from None
        raise WitnessError(f"{target}: HTTP {exc.code}: {text.strip()[:300]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise WitnessError(f"{target}: {exc}") from None
    if len(body) > MAX_ANSWER:
        raise WitnessError(f"{target}: an answer of over {MAX_ANSWER} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessError(f"{target}: the answer is not UTF-8") from None
    if not text.endswith("\n"):
        raise WitnessError(f"{target}: the answer does not end in a newline")
    lines = [line + "\n" for line in text[:-1].split("\n")]
    if not lines or not all(line.startswith("\u2014 ") for line in lines):
        raise WitnessError(f"{target}: the answer is not signature lines ({text[:80]!r})")
    return lines


def cosign_with(
    witness: Witness,
    note: str,
    old_size: int,
    proof_for: Callable[[int], Sequence[bytes]],
    timeout: float = 10.0,
) -> list[str]:
    """One witness's verified cosignature lines for ``note``, asked from ``old_size`` and, after
    a 409, once more from the size it states. Raises :class:`WitnessError`."""
    if witness.url is None:
        raise WitnessError("the policy gives no submission URL")
    size = Checkpoint.parse(split_note(note).text).size
    try:
        lines = submit(witness.url, old_size, _proof(old_size, size, proof_for), note, timeout)
    except Conflict as conflict:
        if conflict.size > size:
            raise WitnessError(
                f"the witness has cosigned size {conflict.size}, beyond this checkpoint's {size}"
            ) from None
        proof = _proof(conflict.size, size, proof_for)
        lines = submit(witness.url, conflict.size, proof, note, timeout)
    try:
        signed = add_signatures(note, lines)
        open_note(signed, [witness.key])  # every line of its key verifies, and one at least
    except NoteError as exc:
        raise WitnessError(f"its answer does not verify with its key: {exc}") from None
    ours = (witness.key.name, witness.key.key_id)
    parsed = split_note(signed).signatures[-len(lines) :]
    return [line for line, p in zip(lines, parsed, strict=True) if (p.name, p.key_id) == ours]


def _proof(old: int, size: int, proof_for: Callable[[int], Sequence[bytes]]) -> list[bytes]:
    """PROOF(old, size); none from 0 or the size itself, nor backwards (the witness refuses
    an old size beyond the new one: 400)."""
    return [] if old == 0 or old >= size else list(proof_for(old))


def collect(
    policy: WitnessPolicy,
    note: str,
    old_size: int,
    proof_for: Callable[[int], Sequence[bytes]],
    timeout: float = 10.0,
) -> str:
    """Ask every witness of ``policy`` (in parallel) to cosign the log-signed ``note``, from
    ``old_size`` (the size of the log's previous published checkpoint; 0 for the first), with
    ``proof_for(m)`` giving PROOF(m, size) (§1.4). Returns the note with every verified
    cosignature added (§4.2) if at least the quorum of distinct witnesses cosigned; raises
    :class:`QuorumError` otherwise."""
    split_note(note)
    results: dict[str, list[str]] = {}
    failures: dict[str, str] = {}

    def ask(witness: Witness) -> tuple[Witness, list[str] | str]:
        try:
            return witness, cosign_with(witness, note, old_size, proof_for, timeout)
        except (WitnessError, NoteError, ValueError) as exc:
            return witness, str(exc)

    if policy.witnesses:
        with ThreadPoolExecutor(max_workers=len(policy.witnesses)) as pool:
            for witness, outcome in pool.map(ask, policy.witnesses):
                if isinstance(outcome, str):
                    failures[witness.key.name] = outcome
                else:
                    results[witness.key.name] = outcome
    if len(results) < policy.quorum:
        raise QuorumError(len(results), policy.quorum, failures)
    lines = [line for witness in policy.witnesses for line in results.get(witness.key.name, [])]
    return add_signatures(note, lines)
