"""Observers' checklists as data, like a protocol schema: questions (code, label, type,
allowed values) and QA rules written in the protocol schema's safe expression language
(:class:`secki.protocol_schema.expr.Expression`, no ``eval``).

Question types and what a rule sees of the answer:

* ``yesno`` — ``yes`` / ``no`` (also ``true`` / ``false``, ``1`` / ``0``); 1 or 0;
* ``count`` — a whole number within ``min`` … ``max``; the number;
* ``time`` — ``HH:MM``; minutes after midnight;
* ``choice`` — one of ``values``; its position 1 … n;
* ``text`` — free text (at most ``TEXT_MAX`` characters); not usable in rules.

A ``yesno`` or ``choice`` question may carry ``alert_when`` (an answer, or a list of them):
the answers that matter ("ballot box not shown empty at opening"), counted by constituency on
the observers' dashboard (:mod:`secki.observers.dashboard`).

A rule of severity ``error`` refuses the answers (naming the rule and its questions); a
``warning`` keeps them and is stored as a flag (the answers that matter: "ballot box not shown
empty at opening"). A rule naming an optional question that was not answered is skipped.
The built-in checklists are ``builtin_checklists/*.toml``."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from django.utils.translation import gettext as _

from secki.errors import IntakeError
from secki.inputs import clean_text, quoted
from secki.protocol_schema.expr import Expression, ExpressionError

BUILTIN = Path(__file__).with_name("builtin_checklists")
QuestionType = Literal["yesno", "count", "time", "choice", "text"]
TYPES: tuple[str, ...] = ("yesno", "count", "time", "choice", "text")
TEXT_MAX = 2000
COUNT_MAX = 1_000_000
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_YES = {"yes": 1, "true": 1, "1": 1, "no": 0, "false": 0, "0": 0}


class DefinitionError(ValueError):
    """A checklist definition that is not valid (names the question or rule)."""


@dataclass(frozen=True)
class Question:
    code: str
    label: str
    type: QuestionType
    required: bool = True
    low: int = 0
    high: int = COUNT_MAX
    values: tuple[str, ...] = ()
    #: the answers that matter: the dashboard counts them (``yesno``: "yes"/"no"; ``choice``:
    #: some of ``values``)
    alert_when: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    code: str
    expression: Expression
    severity: Literal["error", "warning"]
    message: str


@dataclass(frozen=True)
class Checklist:
    code: str
    title: str
    questions: tuple[Question, ...]
    rules: tuple[Rule, ...] = ()
    position: int = 0
    _by_code: dict[str, Question] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checklist:
        code = str(data.get("code", ""))
        if not _CODE.match(code):
            raise DefinitionError(f"code: {code!r} is not a checklist code")
        title = str(data.get("title", "")).strip()
        if not title:
            raise DefinitionError(f"{code}: a title is required")
        questions: list[Question] = []
        for raw in data.get("questions", []):
            questions.append(_question(code, raw))
        if not questions:
            raise DefinitionError(f"{code}: at least one question")
        by_code = {q.code: q for q in questions}
        if len(by_code) != len(questions):
            raise DefinitionError(f"{code}: a question code appears twice")
        rules: list[Rule] = []
        for raw in data.get("rules", []):
            rules.append(_rule(code, raw, by_code))
        if len({r.code for r in rules}) != len(rules):
            raise DefinitionError(f"{code}: a rule code appears twice")
        return cls(
            code,
            title,
            tuple(questions),
            tuple(rules),
            int(data.get("position", 0)),
            by_code,
        )

    @classmethod
    def from_file(cls, path: Path) -> Checklist:
        with path.open("rb") as f:
            return cls.from_dict(tomllib.load(f))

    def to_dict(self) -> dict[str, Any]:
        questions: list[dict[str, Any]] = []
        for q in self.questions:
            item: dict[str, Any] = {
                "code": q.code,
                "label": q.label,
                "type": q.type,
                "required": q.required,
            }
            if q.type == "count":
                item |= {"min": q.low, "max": q.high}
            if q.type == "choice":
                item["values"] = list(q.values)
            if q.alert_when:
                item["alert_when"] = list(q.alert_when)
            questions.append(item)
        return {
            "code": self.code,
            "title": self.title,
            "position": self.position,
            "questions": questions,
            "rules": [
                {
                    "code": r.code,
                    "expression": r.expression.source,
                    "severity": r.severity,
                    "message": r.message,
                }
                for r in self.rules
            ],
        }

    def question(self, code: str) -> Question:
        return self._by_code[code]

    @property
    def critical(self) -> tuple[Question, ...]:
        """The questions with answers that matter (``alert_when``), in their order."""
        return tuple(q for q in self.questions if q.alert_when)

    def check(self, raw: Mapping[str, Any]) -> tuple[dict[str, int | str], list[str]]:
        """The answers, each checked against its question (errors name the question's code),
        and the codes of the warnings they raise; an ``error`` rule that fails refuses them."""
        for key in raw:
            if key not in self._by_code:
                raise IntakeError(
                    "unknown_question",
                    _("%(code)s is not a question of the checklist %(form)s")
                    % {"code": quoted(str(key)), "form": self.code},
                    field=str(key)[:40],
                )
        answers: dict[str, int | str] = {}
        env: dict[str, int] = {}
        for q in self.questions:
            value = raw.get(q.code)
            if value is None or (isinstance(value, str) and not value.strip()):
                if q.required:
                    raise IntakeError(
                        "missing_answer",
                        _("%(code)s: an answer is required") % {"code": q.code},
                        field=q.code,
                    )
                continue
            answer, number = _answer(q, value)
            answers[q.code] = answer
            if number is not None:
                env[q.code] = number
        flags: list[str] = []
        for rule in self.rules:
            if not rule.expression.names <= env.keys():
                continue
            if rule.expression.holds(env):
                continue
            if rule.severity == "error":
                named = sorted(rule.expression.names)
                raise IntakeError(
                    "rule_failed",
                    _("%(rule)s: %(message)s (%(questions)s)")
                    % {
                        "rule": rule.code,
                        "message": _(rule.message),
                        "questions": ", ".join(named),
                    },
                    status=422,
                    field=named[0] if named else None,
                )
            flags.append(rule.code)
        return answers, flags


def _question(form: str, raw: Any) -> Question:
    if not isinstance(raw, Mapping):
        raise DefinitionError(f"{form}: a question must be a table")
    code = str(raw.get("code", ""))
    if not _CODE.match(code):
        raise DefinitionError(f"{form}: {code!r} is not a question code")
    kind = str(raw.get("type", ""))
    if kind not in TYPES:
        raise DefinitionError(f"{form}.{code}: type must be one of {', '.join(TYPES)}")
    label = str(raw.get("label", "")).strip()
    if not label:
        raise DefinitionError(f"{form}.{code}: a label is required")
    low, high = int(raw.get("min", 0)), int(raw.get("max", COUNT_MAX))
    if not 0 <= low <= high <= COUNT_MAX:
        raise DefinitionError(f"{form}.{code}: min and max must satisfy 0 <= min <= max")
    values = tuple(str(v) for v in raw.get("values", ()))
    if kind == "choice" and (len(values) < 2 or len(set(values)) != len(values)):
        raise DefinitionError(f"{form}.{code}: a choice needs two or more distinct values")
    return Question(
        code,
        label,
        kind,  # type: ignore[arg-type]
        bool(raw.get("required", True)),
        low,
        high,
        values,
        _alert_when(form, code, kind, values, raw.get("alert_when")),
    )


def _alert_when(
    form: str, code: str, kind: str, values: tuple[str, ...], raw: Any
) -> tuple[str, ...]:
    if raw is None:
        return ()
    found = (raw,) if isinstance(raw, str) else tuple(raw) if isinstance(raw, list) else None
    allowed = ("yes", "no") if kind == "yesno" else values if kind == "choice" else ()
    if not allowed:
        raise DefinitionError(f"{form}.{code}: alert_when is for yesno and choice questions")
    if (
        not found
        or any(not isinstance(v, str) or v not in allowed for v in found)
        or len(set(found)) != len(found)
        or len(found) == len(allowed)
    ):
        raise DefinitionError(
            f"{form}.{code}: alert_when must name some (not all) of {', '.join(allowed)}"
        )
    return tuple(str(v) for v in found)


def _rule(form: str, raw: Any, questions: Mapping[str, Question]) -> Rule:
    code = str(raw.get("code", ""))
    if not _CODE.match(code):
        raise DefinitionError(f"{form}: {code!r} is not a rule code")
    try:
        expression = Expression(str(raw.get("expression", "")))
    except ExpressionError as exc:
        raise DefinitionError(f"{form}.{code}: {exc}") from None
    if expression.uses_candidates:
        raise DefinitionError(f"{form}.{code}: sum(C) has no meaning in a checklist")
    for name in expression.names:
        if name not in questions:
            raise DefinitionError(f"{form}.{code}: {name} is not a question")
        if questions[name].type == "text":
            raise DefinitionError(f"{form}.{code}: {name} is free text, not usable in a rule")
    severity = str(raw.get("severity", "warning"))
    if severity not in ("error", "warning"):
        raise DefinitionError(f"{form}.{code}: severity must be error or warning")
    message = str(raw.get("message", "")).strip()
    if not message:
        raise DefinitionError(f"{form}.{code}: a message is required")
    return Rule(code, expression, severity, message)  # type: ignore[arg-type]


def _answer(q: Question, value: Any) -> tuple[int | str, int | None]:
    if q.type == "text":
        return clean_text(q.code, value if isinstance(value, str) else str(value), TEXT_MAX), None
    if isinstance(value, bool):
        if q.type == "yesno":
            return ("yes" if value else "no"), int(value)
        raise _invalid(q, value)
    text = str(value).strip()
    if q.type == "yesno":
        number = _YES.get(text.lower())
        if number is None:
            raise IntakeError(
                "invalid_answer",
                _("%(code)s: answer yes or no, not %(value)s")
                % {"code": q.code, "value": quoted(value)},
                field=q.code,
            )
        return ("yes" if number else "no"), number
    if q.type == "count":
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise _invalid(q, value)
        number = int(text)
        if not q.low <= number <= q.high:
            raise IntakeError(
                "out_of_range",
                _("%(code)s: %(value)s is not between %(low)s and %(high)s")
                % {"code": q.code, "value": number, "low": q.low, "high": q.high},
                field=q.code,
            )
        return number, number
    if q.type == "time":
        match = _TIME.match(text)
        if match is None:
            raise IntakeError(
                "invalid_answer",
                _("%(code)s: %(value)s is not a time (HH:MM)")
                % {"code": q.code, "value": quoted(value)},
                field=q.code,
            )
        hours, minutes = int(match[1]), int(match[2])
        return f"{hours:02d}:{minutes:02d}", hours * 60 + minutes
    # choice
    if text not in q.values:
        raise IntakeError(
            "invalid_answer",
            _("%(code)s: %(value)s is not one of %(values)s")
            % {"code": q.code, "value": quoted(value), "values": ", ".join(q.values)},
            field=q.code,
        )
    return text, q.values.index(text) + 1


def _invalid(q: Question, value: Any) -> IntakeError:
    return IntakeError(
        "invalid_answer",
        _("%(code)s: %(value)s is not a whole number") % {"code": q.code, "value": quoted(value)},
        field=q.code,
    )


def builtin() -> list[Checklist]:
    """The checklists shipped with Secki (opening, voting, counting), in their order."""
    found = [Checklist.from_file(p) for p in sorted(BUILTIN.glob("*.toml"))]
    return sorted(found, key=lambda c: (c.position, c.code))
