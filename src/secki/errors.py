"""One error type for every intake channel, mapped to one JSON error shape by the API:

    {"error": {"code": "hard_check_failed", "message": "…", "field": "L14", "details": [...]}}

``code`` is stable and machine-readable; ``message`` names the line or rule; ``status`` is the
HTTP status the API answers with.

``message`` is translated when it is read, into the language active then (the request's, from
``LocaleMiddleware``: the language cookie or Accept-Language): raise with an English text
marked ``gettext_noop`` and its ``params`` (``%(name)s`` placeholders), and every reader (the
API's error body, a staff page's message) shows it in its user's language. A message already
translated or unknown to the catalogue shows as it is.

This module is pure (no Django): the site installs Django's ``gettext`` as :data:`translate`
when it starts (``secki.accounts``' AppConfig); without it messages stay English.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _as_is(text: str) -> str:
    return text


#: an English text of the catalogue in the active language (Django's gettext, once installed)
translate: Callable[[str], str] = _as_is


class Text(str):
    """A parameter that is itself a text of the catalogue (a built-in check's message): shown
    translated too, when the catalogue knows it."""

    __slots__ = ()


def localized(template: str, params: dict[str, Any] | None = None) -> str:
    """``template`` in the active language, with ``params`` filled in."""
    text = translate(template) if template else template
    if not params:
        return text
    return text % {k: translate(v) if isinstance(v, Text) and v else v for k, v in params.items()}


def english(template: str, params: dict[str, Any] | None = None) -> str:
    return template % params if params else template


class IntakeError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        params: dict[str, Any] | None = None,
        status: int = 422,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(english(message, params))
        self.code = code
        self.template = message
        self.params = params
        self.status = status
        self.field = field
        self.details = details or []

    @property
    def message(self) -> str:
        return localized(self.template, self.params)

    def as_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        if self.details:
            error["details"] = self.details
        return {"error": error}
