"""Names of the registry in the visitor's language.

An election, unit, station or candidate has its English ``name`` (required) and may have
translations (``name_az``, ``name_ru``; a candidate's party likewise ``party_az``,
``party_ru``: docs/formats.md). :func:`local` is the one place that picks the text for the
active language, falling back to the English field; pages use it through the ``local``
template filter, the API and the open-data files give every translation beside ``name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from django.utils.translation import get_language

from secki.bundle import NAME_LANGUAGES, translated


def language_of(code: str | None) -> str:
    """The base language of a language code (``ru-ru`` → ``ru``; none → ``en``)."""
    return (code or "en").split("-")[0].lower()


def local(record: Any, field: str = "name", language: str | None = None) -> str:
    """``record``'s ``field`` in ``language`` (default: the active language): its translation
    when the record has one, else the field itself. ``record`` is a model instance, any
    object with the same attributes or a mapping with the same keys (a JSON answer's unit);
    None gives ""."""
    if record is None:
        return ""
    get = record.get if isinstance(record, Mapping) else partial(getattr, record)
    base = language_of(language or get_language())
    if base in NAME_LANGUAGES:
        text = get(f"{field}_{base}", "") or ""
        if text:
            return str(text)
    return str(get(field, "") or "")


def translations(record: Any, field: str = "name") -> dict[str, str | None]:
    """``field``'s translations as extra keys of a JSON answer (``name_az``, ``name_ru``:
    the text, or None when not given)."""
    keys = _KEYS.get(field)
    if keys is None:  # the national answer asks for these for every unit and candidate
        keys = _KEYS[field] = tuple(translated(field))
    return {key: (getattr(record, key, "") or None) for key in keys}


_KEYS: dict[str, tuple[str, ...]] = {}  # field → its translations' keys
