"""Column mappings: which columns of a station-level file hold which numbers.

The full reference, with examples, is ``docs/forensics.md``.

A mapping is a JSON (``.json``) or TOML (``.toml``) file::

    {
      "description": "Russia, State Duma 2011",
      "encoding": "utf-8",            # optional, default utf-8 (a BOM is ignored)
      "delimiter": ",",               # optional
      "member": "2011.csv",           # optional: the file inside a zip archive
      "sheet": "Results",             # optional: spreadsheet sheet name or 0-based index
      "id": ["region", "tik", "uik"], # optional: columns naming a station
      "group": "region",              # optional: per-group results
      "registered": {"contains": "Число избирателей, внесенных в список"},
      "given": {"contains": "бюллетеней, выданных", "all": true},
      "received": [{"contains": "Число недействительных"}, {"contains": "Число действительных"}],
      "leader": {"contains": "ЕДИНАЯ РОССИЯ"},
      "candidates": {"contains": "партия", "all": true},
      "digits": ["received", "leader"],
      "zero_values": ["NA"]           # optional: cell texts read as 0 (say why in the file)
    }

A *column spec* is a column's exact name (a string or ``{"column": name}``), a
``{"contains": text}`` rule that must match exactly one header (``"all": true`` takes every
header that contains the text, ``"ignore_case": true`` compares case-insensitively), or a
list of specs. ``registered``, ``given``, ``received``
and ``leader`` are *sums* of the columns they resolve to. ``candidates`` resolves to one
candidate per column. ``digits`` names the fields (``registered``, ``given``,
``received``, ``leader``, or a candidate column) whose counts go through the digit tests
(default: ``received``). ``leader`` may also name a candidate column.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED = ("registered", "given", "received", "leader")
KNOWN = {
    *REQUIRED,
    "description",
    "encoding",
    "delimiter",
    "member",
    "sheet",
    "id",
    "group",
    "candidates",
    "digits",
    "zero_values",
}


class MappingError(ValueError):
    """The mapping file is malformed or does not fit the data file's header."""


@dataclass(frozen=True)
class ResolvedMapping:
    """Column indices per field (sums for the four counts)."""

    registered: tuple[int, ...]
    given: tuple[int, ...]
    received: tuple[int, ...]
    leader: tuple[int, ...]
    group: int | None
    ids: tuple[int, ...]
    candidates: tuple[int, ...]
    digits: tuple[str, ...]
    header: tuple[str, ...]
    description: str = ""
    zero_values: tuple[str, ...] = ()
    columns: dict[str, list[str]] = field(default_factory=dict)

    def field_columns(self, name: str) -> tuple[int, ...]:
        if name in REQUIRED:
            cols: tuple[int, ...] = getattr(self, name)
            return cols
        if name in self.header:
            return (self.header.index(name),)
        raise MappingError(f"digits: unknown field or column {name!r}")


def load_mapping(path: Path) -> dict[str, Any]:
    """Read a mapping file (JSON or TOML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read mapping {path}: {exc.strerror}") from exc
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(
            f"mapping {path} is not valid {path.suffix[1:] or 'JSON'}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise MappingError(f"mapping {path} must be an object of fields")
    unknown = set(data) - KNOWN
    if unknown:
        raise MappingError(f"mapping {path}: unknown field(s) {sorted(unknown)}")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise MappingError(f"mapping {path}: missing required field(s) {missing}")
    return data


def _resolve(spec: Any, header: tuple[str, ...], where: str) -> list[int]:
    if isinstance(spec, list):
        if not spec:
            raise MappingError(f"{where}: empty list of columns")
        out: list[int] = []
        for i, item in enumerate(spec):
            out += _resolve(item, header, f"{where}[{i}]")
        return out
    if isinstance(spec, str):
        spec = {"column": spec}
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: a column spec is a name, a list, or an object")
    unknown = set(spec) - {"column", "contains", "all", "ignore_case"}
    if unknown:
        raise MappingError(
            f"{where}: unknown key(s) {sorted(unknown)} in a column spec "
            '(known: "column", "contains", "all", "ignore_case")'
        )
    if "column" in spec:
        name = spec["column"]
        if name not in header:
            raise MappingError(f"{where}: no column named {name!r} in the file")
        return [header.index(name)]
    if "contains" in spec:
        text = str(spec["contains"])
        fold = bool(spec.get("ignore_case", False))
        needle = text.casefold() if fold else text
        hits = [i for i, h in enumerate(header) if needle in (h.casefold() if fold else h)]
        if not hits:
            near = [h for h in header if text.casefold() in h.casefold()] if not fold else []
            hint = (
                f" (but {len(near)} do when case is ignored, e.g. {near[0]!r}: "
                'add "ignore_case": true)'
                if near
                else ""
            )
            raise MappingError(f"{where}: no column contains {text!r}{hint}")
        if len(hits) > 1 and not spec.get("all", False):
            names = ", ".join(repr(header[i]) for i in hits)
            raise MappingError(
                f"{where}: {len(hits)} columns contain {text!r} ({names}); "
                'make the text longer or add "all": true to use all of them'
            )
        return hits
    raise MappingError(f'{where}: a column spec needs "column" or "contains"')


def resolve(data: dict[str, Any], header: tuple[str, ...]) -> ResolvedMapping:
    """Match the mapping against a file's header."""
    cols: dict[str, list[int]] = {}
    for key in REQUIRED:
        cols[key] = _resolve(data[key], header, key)
    group = None
    if data.get("group") is not None:
        g = _resolve(data["group"], header, "group")
        if len(g) != 1:
            raise MappingError("group: must resolve to exactly one column")
        group = g[0]
    ids = _resolve(data["id"], header, "id") if data.get("id") else []
    cands = _resolve(data["candidates"], header, "candidates") if data.get("candidates") else []
    digits = data.get("digits", ["received"])
    if not isinstance(digits, list) or not all(isinstance(d, str) for d in digits):
        raise MappingError("digits: must be a list of field or column names")
    zero_values = data.get("zero_values", [])
    if not isinstance(zero_values, list) or not all(isinstance(z, str) for z in zero_values):
        raise MappingError("zero_values: must be a list of cell texts")
    mapping = ResolvedMapping(
        zero_values=tuple(zero_values),
        registered=tuple(cols["registered"]),
        given=tuple(cols["given"]),
        received=tuple(cols["received"]),
        leader=tuple(cols["leader"]),
        group=group,
        ids=tuple(ids),
        candidates=tuple(cands),
        digits=tuple(digits),
        header=header,
        description=str(data.get("description", "")),
        columns={
            **{k: [header[i] for i in v] for k, v in cols.items()},
            "group": [] if group is None else [header[group]],
            "id": [header[i] for i in ids],
            "candidates": [header[i] for i in cands],
        },
    )
    for d in digits:
        mapping.field_columns(d)
    return mapping
