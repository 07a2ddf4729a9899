"""Writing many rows fast: PostgreSQL's COPY, or the ORM's bulk_create on SQLite.

Used by bulk paths (file upload, bundle import, ledger batches) where a 100,000-station file
means millions of rows; the rows are plain tuples in the order of ``columns``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, models


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def reserve_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys from the table's sequence (PostgreSQL only)."""
    table = model._meta.db_table
    pk = model._meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, pk.column, count],
        )
        return [int(row[0]) for row in cursor.fetchall()]


def write_rows(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert rows (tuples in ``columns`` order; JSON columns as Python objects)."""
    fields = {f.column: f for f in model._meta.concrete_fields}
    json_columns = [i for i, c in enumerate(columns) if isinstance(fields[c], models.JSONField)]
    if is_postgres():
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as wrapper:
            raw = wrapper.cursor
            with raw.copy(f"COPY {model._meta.db_table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    if json_columns:
                        row = list(row)
                        for i in json_columns:
                            row[i] = None if row[i] is None else json.dumps(row[i])
                    copy.write_row(row)
        return
    attnames = [fields[c].attname for c in columns]
    batch: list[models.Model] = []
    for row in rows:
        batch.append(model(**dict(zip(attnames, row, strict=True))))
        if len(batch) >= settings.SECKI_BULK_BATCH:
            model._default_manager.bulk_create(batch)
            batch = []
    if batch:
        model._default_manager.bulk_create(batch)


def insert_objects(
    model: type[models.Model], objects: Sequence[models.Model], batch_size: int
) -> list[Any]:
    """Insert unsaved instances of ``model`` and return them with their ids: COPY with ids
    taken from the table's sequence on PostgreSQL, ``bulk_create`` in batches of
    ``batch_size`` on SQLite."""
    if not is_postgres():
        return model._default_manager.bulk_create(objects, batch_size=batch_size)
    for obj, pk in zip(objects, reserve_ids(model, len(objects)), strict=True):
        obj.pk = pk
    fields = list(model._meta.concrete_fields)
    write_rows(
        model,
        [f.column for f in fields],
        ([getattr(obj, f.attname) for f in fields] for obj in objects),
    )
    return list(objects)


def analyze(*models_: type[models.Model]) -> None:
    """Refresh PostgreSQL's planner statistics after a bulk load.

    Right after a large load the statistics still describe nearly empty tables, and the
    planner picks nested loops that take minutes on a national election; autovacuum would
    catch up only later. Run inside the loading transaction: PostgreSQL's ANALYZE counts the
    transaction's own new rows. SQLite needs nothing.

    A table the load left empty is not analyzed: statistics that say "empty" make the planner
    choose sequential scans for it, and a connection keeps such a plan (a foreign key's check
    among them) while the table fills. Never analyzed, the table is planned as one of some
    size, with its indexes, until autovacuum analyzes it.
    """
    if not is_postgres():
        return
    with connection.cursor() as cursor:
        tables = []
        for model in models_:
            table = model._meta.db_table
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 - model metadata
            if cursor.fetchone()[0]:
                tables.append(table)
        if tables:
            cursor.execute("ANALYZE " + ", ".join(tables))
