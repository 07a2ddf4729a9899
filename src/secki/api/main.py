"""The API object, the one error shape, exception mapping (the routers are added by
:mod:`secki.apiroutes`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext, gettext_noop
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema

from secki.accounts.access import AccessDenied
from secki.api.schemas import ErrorOut
from secki.errors import IntakeError, localized


class SeckiAPI(NinjaAPI):
    """The API object, whose OpenAPI description also documents the error answers every
    operation can give whatever its own ``response=`` says, because they come from the
    exception handlers below: 400 when the request does not fit its schema (any operation with
    parameters or a body), 413 when the body is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``
    (any operation with a body) and 503 while the database cannot be reached (all)."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        definition = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(definition.pop("$defs", {}))
        components.setdefault("ErrorOut", definition)
        for operations in schema["paths"].values():
            for operation in operations.values():
                add_common_errors(operation)
        return schema


#: what each added status means, for its OpenAPI description
COMMON_ERRORS = {
    400: "The request does not fit this operation's schema.",
    413: "The request body is larger than the server accepts.",
    503: "The database is unavailable; retry after Retry-After seconds.",
}


def _can_be_invalid(parameter: dict[str, Any]) -> bool:
    """Whether a parameter's value can fail validation: it is required in the query, or its
    schema is more than "any string" (a path parameter is always there)."""
    schema = {k: v for k, v in parameter.get("schema", {}).items() if k not in ("title",)}
    if parameter.get("in") == "query" and parameter.get("required"):
        return True
    return schema not in ({"type": "string"}, {"type": "string", "default": schema.get("default")})


def add_common_errors(operation: dict[str, Any]) -> None:
    statuses = [503]
    if "requestBody" in operation:
        statuses += [400, 413]
    elif any(_can_be_invalid(p) for p in operation.get("parameters", [])):
        statuses.append(400)
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    responses = operation.setdefault("responses", {})  # keyed by int, as django-ninja does
    for status in statuses:
        if status not in responses and str(status) not in responses:
            responses[status] = {"description": COMMON_ERRORS[status], "content": content}
    if 503 in responses:
        responses[503].setdefault("headers", {})["Retry-After"] = {
            "description": "seconds to wait before retrying",
            "schema": {"type": "string"},
        }


api = SeckiAPI(
    title="Secki API",
    version="1",
    description=(
        "Election results: registry, turnout, protocols and totals. Writes need "
        "`Authorization: Bearer <token>`; send `Idempotency-Key` to make a retry safe. "
        'Every error has the shape `{"error": {"code", "message", "field"?, '
        '"details"?}}`.'
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def error(request: HttpRequest, status: int, code: str, message: str, **extra: Any) -> HttpResponse:
    """The one error body of the API; ``message`` is shown in the request's language (the
    catalogue's translation of an English text marked ``gettext_noop``), ``code`` never
    changes."""
    body: dict[str, Any] = {"code": code, "message": localized(message)}
    body.update({k: v for k, v in extra.items() if v})
    return api.create_response(request, {"error": body}, status=status)


@api.exception_handler(IntakeError)
def on_intake_error(request: HttpRequest, exc: IntakeError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(AccessDenied)
def on_access_denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    status = 401 if exc.code == "not_authenticated" else 403
    return error(request, status, exc.code, exc.message)


def _field(loc: Sequence[Any]) -> str | None:
    """The request field a validation error names: ``("body", "payload", "votes", "C1")`` is
    ``votes.C1`` (the body's parameter name is no field of the request), ``("query", "top")``
    is ``top``."""
    parts = list(loc[1:])
    if loc and loc[0] == "body" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or None


#: the request-validation errors (pydantic's error ``type``) in words of the catalogue, with
#: the rule's limits (pydantic's ``ctx``) as parameters; other types keep pydantic's English
VALIDATION_MESSAGES: dict[str, str] = {
    "missing": gettext_noop("required"),
    "int_parsing": gettext_noop("not a whole number"),
    "int_type": gettext_noop("must be a whole number"),
    "int_from_float": gettext_noop("must be a whole number, without a fractional part"),
    "float_parsing": gettext_noop("not a number"),
    "float_type": gettext_noop("must be a number"),
    "finite_number": gettext_noop("must be a finite number"),
    "string_type": gettext_noop("must be text"),
    "string_too_short": gettext_noop("at least %(min_length)s characters"),
    "string_too_long": gettext_noop("at most %(max_length)s characters"),
    "string_pattern_mismatch": gettext_noop("does not have the expected form"),
    "too_short": gettext_noop("at least %(min_length)s items"),
    "too_long": gettext_noop("at most %(max_length)s items"),
    "greater_than_equal": gettext_noop("must be at least %(ge)s"),
    "greater_than": gettext_noop("must be greater than %(gt)s"),
    "less_than_equal": gettext_noop("must be at most %(le)s"),
    "less_than": gettext_noop("must be less than %(lt)s"),
    "bool_parsing": gettext_noop("must be true or false"),
    "bool_type": gettext_noop("must be true or false"),
    "list_type": gettext_noop("must be a list"),
    "dict_type": gettext_noop("must be an object"),
    "model_type": gettext_noop("must be an object"),
    "model_attributes_type": gettext_noop("must be an object"),
    "extra_forbidden": gettext_noop("not a field of this request"),
    "literal_error": gettext_noop("must be one of %(expected)s"),
    "enum": gettext_noop("must be one of %(expected)s"),
    "json_invalid": gettext_noop("the body is not valid JSON"),
    "date_parsing": gettext_noop("not a date (YYYY-MM-DD)"),
    "date_from_datetime_parsing": gettext_noop("not a date (YYYY-MM-DD)"),
    "datetime_parsing": gettext_noop("not a date and time (ISO 8601)"),
    "datetime_from_date_parsing": gettext_noop("not a date and time (ISO 8601)"),
}


def validation_message(found: dict[str, Any]) -> str:
    """One request-validation error in the active language."""
    template = VALIDATION_MESSAGES.get(str(found.get("type", "")))
    if template is None:
        return str(found.get("msg", ""))
    ctx = {k: str(v) for k, v in (found.get("ctx") or {}).items()}
    try:
        return gettext(template) % ctx if "%(" in template else gettext(template)
    except (KeyError, ValueError, TypeError):
        return str(found.get("msg", ""))


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    details = [
        {"field": _field(e.get("loc", [])), "message": validation_message(e)} for e in exc.errors
    ]
    if not details:
        return error(request, 400, "invalid_request", gettext_noop("invalid request"))
    first = details[0]
    return error(
        request,
        400,
        "invalid_request",
        gettext("%(field)s: %(message)s")
        % {"field": first["field"] or gettext("request"), "message": first["message"]},
        field=first["field"],
        details=details,
    )


@api.exception_handler(RequestDataTooBig)
def on_body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """Django refuses to read a body above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (its own answer would
    be an HTML 400): the API's error shape, and the status that says why."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
    message = gettext("The request body is larger than %(limit)s bytes.") % {"limit": limit}
    return error(request, 413, "body_too_large", message)


@api.exception_handler(TooManyFieldsSent)
@api.exception_handler(TooManyFilesSent)
def on_too_many_fields(
    request: HttpRequest, exc: TooManyFieldsSent | TooManyFilesSent
) -> HttpResponse:
    message = gettext("The form has more fields or files than the server accepts.")
    return error(request, 400, "too_many_fields", message)


@api.exception_handler(MultiPartParserError)
def on_bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    message = gettext("The multipart form data cannot be read: %(reason)s") % {"reason": exc}
    return error(request, 400, "invalid_multipart", message)


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(request, 404, "not_found", str(exc) or gettext_noop("not found"))


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error(
        request, 401, "not_authenticated", gettext_noop("log in or send a valid API token")
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error(request, exc.status_code, "http_error", str(exc))


#: seconds a client should wait before retrying while the database is down (``Retry-After``)
RETRY_AFTER = 5

log = logging.getLogger(__name__)


def retry_later(response: HttpResponse) -> HttpResponse:
    """Mark a 503 answer: ``Retry-After``, and never cached."""
    response["Retry-After"] = str(RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    return response


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def on_database_down(request: HttpRequest, exc: OperationalError | InterfaceError) -> HttpResponse:
    log.warning("database unavailable: %s %s: %s", request.method, request.path, exc)
    return database_unavailable(request)


def not_found(request: HttpRequest) -> HttpResponse:
    """404 in the API's error shape for an address under ``/api/`` that names no operation (a
    path parameter that does not fit its converter): :mod:`secki.unavailable`'s handler."""
    return error(request, 404, "not_found", gettext_noop("not found"))


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After`` while the database cannot be reached (:mod:`secki.unavailable`
    also answers it for errors raised outside the API's operations, e.g. in a middleware)."""
    message = gettext("The database is unavailable at the moment; retry in a few seconds.")
    return retry_later(error(request, 503, "database_unavailable", message))
