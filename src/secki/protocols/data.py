"""Parsing one protocol's values from any channel (form, API JSON, CSV row) into ProtocolData."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext, gettext_noop

from secki.errors import IntakeError, Text
from secki.inputs import count_in_range, quoted
from secki.protocol_schema import CheckResult, ProtocolSchema
from secki.protocol_schema.schema import (
    MAX_COUNT,
    REGISTER_FACTOR,
    REGISTER_MARGIN,
    candidate_code,
    count_bound,
)

#: the longest act or annulment's decision reference, as Protocol.decision_ref stores it
REFERENCE_MAX = 200


def check_context(registered: int, polls_close: dt.datetime | None) -> dict[str, Any]:
    """The context names of check expressions for one station's protocol."""
    return {"REGISTERED": registered, "POLLS_CLOSE": polls_close}


def recorded_checks(results: Sequence[CheckResult]) -> tuple[list[dict[str, Any]], list[str]]:
    """What a protocol stores of its check results, on every intake path (form, API, bulk
    file, bundle import): each check's outcome, and the codes of the failed soft checks."""
    checks = [{"code": r.code, "severity": r.severity, "passed": r.passed} for r in results]
    return checks, [r.code for r in results if r.failed and r.severity == "soft"]


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

    def check_bounds(self, station: str, registered: int) -> None:
        """Refuse any count that is not an integer 0 ≤ n < MAX_COUNT, or that exceeds what
        the station's register allows (:func:`secki.protocol_schema.schema.count_bound`): every
        intake path runs this before a protocol is checked or stored."""
        bound = count_bound(registered)
        for code, value in self.values().items():
            count_in_range(code, value)
            if value > bound:
                raise IntakeError(
                    "above_register",
                    gettext(
                        "%(line)s: %(value)s is more than station %(station)s can have: at "
                        "most %(bound)s (%(factor)s × %(registered)s registered voters + "
                        "%(margin)s)"
                    )
                    % {
                        "line": code,
                        "value": f"{value:,}",
                        "station": station,
                        "bound": f"{bound:,}",
                        "factor": REGISTER_FACTOR,
                        "registered": f"{registered:,}",
                        "margin": f"{REGISTER_MARGIN:,}",
                    },
                    field=code,
                )

    def evaluate(self, schema: ProtocolSchema, context: Mapping[str, Any]) -> list[CheckResult]:
        values: dict[str, Any] = dict(self.counts)
        values.update(self.instants)
        return schema.evaluate(values, self.candidates, context)


def _utc(instant: dt.datetime) -> str:
    """Instants compare and hash in UTC, whatever offset they were written with."""
    return instant.astimezone(dt.UTC).isoformat()


def _integer(code: str, raw: Any) -> int:
    """A count from JSON (an integer, or a number without a fraction), a form field or a CSV
    cell (its digits)."""
    if isinstance(raw, float):  # JSON has one number type: 450.0 is the integer 450
        if not raw.is_integer():  # 450.5, NaN, Infinity
            raise IntakeError(
                "invalid_value",
                gettext("%(line)s: %(value)s is not a whole number: send counts as integers")
                % {"line": code, "value": quoted(raw)},
                field=code,
            )
        return count_in_range(code, int(raw), shown=quoted(raw))
    if isinstance(raw, str):
        text = raw.strip()
        digits = text.removeprefix("-")
        if not (digits.isascii() and digits.isdigit()):
            raise IntakeError(
                "invalid_value",
                gettext_noop("%(line)s: %(value)s is not an integer"),
                params={"line": code, "value": quoted(raw)},
                field=code,
            )
        if len(digits.lstrip("0")) > len(str(MAX_COUNT)):  # int() of it would be wasted work
            if text.startswith("-"):
                raise IntakeError(
                    "negative_value",
                    gettext_noop("%(line)s: %(value)s is negative; counts are >= 0"),
                    params={"line": code, "value": quoted(raw)},
                    field=code,
                )
            return count_in_range(code, MAX_COUNT, shown=quoted(raw))
        raw = int(text)
    return count_in_range(code, raw)


def _instant(code: str, value: Any, tz: dt.tzinfo) -> dt.datetime:
    try:
        instant = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(line)s: %(value)s is not an ISO 8601 date and time"),
            params={"line": code, "value": quoted(value)},
            field=code,
        ) from None
    instant = instant if instant.tzinfo else instant.replace(tzinfo=tz)
    try:
        instant.astimezone(dt.UTC)
    except OverflowError:
        raise IntakeError(
            "invalid_value",
            gettext("%(line)s: %(value)s is outside the range of dates and times")
            % {"line": code, "value": quoted(value)},
            field=code,
        ) from None
    return instant


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
                    gettext_noop("%(line)s: the election has candidates C1…C%(n)s"),
                    params={"line": code, "n": n_candidates},
                    field=code,
                )
            raise IntakeError(
                "unknown_line",
                gettext_noop("%(line)s is not a line of the %(schema)s protocol"),
                params={"line": code[:40], "schema": schema.name},
                field=code[:40],
            )
    counts: dict[str, int] = {}
    instants: dict[str, dt.datetime] = {}
    for ln in schema.lines:
        value = raw.get(ln.code)
        if value is None or (isinstance(value, str) and not value.strip()):
            if ln.required:
                raise IntakeError(
                    "missing_line",
                    gettext_noop("%(line)s (%(label)s) is required"),
                    params={"line": ln.code, "label": Text(ln.label)},
                    field=ln.code,
                )
            continue
        if ln.kind == "datetime":
            instants[ln.code] = _instant(ln.code, value, tz)
        else:
            counts[ln.code] = _integer(ln.code, value)
    candidates = []
    for i in range(1, n_candidates + 1):
        code = candidate_code(i)
        if raw.get(code) is None or (isinstance(raw.get(code), str) and not raw[code].strip()):
            raise IntakeError(
                "missing_line",
                gettext_noop("%(line)s (votes for candidate %(number)s) is required"),
                params={"line": code, "number": i},
                field=code,
            )
        candidates.append(_integer(code, raw[code]))
    return ProtocolData(counts, instants, tuple(candidates))
