"""Hand-written SQL that still yields model instances, for the intake hot path.

Every protocol or turnout report sent to the API runs a dozen small statements. Through the
ORM each one is compiled anew (select lists over joined models, filters, ordering), and that
compilation was the largest cost of an accept in the profile. Here the statements are plain
SQL written once, and rows become model instances with the same conversions the ORM applies
(:meth:`Field.get_db_converters` and the backend's), so the rest of the code cannot tell the
difference. Inserts go through :meth:`Field.pre_save` / :meth:`Field.get_db_prep_save` as
``Model.save`` does (no signals: none are connected to the models inserted here).

On PostgreSQL the statements go through a server-side-binding cursor (:func:`cursor`), so
psycopg prepares each one after a few executions and the server stops parsing and planning
them on every request (Django's own cursors bind parameters on the client, which cannot be
prepared). Only for rows the hot path reads and writes; everything else stays on the ORM.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)

_Converter = tuple[int, list[Callable[..., Any]], Any]


@dataclass(frozen=True)
class Columns:
    """A model's concrete columns, and the converters its values need on this database."""

    model: type[models.Model]
    table: str
    attnames: tuple[str, ...]
    db_columns: tuple[str, ...]
    converters: tuple[_Converter, ...]

    def select(self, alias: str) -> str:
        """``alias."col", …`` in the model's field order."""
        quote = connection.ops.quote_name
        return ", ".join(f"{alias}.{quote(c)}" for c in self.db_columns)

    def __len__(self) -> int:
        return len(self.attnames)

    def build(self, row: Sequence[Any], start: int = 0) -> Any:
        """The instance for ``row[start : start + len(self)]``."""
        values = list(row[start : start + len(self.attnames)])
        for index, funcs, expression in self.converters:
            value = values[index]
            for func in funcs:
                value = func(value, expression, connection)
            values[index] = value
        return self.model.from_db(connection.alias, list(self.attnames), values)


@contextlib.contextmanager
def cursor() -> Iterator[Any]:
    """A cursor on Django's connection (same transaction), errors mapped to Django's. On
    PostgreSQL it binds parameters on the server, which lets psycopg prepare statements."""
    if connection.vendor != "postgresql":
        with connection.cursor() as django_cursor:
            yield django_cursor
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, _prepared_cursor()(connection.connection) as pg_cursor:
        yield pg_cursor


@functools.cache
def _prepared_cursor() -> type[Any]:
    import psycopg

    class PreparedCursor(psycopg.Cursor[Any]):
        """Prepares every statement on first use (Django turns psycopg's automatic
        preparation off; the hot path's statements are few and run all the time)."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            kwargs.setdefault("prepare", True)
            return super().execute(query, params, **kwargs)

    return PreparedCursor


_COLUMNS: dict[tuple[type[models.Model], str], Columns] = {}


def columns(model: type[M]) -> Columns:
    key = (model, connection.vendor)
    found = _COLUMNS.get(key)
    if found is None:
        fields = model._meta.concrete_fields
        converters: list[_Converter] = []
        for index, field in enumerate(fields):
            expression = field.get_col(model._meta.db_table)
            funcs = connection.ops.get_db_converters(expression) + expression.get_db_converters(
                connection
            )
            if funcs:
                converters.append((index, funcs, expression))
        found = _COLUMNS[key] = Columns(
            model,
            model._meta.db_table,
            tuple(f.attname for f in fields),
            tuple(f.column for f in fields),
            tuple(converters),
        )
    return found


def fetch_one(model: type[M], where: str, params: Sequence[Any]) -> M | None:
    """``SELECT <all columns> FROM <table> t WHERE <where>``: the first row as an instance."""
    cols = columns(model)
    with cursor() as cur:
        cur.execute(
            f"SELECT {cols.select('t')} FROM {cols.table} t WHERE {where}",  # noqa: S608 - model metadata and the caller's literal SQL
            params,
        )
        row = cur.fetchone()
    return None if row is None else cols.build(row)


def insert(model: type[M], **values: Any) -> M:
    """Insert one row (like ``Model.objects.create``) and return the saved instance."""
    obj = model(**values)
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    assert meta.pk is not None
    with cursor() as cur:
        cur.execute(
            f"INSERT INTO {meta.db_table} ({names}) VALUES ({marks}) "  # noqa: S608 - model metadata
            f"RETURNING {quote(meta.pk.column)}",
            params,
        )
        row = cur.fetchone()
    assert row is not None
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj
