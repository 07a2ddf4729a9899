"""The published totals ``results/<N>.json`` (spec §5.4): build one, and check one against the
log's entries.

The file is canonical JSON (§5.1) with exactly ``election``, ``tree_size`` (N), ``root_hash``
(base64 MTH(D[0:N])), ``totals`` (line code → integer), ``stations_counted`` and
``checkpoint`` (the full cosigned checkpoint note of size N, whose root is ``root_hash``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint, WitnessPolicy, open_checkpoint
from secki.tlog.entries import Tally, replay
from secki.tlog.merkle import HASH_SIZE, leaf_hash, root_of
from secki.tlog.note import VerifierKey, split_note

FIELDS = ("checkpoint", "election", "root_hash", "stations_counted", "totals", "tree_size")


class ResultsError(ValueError):
    """A results file that is malformed or disagrees with the log; the message names the
    field or the line."""


def results_path(tree_size: int) -> str:
    return f"results/{tree_size}.json"


@dataclass(frozen=True)
class ResultsDocument:
    election: str
    tree_size: int
    root_hash: bytes
    totals: dict[str, int]
    stations_counted: int
    checkpoint: str


def build_results(tally: Tally, root: bytes, checkpoint_note: str) -> bytes:
    """The canonical ``results/<N>.json`` of ``tally`` (at N = ``tally.tree_size``) under the
    cosigned ``checkpoint_note`` of that size and root."""
    checkpoint = Checkpoint.parse(split_note(checkpoint_note).text)
    if (checkpoint.size, checkpoint.root) != (tally.tree_size, root):
        raise ResultsError(
            f"the checkpoint is of size {checkpoint.size}, the totals of size {tally.tree_size}"
            if checkpoint.size != tally.tree_size
            else "the checkpoint's root is not the root given"
        )
    return canonical.encode(
        {
            "election": tally.election,
            "tree_size": tally.tree_size,
            "root_hash": base64.b64encode(root).decode(),
            "totals": tally.totals,
            "stations_counted": tally.stations_counted,
            "checkpoint": checkpoint_note,
        }
    )


def parse_results(data: bytes) -> ResultsDocument:
    """Parse a results file: canonical JSON with exactly the fields of §5.4, well typed."""
    try:
        value = canonical.decode(data)
    except canonical.CanonicalError as exc:
        raise ResultsError(f"results file: {exc}") from None
    if tuple(sorted(value)) != FIELDS:
        raise ResultsError(f"results file has fields {sorted(value)}, not {list(FIELDS)}")
    election, size, root, totals, counted, note = (
        value["election"],
        value["tree_size"],
        value["root_hash"],
        value["totals"],
        value["stations_counted"],
        value["checkpoint"],
    )
    if not isinstance(election, str) or not isinstance(note, str) or not isinstance(root, str):
        raise ResultsError("election, root_hash and checkpoint must be strings")
    if (
        not isinstance(size, int)
        or not _count(size)
        or not isinstance(counted, int)
        or not _count(counted)
    ):
        raise ResultsError("tree_size and stations_counted must be integers ≥ 0")
    if not isinstance(totals, dict) or not all(_count(v) for v in totals.values()):
        raise ResultsError("totals must map line codes to integers ≥ 0")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError):
        raise ResultsError("root_hash is not base64") from None
    if len(root_hash) != HASH_SIZE:
        raise ResultsError(f"root_hash has {len(root_hash)} bytes, not {HASH_SIZE}")
    return ResultsDocument(election, size, root_hash, dict(totals), counted, note)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def compare_results(document: ResultsDocument, tally: Tally) -> list[str]:
    """Every difference between a results file and the recomputed tally, one line each."""
    problems = []
    if document.election != tally.election:
        problems.append(f"election is {document.election!r}, recomputed for {tally.election!r}")
    if document.tree_size != tally.tree_size:
        problems.append(f"tree_size is {document.tree_size}, recomputed at {tally.tree_size}")
    if document.stations_counted != tally.stations_counted:
        problems.append(
            f"stations_counted is {document.stations_counted}, the log has {tally.stations_counted}"
        )
    recomputed = tally.totals
    for code in sorted(set(document.totals) | set(recomputed)):
        published, logged = document.totals.get(code), recomputed.get(code)
        if published != logged:
            problems.append(
                f"line {code}: published {_show(published)}, the log adds up to {_show(logged)}"
            )
    return problems


def _show(value: int | None) -> str:
    return "nothing" if value is None else str(value)


def check_results(
    data: bytes,
    entries: Sequence[bytes],
    log_key: VerifierKey,
    policy: WitnessPolicy,
    origin: str,
    now: int,
) -> ResultsDocument:
    """§5.4 in full: open the file's checkpoint (§3.4), check that it and ``root_hash`` agree,
    that ``entries`` (D[0:N]) hash to that root, re-apply the rule and compare every number.
    Raises :class:`ResultsError` (or the checkpoint's, the note's or an entry's error)."""
    document = parse_results(data)
    opened = open_checkpoint(document.checkpoint, log_key, policy, origin, now)
    checkpoint = opened.checkpoint
    if checkpoint.size != document.tree_size:
        raise ResultsError(
            f"tree_size is {document.tree_size}, its checkpoint's size {checkpoint.size}"
        )
    if checkpoint.root != document.root_hash:
        raise ResultsError("root_hash is not the root of its checkpoint")
    if len(entries) != document.tree_size:
        raise ResultsError(f"{len(entries)} entries given for tree size {document.tree_size}")
    if root_of([leaf_hash(e) for e in entries]) != document.root_hash:
        raise ResultsError(f"the {len(entries)} entries do not hash to root_hash")
    problems = compare_results(document, replay(entries).tally(document.election))
    if problems:
        raise ResultsError("; ".join(problems))
    return document
