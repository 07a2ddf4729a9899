"""Shared API schemas: the one error shape, the base classes of request and response bodies,
and the error answers an operation documents.

Request bodies are strict (``In``): a JSON ``"5"`` is not the number 5 and ``1`` is not
``true``, so that what the OpenAPI description says is exactly what is accepted. Response
bodies (``Out``) forbid keys they do not declare, so an answer can never carry a field its
schema does not describe (tests and ``make fuzz`` validate answers against the schema).
"""

from __future__ import annotations

from typing import Annotated

from ninja import Schema
from pydantic import BeforeValidator, ConfigDict, Field

from secki.protocol_schema.schema import MAX_COUNT


def _integral(value: object) -> object:
    """JSON has one number type: ``5.0`` is the integer 5 (as JSON Schema says), ``5.5`` and
    ``"5"`` are not integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: makes an ``int`` of a strict request body (:class:`In`) take ``5`` or ``5.0``, never ``"5"``
#: or ``true``; put it last: ``Annotated[int, Field(ge=0), INTEGRAL]`` (bounds placed after it
#: would not reach the OpenAPI description)
INTEGRAL = BeforeValidator(_integral)
JsonInt = Annotated[int, INTEGRAL]
#: a count of voters or ballots in a request body: 0 ≤ n < :data:`MAX_COUNT`, as every intake
#: path bounds it (a bound that depends on the station's register is the action's: 422)
Count = Annotated[int, Field(ge=0, lt=MAX_COUNT), INTEGRAL]

#: a string holding a character that :meth:`str.strip` keeps, i.e. not blank. Every character
#: Python counts as white space is spelled out, so that the OpenAPI description's pattern reads
#: the same as an ECMA, a Python and a Rust regular expression (``\S`` does not: U+001C…U+001F,
#: U+0085 and U+FEFF differ between them)
NOT_BLANK = r"[^\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
#: the station a request body names: at most 64 characters, not blank. The pattern is the
#: description's; the lookup of the code (stripped) refuses a blank one, 400 ``missing_station``
#: naming the field, which the pattern thus predicts
StationCode = Annotated[str, Field(max_length=64, json_schema_extra={"pattern": NOT_BLANK})]


class In(Schema):
    """A request body: strict types, unknown keys ignored."""

    model_config = ConfigDict(strict=True)


class Out(Schema):
    """A response body: every key declared."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Schema):
    """One item of an error's ``details``: which of the keys appear depends on the error (a
    request field, a line of an uploaded file, a failed control relation, a station)."""

    field: str | None = None
    message: str | None = None
    code: str | None = None
    severity: str | None = None
    values: dict[str, int | float | str | None] | None = None
    file: str | None = None
    line: int | None = None
    station: str | None = None
    status: str | None = None
    time: str | None = None


class ErrorBody(Schema):
    code: str
    message: str
    field: str | None = None
    details: list[ErrorDetail] | None = None


class ErrorOut(Schema):
    """``{"error": {"code", "message", "field"?, "details"?}}``: every error of the API."""

    error: ErrorBody


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """The error answers of an operation, for its ``response=`` (400 for a request that does
    not fit its schema, 413 for a body that is too large and 503 while the database is down
    are added to every operation's description by :mod:`secki.api.main`)."""
    return dict.fromkeys(statuses, ErrorOut)


#: the error answers every write endpoint may give, for its OpenAPI description
WRITE_ERRORS: dict[int, type[ErrorOut]] = errors(400, 401, 403, 404, 409, 422)
#: reads of an election's data that need a role (or the data to be public)
READ_ERRORS: dict[int, type[ErrorOut]] = errors(401, 403, 404)
