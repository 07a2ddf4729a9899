"""While the database cannot be reached: ``503 Service Unavailable`` with ``Retry-After``.

A database server that is down, restarting, in crash recovery ("the database system is
starting up" / "in recovery mode") or that dies mid-request makes psycopg raise
``OperationalError`` (connection refused, server closed the connection, SQLSTATE 57P03) or
``InterfaceError`` (a connection already closed), which Django re-raises as its own classes.
Both are answered with 503 — the API's JSON error shape (``secki.api.main``) under ``/api/``,
the ``503.html`` page elsewhere — whether they escape a view (:class:`DatabaseUnavailable`),
the API's operations (its exception handlers) or a middleware (:func:`server_error`, the
``handler500``). The page uses no database, session or user: it renders while the database is
down. SQLite's ``OperationalError`` ("database is locked", a disk error) is answered the same.

Recovery needs no restart: a connection broken mid-request is closed at the end of that
request (Django's ``close_old_connections``, on ``request_finished``), and with
``CONN_HEALTH_CHECKS`` a persistent connection that broke while its thread was idle is
checked and replaced before the request's first statement (by Django's own statements, and
by :mod:`secki.rawsql`'s, which go to psycopg directly and so make the same check).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.views import defaults

from secki.api.main import database_unavailable, retry_later
from secki.api.main import not_found as api_not_found

#: the exceptions of a database that cannot be reached
DATABASE_DOWN = (OperationalError, InterfaceError)

logger = logging.getLogger(__name__)


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """The 503 answer for ``request``: the API's JSON error or the HTML page."""
    logger.warning("database unavailable: %s %s: %s", request.method, request.path, exc)
    if is_api(request):
        return database_unavailable(request)
    return page(request)


def page(request: HttpRequest) -> HttpResponse:
    """The 503 page, rendered without context processors (no session, user or messages)."""
    body = loader.get_template("503.html").render({"request": request})
    return retry_later(HttpResponse(body, status=503))


class DatabaseUnavailable:
    """Answers 503 when a view raises a database-unreachable error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, DATABASE_DOWN):
            return unavailable(request, exc)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: 503 when the error was the database's (raised in a middleware, e.g. the
    session's), Django's own 500 otherwise."""
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_DOWN):
        return unavailable(request, exc)
    return defaults.server_error(request)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 404 answer of an address no URL pattern matches: the API's JSON error under
    ``/api/`` (its clients read JSON), the site's 404 page elsewhere."""
    if is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)
