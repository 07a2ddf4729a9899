"""No NUL character reaches a view through the URL.

A NUL byte (``%00``) cannot be part of any election slug, unit or station code, file name
or query value, and PostgreSQL refuses it in a text parameter with an error (a 500 if it
reached a query). One middleware answers such requests before any view runs: ``404`` when
the path holds one (no such page can exist), ``400`` naming the parameter when the query
does; the API's JSON error shape under ``/api/``, Django's pages elsewhere. Request bodies
are the views' business (``secki.inputs.clean_text`` and the forms).
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.views import defaults

from secki.api.main import error


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def nul_parameter(request: HttpRequest) -> str | None:
    """The name of the first query parameter whose name or value holds a NUL, if any."""
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return key.replace("\x00", "\\0")
    return None


class RefuseNulBytes:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info:
            message = gettext("No page has a NUL character in its address.")
            if _is_api(request):
                return error(request, 404, "not_found", message)
            return defaults.page_not_found(request, exception=None)
        if "%00" in request.META.get("QUERY_STRING", "") or "\x00" in request.META.get(
            "QUERY_STRING", ""
        ):
            name = nul_parameter(request)
            if name is not None:
                message = gettext(
                    "The query parameter %(name)s holds a NUL character, which no value may hold."
                ) % {"name": name}
                if _is_api(request):
                    return error(request, 400, "invalid_request", message, field=name)
                return defaults.bad_request(request, exception=SuspiciousOperation(message))
        return self.get_response(request)
