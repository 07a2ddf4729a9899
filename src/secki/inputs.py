"""What every intake accepts, whichever app it feeds (protocols, turnout reports, integrity
samples; forms, API, bulk files): a count is an integer 0 ≤ n < ``MAX_COUNT``, a free text can
be stored (no NUL character, valid Unicode) and fits its column."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext, gettext_noop

from secki.errors import IntakeError
from secki.protocol_schema.schema import MAX_COUNT

#: the longest reason (why a version exists or a correction was made), as every reason column
#: stores it: Protocol, ProtocolEvent and TurnoutReport
REASON_MAX = 500


def quoted(raw: Any) -> str:
    """A value as an error message quotes it (long ones cut short)."""
    text = repr(raw)
    return text if len(text) <= 40 else text[:40] + "…"


def count_in_range(code: str, value: int, *, shown: str | None = None) -> int:
    """``value`` if it is an integer 0 ≤ n < MAX_COUNT, or an IntakeError naming the line
    (and the value as ``shown``, if given)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(line)s: %(value)s is not an integer"),
            params={"line": code, "value": quoted(value)},
            field=code,
        )
    if value < 0:
        raise IntakeError(
            "negative_value",
            gettext_noop("%(line)s: %(value)s is negative; counts are >= 0"),
            params={"line": code, "value": value},
            field=code,
        )
    if value >= MAX_COUNT:
        raise IntakeError(
            "value_too_large",
            gettext("%(line)s: %(value)s is too large: every count is below %(limit)s")
            % {"line": code, "value": shown or quoted(value), "limit": f"{MAX_COUNT:,}"},
            field=code,
        )
    return value


def storable(text: str) -> bool:
    """Whether a database can store and compare ``text`` (a code looked up, a free text):
    PostgreSQL refuses NUL characters, and no database takes text that is not valid Unicode
    (a lone surrogate from a JSON escape)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_storable(field: str, text: str) -> str:
    """``text`` itself, or ``invalid_text`` naming ``field`` when it cannot be stored
    (:func:`storable`)."""
    if not storable(text):
        raise IntakeError(
            "invalid_text",
            gettext("%(field)s: contains a NUL character or invalid Unicode") % {"field": field},
            field=field,
        )
    return text


def clean_text(field: str, value: str | None, max_length: int) -> str:
    """A free text (a reason, an act, a decision reference), stripped: refused when it holds
    a NUL character or is not valid Unicode (neither can be stored) or is longer than its
    database column."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise IntakeError(
            "invalid_text", gettext("%(field)s: must be text") % {"field": field}, field=field
        )
    text = require_storable(field, value.strip())
    if len(text) > max_length:
        raise IntakeError(
            f"{field}_too_long",
            gettext("%(field)s: at most %(limit)s characters (this one has %(length)s)")
            % {"field": field, "limit": max_length, "length": f"{len(text):,}"},
            field=field,
        )
    return text
