"""The published totals ``results/<N>.json`` (spec §5.4): build one, and check one against the
log's entries.

The file is canonical JSON (§5.1) with exactly ``election``, ``tree_size`` (N), ``root_hash``
(base64 MTH(D[0:N])), ``totals`` (line code → integer), ``stations_counted`` and
``checkpoint`` (the full cosigned checkpoint note of size N, whose root is ``root_hash``).

Extension (this platform's, backward compatible): an optional ``units`` field, unit code →
line totals (line code → integer), for **every** unit of the election's territory tree, each
the sum over the effective protocols of the stations below it (a unit without a counted
station has ``{}``). A file without it is still a valid results file; a file with it is
checked unit by unit when the verifier knows the register (which station lies under which
units: :func:`compare_units`, ``check_results(…, units_of=…)``). No other field may appear.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint, WitnessPolicy, open_checkpoint
from secki.tlog.entries import Tally, replay
from secki.tlog.merkle import HASH_SIZE, leaf_hash, root_of
from secki.tlog.note import VerifierKey, split_note

FIELDS = ("checkpoint", "election", "root_hash", "stations_counted", "totals", "tree_size")
#: the optional fields of this platform's extension (see the module's docstring)
OPTIONAL_FIELDS = ("units",)


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
    #: unit code → line totals (the extension), None when the file has no ``units``
    units: dict[str, dict[str, int]] | None = None


def build_results(
    tally: Tally,
    root: bytes,
    checkpoint_note: str,
    *,
    units: Mapping[str, Mapping[str, int]] | None = None,
) -> bytes:
    """The canonical ``results/<N>.json`` of ``tally`` (at N = ``tally.tree_size``) under the
    cosigned ``checkpoint_note`` of that size and root; with ``units``, the extension's field
    (e.g. from ``tally.by_unit(units_of)``, every unit of the tree included)."""
    return results_document(
        tally.election,
        tally.tree_size,
        root,
        tally.totals,
        tally.stations_counted,
        checkpoint_note,
        units=units,
    )


def results_document(
    election: str,
    tree_size: int,
    root: bytes,
    totals: Mapping[str, int],
    stations_counted: int,
    checkpoint_note: str,
    *,
    units: Mapping[str, Mapping[str, int]] | None = None,
) -> bytes:
    """The canonical ``results/<N>.json`` stating ``totals`` (and ``units``) at ``tree_size``:
    what a server publishes from its own tabulation, the claim a verifier checks against the
    log. The checkpoint note must be of that size and root; every number an integer ≥ 0."""
    checkpoint = Checkpoint.parse(split_note(checkpoint_note).text)
    if (checkpoint.size, checkpoint.root) != (tree_size, root):
        raise ResultsError(
            f"the checkpoint is of size {checkpoint.size}, the totals of size {tree_size}"
            if checkpoint.size != tree_size
            else "the checkpoint's root is not the root given"
        )
    if not _count(stations_counted):
        raise ResultsError("stations_counted must be an integer ≥ 0")
    document: dict[str, object] = {
        "election": election,
        "tree_size": tree_size,
        "root_hash": base64.b64encode(root).decode(),
        "totals": _line_totals(totals, "totals"),
        "stations_counted": stations_counted,
        "checkpoint": checkpoint_note,
    }
    if units is not None:
        document["units"] = {
            code: _line_totals(lines, f"unit {code}") for code, lines in units.items()
        }
    return canonical.encode(document)


def _line_totals(lines: Mapping[str, int], what: str) -> dict[str, int]:
    if not all(isinstance(code, str) and _count(v) for code, v in lines.items()):
        raise ResultsError(f"{what} must map line codes to integers ≥ 0")
    return dict(sorted(lines.items()))


def parse_results(data: bytes) -> ResultsDocument:
    """Parse a results file: canonical JSON with exactly the fields of §5.4 (and, optionally,
    the extension's ``units``), well typed."""
    try:
        value = canonical.decode(data)
    except canonical.CanonicalError as exc:
        raise ResultsError(f"results file: {exc}") from None
    if not set(FIELDS) <= set(value) <= {*FIELDS, *OPTIONAL_FIELDS}:
        raise ResultsError(
            f"results file has fields {sorted(value)}, not {list(FIELDS)} "
            f"(and optionally {', '.join(OPTIONAL_FIELDS)})"
        )
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
    units: dict[str, dict[str, int]] | None = None
    if "units" in value:
        given = value["units"]
        if not isinstance(given, dict) or not all(
            isinstance(lines, dict) and all(_count(v) for v in lines.values())
            for lines in given.values()
        ):
            raise ResultsError("units must map unit codes to line totals (integers ≥ 0)")
        units = {code: dict(lines) for code, lines in given.items()}
    return ResultsDocument(election, size, root_hash, dict(totals), counted, note, units)


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


def compare_units(
    document: ResultsDocument, tally: Tally, units_of: Mapping[str, Iterable[str]]
) -> list[str]:
    """Every difference between the file's ``units`` and the log's totals per unit, one line
    each (nothing when the file has no ``units``). ``units_of`` gives, for every station of the
    register, the codes of the units it lies under (its unit and every unit above it): a unit
    of the file with no counted station must state ``{}``, and a unit the log counts stations
    for must be in the file."""
    if document.units is None:
        return []
    recomputed = {code: unit.totals for code, unit in tally.by_unit(units_of).items()}
    problems = []
    for code in sorted(set(recomputed) - set(document.units)):
        problems.append(f"unit {code}: not in the file, the log counts stations in it")
    for code, published in sorted(document.units.items()):
        logged = recomputed.get(code, {})
        for line in sorted(set(published) | set(logged)):
            if published.get(line) != logged.get(line):
                problems.append(
                    f"unit {code} line {line}: published {_show(published.get(line))}, "
                    f"the log adds up to {_show(logged.get(line))}"
                )
    return problems


def check_results(
    data: bytes,
    entries: Sequence[bytes],
    log_key: VerifierKey,
    policy: WitnessPolicy,
    origin: str,
    now: int,
    *,
    units_of: Mapping[str, Iterable[str]] | None = None,
) -> ResultsDocument:
    """§5.4 in full: open the file's checkpoint (§3.4), check that it and ``root_hash`` agree,
    that ``entries`` (D[0:N]) hash to that root, re-apply the rule and compare every number;
    with ``units_of`` (the register: station → its units), every unit's numbers too.
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
    tally = replay(entries).tally(document.election)
    problems = compare_results(document, tally)
    if units_of is not None:
        problems += compare_units(document, tally, units_of)
    if problems:
        raise ResultsError("; ".join(problems))
    return document
