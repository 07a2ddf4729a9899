"""Parsing one protocol's values from any channel (form, API JSON, CSV row) into ProtocolData."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from secki.errors import IntakeError
from secki.protocol import CheckResult, ProtocolSchema
from secki.protocol.schema import candidate_code


@dataclass(frozen=True)
class ProtocolData:
    counts: dict[str, int]  # count lines that were given
    instants: dict[str, dt.datetime]  # datetime lines that were given
    candidates: tuple[int, ...]  # C1 … Cn

    def values(self) -> dict[str, int]:
        """Every stored number: the count lines and C1 … Cn."""
        out = dict(self.counts)
        out.update({candidate_code(i): v for i, v in enumerate(self.candidates, start=1)})
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "instants": {k: _utc(v) for k, v in sorted(self.instants.items())},
            "candidates": list(self.candidates),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProtocolData:
        return cls(
            dict(data["counts"]),
            {k: dt.datetime.fromisoformat(v) for k, v in data.get("instants", {}).items()},
            tuple(data["candidates"]),
        )

    def flat(self) -> dict[str, Any]:
        """Line code → value, as a form or the API shows it."""
        out: dict[str, Any] = dict(self.values())
        out.update({k: _utc(v) for k, v in self.instants.items()})
        return out

    def differences(self, other: ProtocolData) -> list[str]:
        a, b = self.flat(), other.flat()
        return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))

    def evaluate(self, schema: ProtocolSchema, context: Mapping[str, Any]) -> list[CheckResult]:
        values: dict[str, Any] = dict(self.counts)
        values.update(self.instants)
        return schema.evaluate(values, self.candidates, context)


def _utc(instant: dt.datetime) -> str:
    """Instants compare and hash in UTC, whatever offset they were written with."""
    return instant.astimezone(dt.UTC).isoformat()


def _integer(code: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise IntakeError("invalid_value", f"{code}: {raw!r} is not an integer", field=code)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().lstrip("-").isdigit() and raw.strip().isascii():
        value = int(raw.strip())
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    else:
        raise IntakeError("invalid_value", f"{code}: {raw!r} is not an integer", field=code)
    if value < 0:
        raise IntakeError(
            "negative_value", f"{code}: {value} is negative; counts are >= 0", field=code
        )
    return value


def parse_protocol(
    schema: ProtocolSchema, n_candidates: int, raw: Mapping[str, Any], tz: dt.tzinfo
) -> ProtocolData:
    """Validate a flat mapping ``{line code: value}``; raise IntakeError naming the line."""
    known = {ln.code for ln in schema.lines} | {
        candidate_code(i) for i in range(1, n_candidates + 1)
    }
    for code in raw:
        if code not in known:
            if code.startswith("C") and code[1:].isdigit():
                raise IntakeError(
                    "unknown_candidate",
                    f"{code}: the election has candidates C1…C{n_candidates}",
                    field=code,
                )
            raise IntakeError(
                "unknown_line", f"{code} is not a line of the {schema.name} protocol", field=code
            )
    counts: dict[str, int] = {}
    instants: dict[str, dt.datetime] = {}
    for ln in schema.lines:
        value = raw.get(ln.code)
        if value is None or (isinstance(value, str) and not value.strip()):
            if ln.required:
                raise IntakeError(
                    "missing_line", f"{ln.code} ({ln.label}) is required", field=ln.code
                )
            continue
        if ln.kind == "datetime":
            try:
                instant = dt.datetime.fromisoformat(str(value).strip())
            except ValueError:
                raise IntakeError(
                    "invalid_value",
                    f"{ln.code}: {value!r} is not an ISO 8601 date and time",
                    field=ln.code,
                ) from None
            instants[ln.code] = instant if instant.tzinfo else instant.replace(tzinfo=tz)
        else:
            counts[ln.code] = _integer(ln.code, value)
    candidates = []
    for i in range(1, n_candidates + 1):
        code = candidate_code(i)
        if raw.get(code) is None or (isinstance(raw.get(code), str) and not raw[code].strip()):
            raise IntakeError(
                "missing_line", f"{code} (votes for candidate {i}) is required", field=code
            )
        candidates.append(_integer(code, raw[code]))
    return ProtocolData(counts, instants, tuple(candidates))
