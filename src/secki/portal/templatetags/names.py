"""``{{ record|local }}``, ``{{ candidate|local:"party" }}``: a registry name in the visitor's
language (:func:`secki.elections.names.local`). A built-in of every template (settings), so
public and staff pages alike show names the one way."""

from __future__ import annotations

from typing import Any

from django import template

from secki.elections.names import local as local_name

register = template.Library()


@register.filter
def local(record: Any, field: str = "name") -> str:
    return local_name(record, field)
