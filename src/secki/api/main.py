"""The API object: routers, the one error shape, exception mapping."""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from secki.accounts.access import AccessDenied
from secki.errors import IntakeError

api = NinjaAPI(
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
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v})
    return api.create_response(request, {"error": body}, status=status)


@api.exception_handler(IntakeError)
def on_intake_error(request: HttpRequest, exc: IntakeError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(AccessDenied)
def on_access_denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    status = 401 if exc.code == "not_authenticated" else 403
    return error(request, status, exc.code, exc.message)


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    details = [
        {
            "field": ".".join(str(p) for p in e.get("loc", [])[1:]) or None,
            "message": e.get("msg", ""),
        }
        for e in exc.errors
    ]
    first = details[0] if details else {"field": None, "message": "invalid request"}
    return error(
        request,
        400,
        "invalid_request",
        f"{first['field'] or 'request'}: {first['message']}",
        field=first["field"],
        details=details,
    )


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error(request, 404, "not_found", str(exc) or "not found")


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error(request, 401, "not_authenticated", "log in or send a valid API token")


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


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After`` while the database cannot be reached (:mod:`secki.unavailable`
    also answers it for errors raised outside the API's operations, e.g. in a middleware)."""
    message = gettext("The database is unavailable at the moment; retry in a few seconds.")
    return retry_later(error(request, 503, "database_unavailable", message))


def register_routers() -> None:
    from secki.elections.api import router as elections_router
    from secki.integrity.api import router as integrity_router
    from secki.protocols.api import router as protocols_router
    from secki.protocols.scans_api import router as scans_router
    from secki.results.api import router as results_router
    from secki.turnout.api import router as turnout_router

    api.add_router("/elections", elections_router)
    api.add_router("/elections", protocols_router)
    api.add_router("/elections", scans_router)
    api.add_router("/elections", turnout_router)
    api.add_router("/elections", results_router)
    api.add_router("/elections", integrity_router)


register_routers()
