"""Protocol schema = ordered lines + control relations, loaded from data (TOML or JSON).

The Azerbaijani presidential schema ships as the default (``builtin/az-presidential.toml``);
any other country's form is a file of the same shape (``builtin/ru-duma-2011.toml`` is the
Russian 12-line protocol), loaded with :meth:`ProtocolSchema.from_file` without code changes.

Semantics (spec/domain.md §3–4):

* Lines have a ``kind``: ``count`` (integer ≥ 0) or ``datetime`` (ISO 8601 with offset).
  A line that is not ``required`` may be left empty.
* Candidate lines ``C1`` … ``Cn`` follow the schema's lines, one per candidate in ballot order;
  ``sum(C)`` in an expression is their total.
* A check whose expression names a line that was left empty is *not applicable* for that
  protocol (e.g. AZ-1 applies only when the split of line 1 is given).
* ``scope = "station"`` checks are evaluated on each protocol; ``scope = "aggregate"`` checks on
  the sums of a unit's accepted protocols (constituency and national level).
* ``roles`` name what the tabulation needs in the schema's own lines, as expressions:
  ``registered``, ``participants`` (voters who received a ballot), ``cast`` (ballots in
  the boxes), ``valid`` and ``invalid``. Turnout = participants / registered; the win rule's
  base is one of valid / cast / participants.
* ``workflow = "act"`` on a hard check (Azerbaijan's AZ-2, mobile boxes): a failing protocol
  is accepted only when the commission's act is recorded with it; nothing is fixed silently.
* Context names available to expressions: ``REGISTERED`` (the station's registered voters
  from the register) and ``POLLS_CLOSE`` (the election's poll closing time, aware datetime).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from secki.protocol_schema.expr import (
    CANDIDATE_GROUP,
    Expression,
    ExpressionError,
    contest_sum_key,
)

LineKind = Literal["count", "datetime"]
Severity = Literal["hard", "soft"]
Scope = Literal["station", "aggregate"]
ROLES = ("registered", "participants", "cast", "valid", "invalid")
CONTEXT_NAMES = frozenset({"REGISTERED", "POLLS_CLOSE"})
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
DEFAULT_SCHEMA = "az-presidential"


#: The technical limit of every count (a protocol line, a candidate's votes, a turnout report,
#: a station's register): no polling station has ten million of anything, and sums of counts
#: below it over any election stay far inside a 64-bit integer on every database.
MAX_COUNT = 10_000_000
#: The plausible bound of a protocol's count lines from the register (:func:`count_bound`).
REGISTER_FACTOR = 2
REGISTER_MARGIN = 1_000


def count_bound(registered: int) -> int:
    """The largest value any count line of a station with ``registered`` voters may take:
    ``2 × registered + 1,000`` (and below :data:`MAX_COUNT`).

    No line of a station's protocol (ballots received, issued, found, valid, a candidate's
    votes, …) can exceed what its voters and ballots allow. The factor and the margin cover the
    ballot reserve (a few per cent over the register), voters added on the day (additional
    lists, de-registration cards, mobile voting) and stations whose register is small or zero
    (temporary stations, abroad), with room to spare: the bound catches absurd numbers, the
    schema's control relations catch inconsistent ones."""
    return min(REGISTER_FACTOR * max(registered, 0) + REGISTER_MARGIN, MAX_COUNT - 1)


class SchemaError(ValueError):
    """A protocol schema file is malformed; the message names the entry and field."""


@dataclass(frozen=True)
class Line:
    code: str
    label: str
    kind: LineKind = "count"
    required: bool = True


@dataclass(frozen=True)
class Check:
    code: str
    expression: Expression
    severity: Severity
    message: str
    scope: Scope = "station"
    workflow: str | None = None  # "act": a failure is accepted only with the commission's act

    @property
    def source(self) -> str:
        return self.expression.source


_COMPARISON = re.compile(r"<=|>=|==|!=|<|>")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def blamed_line(check: Check, values: dict[str, Any]) -> str | None:
    """The line a failed relation is reported on: of the lines its **left side** names (the
    quantity the relation constrains: ``L12 + L13 <= L5 + L6`` is about the boxes), the one
    with the largest value (L13 = 600 rather than L12 = 0); else the first line it names."""
    left = _COMPARISON.split(check.source, maxsplit=1)[0]
    named: list[str] = [str(n) for n in _NAME.findall(left) if n in values]
    if not named:
        return next(iter(sorted(values)), None)

    def size(code: str) -> tuple[int, int]:
        value = values[code]
        number = value if isinstance(value, int) and not isinstance(value, bool) else 0
        return number, -named.index(code)

    return max(named, key=size)


@dataclass(frozen=True)
class CheckResult:
    code: str
    severity: Severity
    passed: bool | None  # None: not applicable (a line it needs was left empty)
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.passed is False


CONTEST_RULES = ("absolute_majority", "plurality", "proportional")
SEAT_METHODS = ("dhondt", "sainte_lague", "hare")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Contest:
    """One contest of a protocol that carries more than one (e.g. a list vote and a
    single-member vote): its candidates are those whose ``contest`` is ``code``; ``valid`` and
    ``invalid`` are its own ballot lines (expressions); ``rule`` decides it (``rule``:
    absolute_majority, plurality or proportional; ``method``, ``seats``, ``threshold`` for
    proportional; ``runoff_size`` for absolute majority)."""

    code: str
    name: str
    valid: Expression
    invalid: Expression
    rule: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "valid": self.valid.source,
            "invalid": self.invalid.source,
            "win_rule": dict(self.rule),
        }


def _contest_rule(raw: Any, where: str) -> dict[str, Any]:
    """A contest's ``win_rule``, checked and in canonical form (keys in a fixed order)."""
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{where}: 'win_rule' must be a table with 'rule'")
    extra = set(raw) - {"rule", "method", "seats", "threshold", "runoff_size"}
    if extra:
        raise SchemaError(f"{where}: win_rule has unknown key(s) {', '.join(sorted(extra))}")
    rule = raw.get("rule")
    if rule not in CONTEST_RULES:
        raise SchemaError(
            f"{where}: win_rule.rule {rule!r} is not one of {', '.join(CONTEST_RULES)}"
        )
    out: dict[str, Any] = {"rule": rule}
    if rule == "proportional":
        method = raw.get("method", "dhondt")
        if method not in SEAT_METHODS:
            raise SchemaError(
                f"{where}: win_rule.method {method!r} is not one of {', '.join(SEAT_METHODS)}"
            )
        seats = raw.get("seats")
        if not isinstance(seats, int) or isinstance(seats, bool) or not 1 <= seats <= 10_000:
            raise SchemaError(f"{where}: win_rule.seats must be a whole number from 1 to 10000")
        threshold = raw.get("threshold", 0)
        if (
            not isinstance(threshold, (int, float))
            or isinstance(threshold, bool)
            or not 0 <= threshold < 1
            or round(threshold, 3) != threshold
        ):
            raise SchemaError(
                f"{where}: win_rule.threshold must be a share in [0, 1), at most 3 decimals"
            )
        out.update(method=method, seats=seats, threshold=threshold)
    elif rule == "absolute_majority":
        size = raw.get("runoff_size", 2)
        if not isinstance(size, int) or isinstance(size, bool) or not 2 <= size <= 10:
            raise SchemaError(f"{where}: win_rule.runoff_size must be a whole number 2…10")
        out["runoff_size"] = size
    elif set(raw) - {"rule"}:
        raise SchemaError(f"{where}: a plurality win_rule takes no other key")
    return out


def candidate_code(number: int) -> str:
    return f"{CANDIDATE_GROUP}{number}"


@dataclass(frozen=True)
class ProtocolSchema:
    name: str
    lines: tuple[Line, ...]
    checks: tuple[Check, ...]
    roles: dict[str, Expression] = field(default_factory=dict)
    #: more than one contest on the protocol; empty: the single contest of the election
    contests: tuple[Contest, ...] = ()
    #: with contests: each candidate's contest code, in ballot order (the election's
    #: candidates, not part of the schema's text); what ``sum(C.code)`` adds up
    candidate_contests: tuple[str, ...] = ()

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "schema") -> ProtocolSchema:
        def need(entry: Mapping[str, Any], key: str, where: str) -> Any:
            if key not in entry or entry[key] in (None, ""):
                raise SchemaError(f"{source}: {where} has no {key!r}")
            return entry[key]

        name = str(data.get("name") or "")
        if not name:
            raise SchemaError(f"{source}: the schema has no 'name'")
        raw_lines = data.get("lines")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise SchemaError(f"{source}: 'lines' must be a non-empty list")
        lines: list[Line] = []
        seen: set[str] = set()
        for i, entry in enumerate(raw_lines, start=1):
            where = f"line #{i}"
            code = str(need(entry, "code", where))
            if not code.isidentifier() or code in CONTEXT_NAMES:
                raise SchemaError(f"{source}: {where} code {code!r} is not a valid line code")
            if code == CANDIDATE_GROUP or (code[:1] == "C" and code[1:].isdigit()):
                raise SchemaError(f"{source}: {where} code {code!r} is reserved for candidates")
            if code in seen:
                raise SchemaError(f"{source}: {where} code {code!r} is duplicated")
            seen.add(code)
            kind = entry.get("kind", "count")
            if kind not in ("count", "datetime"):
                raise SchemaError(f"{source}: {where} ({code}) kind {kind!r} is not count/datetime")
            required = entry.get("required", True)
            if not isinstance(required, bool):
                raise SchemaError(f"{source}: {where} ({code}) 'required' must be true or false")
            lines.append(Line(code, str(need(entry, "label", where)), kind, required))
        checks: list[Check] = []
        check_codes: set[str] = set()
        for i, entry in enumerate(data.get("checks") or [], start=1):
            where = f"check #{i}"
            code = str(need(entry, "code", where))
            if code in check_codes:
                raise SchemaError(f"{source}: {where} code {code!r} is duplicated")
            check_codes.add(code)
            try:
                expression = Expression(str(need(entry, "expression", where)))
            except ExpressionError as exc:
                raise SchemaError(f"{source}: {where} ({code}): {exc}") from None
            unknown = expression.names - seen - CONTEXT_NAMES
            if unknown:
                raise SchemaError(
                    f"{source}: {where} ({code}) names unknown line(s) {', '.join(sorted(unknown))}"
                )
            severity = entry.get("severity", "hard")
            if severity not in ("hard", "soft"):
                raise SchemaError(
                    f"{source}: {where} ({code}) severity {severity!r} is not hard/soft"
                )
            scope = entry.get("scope", "station")
            if scope not in ("station", "aggregate"):
                raise SchemaError(
                    f"{source}: {where} ({code}) scope {scope!r} is not station/aggregate"
                )
            workflow = entry.get("workflow") or None
            if workflow not in (None, "act"):
                raise SchemaError(f"{source}: {where} ({code}) workflow {workflow!r} is not 'act'")
            checks.append(
                Check(
                    code, expression, severity, str(need(entry, "message", where)), scope, workflow
                )
            )
        raw_roles = data.get("roles") or {}
        if not isinstance(raw_roles, Mapping):
            raise SchemaError(f"{source}: 'roles' must be a table of role = expression")
        roles: dict[str, Expression] = {}
        for role in ROLES:
            if role not in raw_roles:
                raise SchemaError(f"{source}: roles has no {role!r} (needs {', '.join(ROLES)})")
            try:
                roles[role] = Expression(str(raw_roles[role]))
            except ExpressionError as exc:
                raise SchemaError(f"{source}: role {role!r}: {exc}") from None
            unknown = roles[role].names - seen
            if unknown:
                raise SchemaError(
                    f"{source}: role {role!r} names unknown line(s) {', '.join(sorted(unknown))}"
                )
        extra = set(raw_roles) - set(ROLES)
        if extra:
            raise SchemaError(f"{source}: unknown role(s) {', '.join(sorted(extra))}")
        raw_contests = data.get("contests") or []
        if not isinstance(raw_contests, list):
            raise SchemaError(f"{source}: 'contests' must be a list")
        if len(raw_contests) == 1:
            raise SchemaError(
                f"{source}: 'contests' lists one contest; leave it out for a single contest"
            )
        contests: list[Contest] = []
        contest_codes: set[str] = set()
        for i, entry in enumerate(raw_contests, start=1):
            where = f"{source}: contest #{i}"
            if not isinstance(entry, Mapping):
                raise SchemaError(f"{where} must be a table")
            extra = set(entry) - {"code", "name", "valid", "invalid", "win_rule"}
            if extra:
                raise SchemaError(f"{where} has unknown key(s) {', '.join(sorted(extra))}")
            code = str(need(entry, "code", f"contest #{i}"))
            if not _CODE.match(code):
                raise SchemaError(f"{where} code {code!r}: letters, digits, '_' or '-', at most 32")
            if code in contest_codes:
                raise SchemaError(f"{where} code {code!r} is duplicated")
            contest_codes.add(code)
            exprs: dict[str, Expression] = {}
            for key in ("valid", "invalid"):
                try:
                    exprs[key] = Expression(str(need(entry, key, f"contest #{i}")))
                except ExpressionError as exc:
                    raise SchemaError(f"{where} ({code}) {key}: {exc}") from None
                unknown = exprs[key].names - seen
                if unknown or exprs[key].uses_candidates or exprs[key].contest_sums:
                    raise SchemaError(
                        f"{where} ({code}) {key} must name the contest's own lines"
                        + (f", not {', '.join(sorted(unknown))}" if unknown else ", not sum(C)")
                    )
            contests.append(
                Contest(
                    code,
                    str(need(entry, "name", f"contest #{i}")),
                    exprs["valid"],
                    exprs["invalid"],
                    _contest_rule(entry.get("win_rule"), f"{where} ({code})"),
                )
            )
        for check in checks:
            unknown_sums = check.expression.contest_sums - contest_codes
            if unknown_sums:
                raise SchemaError(
                    f"{source}: check {check.code}: sum(C.{sorted(unknown_sums)[0]}) names no "
                    "contest of the protocol"
                )
        for check in checks if contests else ():
            if check.expression.uses_candidates:
                raise SchemaError(
                    f"{source}: check {check.code}: sum(C) adds the candidates of every "
                    "contest; a protocol with contests checks each contest's own lines"
                )
        for role, expr in roles.items() if contests else ():
            if expr.uses_candidates:
                raise SchemaError(f"{source}: role {role!r}: sum(C) mixes the contests")
        for role, expr in roles.items():
            if expr.contest_sums:
                raise SchemaError(f"{source}: role {role!r}: sum(C.…) is for checks only")
        return cls(name, tuple(lines), tuple(checks), roles, tuple(contests))

    @classmethod
    def from_file(cls, path: str | Path) -> ProtocolSchema:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SchemaError(f"{path}: cannot be read ({exc.strerror})") from None
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise SchemaError(
                f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}"
            ) from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def builtin(cls, name: str = DEFAULT_SCHEMA) -> ProtocolSchema:
        path = BUILTIN_DIR / f"{name}.toml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.toml")))
            raise SchemaError(f"no built-in protocol schema {name!r} (known: {known})")
        return cls.from_file(path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lines": [
                {"code": ln.code, "label": ln.label, "kind": ln.kind, "required": ln.required}
                for ln in self.lines
            ],
            "checks": [
                {
                    "code": c.code,
                    "expression": c.source,
                    "severity": c.severity,
                    "scope": c.scope,
                    "message": c.message,
                    **({"workflow": c.workflow} if c.workflow else {}),
                }
                for c in self.checks
            ],
            "roles": {role: expr.source for role, expr in self.roles.items()},
            **({"contests": [c.to_dict() for c in self.contests]} if self.contests else {}),
        }

    # -- queries -----------------------------------------------------------------------
    @property
    def count_lines(self) -> tuple[Line, ...]:
        return tuple(ln for ln in self.lines if ln.kind == "count")

    @property
    def datetime_lines(self) -> tuple[Line, ...]:
        return tuple(ln for ln in self.lines if ln.kind == "datetime")

    def line(self, code: str) -> Line:
        for ln in self.lines:
            if ln.code == code:
                return ln
        raise KeyError(code)

    def columns(self, n_candidates: int) -> list[str]:
        """Protocol columns in order: the schema's lines, then C1 … Cn."""
        return [ln.code for ln in self.lines] + [
            candidate_code(i) for i in range(1, n_candidates + 1)
        ]

    def with_candidates(self, contests: Sequence[str]) -> ProtocolSchema:
        """This schema knowing its candidates' contests (ballot order), for ``sum(C.code)``."""
        if not self.contests:
            return self
        return replace(self, candidate_contests=tuple(contests))

    def candidate_sums(self, votes: Any) -> dict[str, Any]:
        """``C`` (every candidate) and, with contests, ``C.code`` (one contest's candidates),
        from one protocol's votes (a sequence) or an (rows × n) array."""
        array = np.asarray(votes)
        env: dict[str, Any] = {
            CANDIDATE_GROUP: array.sum(axis=1) if array.ndim == 2 else sum(votes)
        }
        n = array.shape[-1] if array.ndim else 0
        if self.contests and len(self.candidate_contests) == n:
            for contest in self.contests:
                columns = [i for i, k in enumerate(self.candidate_contests) if k == contest.code]
                if array.ndim == 2:
                    env[contest_sum_key(contest.code)] = array[:, columns].sum(axis=1)
                else:
                    env[contest_sum_key(contest.code)] = sum(votes[i] for i in columns)
        return env

    def contest(self, code: str) -> Contest:
        for c in self.contests:
            if c.code == code:
                return c
        raise KeyError(code)

    def station_checks(self) -> Iterable[Check]:
        return (c for c in self.checks if c.scope == "station")

    def aggregate_checks(self) -> Iterable[Check]:
        return (c for c in self.checks if c.scope == "aggregate")

    def role(self, role: str, totals: Mapping[str, Any]) -> Any:
        """Evaluate a role (``valid``, ``participants``, …) on line values or sums.

        Lines missing from ``totals`` count as 0 (a unit with no protocols has no sums).
        """
        expr = self.roles[role]
        return expr.evaluate({name: totals.get(name, 0) for name in expr.names})

    # -- evaluation --------------------------------------------------------------------
    def evaluate(
        self,
        values: Mapping[str, Any],
        candidate_votes: Sequence[int],
        context: Mapping[str, Any] | None = None,
        *,
        scope: Scope = "station",
    ) -> list[CheckResult]:
        """Run the checks of one scope on one protocol (or one unit's sums)."""
        env: dict[str, Any] = dict(context or {})
        env.update({k: v for k, v in values.items() if v is not None})
        env.update(self.candidate_sums(list(candidate_votes)))
        results = []
        for check in self.checks:
            if check.scope != scope:
                continue
            sums = [contest_sum_key(k) for k in sorted(check.expression.contest_sums)]
            missing = [n for n in [*check.expression.names, *sums] if n not in env]
            used = {n: env[n] for n in sorted(check.expression.names) if n in env}
            if check.expression.uses_candidates:
                used["sum(C)"] = env[CANDIDATE_GROUP]
            for key in sums:
                if key in env:
                    used[f"sum({key})"] = env[key]
            if missing:
                results.append(CheckResult(check.code, check.severity, None, check.message, used))
                continue
            passed = bool(check.expression.evaluate(env))
            results.append(CheckResult(check.code, check.severity, passed, check.message, used))
        return results

    def failures(
        self,
        columns: Mapping[str, np.ndarray],
        candidates: np.ndarray,
        context: Mapping[str, Any] | None = None,
        *,
        scope: Scope = "station",
    ) -> dict[str, np.ndarray]:
        """Vectorised: for each check of ``scope``, a boolean array of the failing rows.

        ``columns`` maps line codes to arrays (float arrays may carry NaN for empty cells;
        such rows are not applicable to checks naming that line). ``candidates`` is an
        (rows × n) array of candidate votes.
        """
        env: dict[str, Any] = dict(context or {})
        env.update(columns)
        if candidates.ndim == 2:
            env.update(self.candidate_sums(candidates))
        else:
            env[CANDIDATE_GROUP] = candidates
        out: dict[str, np.ndarray] = {}
        for check in self.checks:
            if check.scope != scope:
                continue
            applicable = np.ones(len(env[CANDIDATE_GROUP]), dtype=bool)
            sums = [contest_sum_key(k) for k in check.expression.contest_sums]
            if any(name not in env for name in [*check.expression.names, *sums]):
                out[check.code] = ~applicable  # a line not given at all: not applicable
                continue
            for name in check.expression.names:
                column = env[name]
                if isinstance(column, np.ndarray) and column.dtype.kind == "f":
                    applicable &= ~np.isnan(column)
            with np.errstate(invalid="ignore"):
                holds = np.asarray(check.expression.evaluate(env), dtype=bool)
            out[check.code] = applicable & ~holds
        return out
