"""Hand-written SQL that still yields model instances, for the intake hot path.

Every protocol or turnout report sent to the API runs a dozen small statements. Through the
ORM each one is compiled anew (select lists over joined models, filters, ordering), and that
compilation was the largest cost of an accept in the profile. Here the statements are plain
SQL written once, and rows become model instances with the same conversions the ORM applies
(:meth:`Field.get_db_converters` and the backend's), so the rest of the code cannot tell the
difference. Inserts go through :meth:`Field.pre_save` / :meth:`Field.get_db_prep_save` as
``Model.save`` does (no signals: none are connected to the models inserted here).

On PostgreSQL the statements go through a server-side-binding cursor (:func:`cursor`), so
psycopg prepares each one on first use and the server stops parsing and planning them on every
request (Django's own cursors bind parameters on the client, which cannot be prepared); behind
a transaction-pooling PgBouncer nothing is prepared (:func:`_cursor_class`). Only for rows
the hot path reads and writes; everything else stays on the ORM.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import signals
from django.db.models.base import ModelState

M = TypeVar("M", bound=models.Model)

_Converter = tuple[int, list[Callable[..., Any]], Any]


def db() -> BaseDatabaseWrapper:
    """This thread's connection: the primary's, or a replica's inside a public read
    (:func:`secki.replicas.alias`). (``django.db.connection`` is a proxy that looks it up on
    every attribute access; the hot path resolves it once per call.) With one database (no
    replicas) the router is not asked."""
    if len(connections.settings) == 1:
        return connections[DEFAULT_DB_ALIAS]
    return connections[router.db_for_read(models.Model)]


@dataclass(frozen=True)
class Columns:
    """A model's concrete columns, and the converters its values need on this database."""

    model: type[models.Model]
    table: str
    attnames: tuple[str, ...]
    quoted: tuple[str, ...]
    converters: tuple[_Converter, ...]
    insert_fields: tuple[Any, ...]
    insert_sql: str
    _selects: dict[str, str] = field(default_factory=dict, compare=False)

    def select(self, alias: str) -> str:
        """``alias."col", …`` in the model's field order."""
        found = self._selects.get(alias)
        if found is None:
            found = self._selects[alias] = ", ".join(f"{alias}.{c}" for c in self.quoted)
        return found

    def __len__(self) -> int:
        return len(self.attnames)

    def build(self, row: Sequence[Any], start: int = 0) -> Any:
        """The instance for ``row[start : start + len(self)]``: what ``Model.from_db`` makes of
        every concrete field's value. For a model that keeps Django's own ``__init__``,
        ``from_db`` and ``__setattr__`` and has no ``pre_init``/``post_init`` receiver, made
        without ``Model.__init__``'s generic path (its signals, its argument checks): the
        values set as the attributes it would set, the state of an instance read from the
        database."""
        values = list(row[start : start + len(self.attnames)])
        if self.converters:
            conn = db()
            for index, funcs, expression in self.converters:
                value = values[index]
                for func in funcs:
                    value = func(value, expression, conn)
                values[index] = value
        model = self.model
        if (
            self.plain
            and not signals.pre_init.has_listeners(model)
            and not signals.post_init.has_listeners(model)
        ):
            instance = model.__new__(model)
            instance.__dict__.update(zip(self.attnames, values, strict=True))
            state = ModelState()
            state.adding = False
            state.db = DEFAULT_DB_ALIAS
            instance._state = state
            return instance
        return model.from_db(DEFAULT_DB_ALIAS, list(self.attnames), values)

    @functools.cached_property
    def plain(self) -> bool:
        """Whether the model builds its instances as Django's ``Model`` does (no ``__init__``,
        ``from_db`` or ``__setattr__`` of its own)."""
        model = self.model
        return (
            model.__init__ is models.Model.__init__
            and model.from_db.__func__ is models.Model.from_db.__func__  # type: ignore[attr-defined]
            and model.__setattr__ is models.Model.__setattr__
        )


@contextlib.contextmanager
def cursor() -> Iterator[Any]:
    """A cursor on Django's connection (same transaction), errors mapped to Django's. On
    PostgreSQL it binds parameters on the server, which lets psycopg prepare statements."""
    conn = db()
    if conn.vendor != "postgresql":
        with conn.cursor() as django_cursor:
            yield django_cursor
        return
    # As Django's own cursors do: a kept connection is checked once per request
    # (CONN_HEALTH_CHECKS) and replaced if the server restarted meanwhile.
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    raw = conn.connection
    # One cursor per connection (connections are per thread), reused rather than created for
    # every statement on the hot path. A nested use while it is out gets a fresh one.
    slot = _slot
    cached = getattr(slot, "cursor", None)
    if cached is None or cached.connection is not raw or cached.closed:
        cached = slot.cursor = _cursor_class()(raw)
        slot.out = False
    if slot.out:
        with conn.wrap_database_errors, _cursor_class()(raw) as pg_cursor:
            yield pg_cursor
        return
    slot.out = True
    try:
        with conn.wrap_database_errors:
            yield cached
    finally:
        slot.out = False


_slot = threading.local()


def _cursor_class() -> type[Any]:
    """The preparing cursor; behind a transaction-pooling PgBouncer
    (``SECKI_DATABASE_POOLER=pgbouncer-transaction``) psycopg's plain server-binding cursor,
    which prepares nothing: a statement prepared in one transaction would be missing, or
    prepared already under the same name by another client, on the server connection the
    pooler gives the next transaction."""
    from django.conf import settings

    if getattr(settings, "SECKI_DATABASE_POOLER", "none") == "pgbouncer-transaction":
        import psycopg

        return psycopg.Cursor
    return _prepared_cursor()


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


@functools.cache
def vendor() -> str:
    """The default database's vendor (fixed for the life of the process)."""
    return db().vendor


def columns(model: type[M]) -> Columns:
    key = (model, vendor())
    found = _COLUMNS.get(key)
    if found is None:
        conn = db()
        meta = model._meta
        fields = meta.concrete_fields
        converters: list[_Converter] = []
        for index, f in enumerate(fields):
            expression = f.get_col(meta.db_table)
            funcs = conn.ops.get_db_converters(expression) + expression.get_db_converters(conn)
            if funcs:
                converters.append((index, funcs, expression))
        quote = conn.ops.quote_name
        writable = tuple(f for f in fields if not f.primary_key)
        assert meta.pk is not None
        names = ", ".join(quote(f.column) for f in writable)
        marks = ", ".join(["%s"] * len(writable))
        insert_sql = f"INSERT INTO {meta.db_table} ({names}) VALUES ({marks}) "  # noqa: S608 - model metadata
        insert_sql += f"RETURNING {quote(meta.pk.column)}"
        found = _COLUMNS[key] = Columns(
            model,
            meta.db_table,
            tuple(f.attname for f in fields),
            tuple(quote(f.column) for f in fields),
            tuple(converters),
            writable,
            insert_sql,
        )
    return found


def lock_row(model: type[models.Model], pk: int) -> None:
    """Lock one row for the rest of the transaction (``SELECT … FOR UPDATE`` on PostgreSQL;
    SQLite's ``BEGIN IMMEDIATE`` already serialises writers). Read what the lock protects in a
    later statement: one joined to the locking statement would see it as of before the wait.
    A row locked already by :func:`lock_rows` in this transaction costs nothing."""
    if vendor() == "sqlite" or (model, pk) in _held():
        return
    meta = model._meta
    assert meta.pk is not None
    with cursor() as cur:
        cur.execute(
            f"SELECT {meta.pk.column} FROM {meta.db_table} WHERE {meta.pk.column} = %s FOR UPDATE",  # noqa: S608 - model metadata
            [pk],
        )


@contextlib.contextmanager
def lock_rows(rows: Iterable[tuple[type[models.Model], int]]) -> Iterator[None]:
    """Lock many rows at once, in one statement per table and in a fixed order (by table and
    key: two transactions that lock this way cannot deadlock on them), for the rest of the
    transaction; :func:`lock_row` skips them inside the block."""
    wanted = sorted(set(rows), key=lambda r: (r[0]._meta.db_table, r[1]))
    if vendor() != "sqlite":
        by_model: dict[type[models.Model], list[int]] = {}
        for model, pk in wanted:
            by_model.setdefault(model, []).append(pk)
        for model in sorted(by_model, key=lambda m: m._meta.db_table):
            meta = model._meta
            assert meta.pk is not None
            column = meta.pk.column
            with cursor() as cur:
                cur.execute(
                    f"SELECT {column} FROM {meta.db_table} WHERE {column} = ANY(%s) "  # noqa: S608 - model metadata
                    f"ORDER BY {column} FOR UPDATE",
                    [by_model[model]],
                )
    held = _held()
    held.update(wanted)
    try:
        yield
    finally:
        held.difference_update(wanted)


def _held() -> set[tuple[type[models.Model], int]]:
    held: set[tuple[type[models.Model], int]] | None = getattr(_slot, "held", None)
    if held is None:
        held = _slot.held = set()
    return held


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


def insert(
    model: type[M],
    *,
    then: Sequence[tuple[str, list[Any]]] = (),
    also: Sequence[models.Model] = (),
    **values: Any,
) -> M:
    """Insert one row (like ``Model.objects.create``) and return the saved instance.

    ``then`` (PostgreSQL only): data-modifying statements and their parameters, run in the
    same statement, that see the new row's id as ``SELECT id FROM new`` (one round trip for a
    parent row and its children; :func:`children` writes one for unsaved instances). ``also``:
    unsaved instances of other models, inserted with it (their ids are not read back): on
    PostgreSQL in the same statement, elsewhere each by its own."""
    return add(model(**values), then=then, also=also)


def add(
    obj: M, *, then: Sequence[tuple[str, list[Any]]] = (), also: Sequence[models.Model] = ()
) -> M:
    """Insert an unsaved instance (as :func:`insert`) and return it saved, its id set."""
    cols = columns(type(obj))
    conn = db()
    params = [f.get_db_prep_save(f.pre_save(obj, True), conn) for f in cols.insert_fields]
    sql = cols.insert_sql
    others = [(columns(type(o)), o) for o in also]
    together = conn.vendor == "postgresql"
    if then or (others and together):
        parts = [f"new AS ({sql})"]
        for n, (statement, then_params) in enumerate(then):
            parts.append(f"then{n}_ AS ({statement})")
            params += then_params
        if together:
            for n, (ocols, other) in enumerate(others):
                parts.append(f"also{n} AS ({ocols.insert_sql})")
                params += [
                    f.get_db_prep_save(f.pre_save(other, True), conn) for f in ocols.insert_fields
                ]
        sql = f"WITH {', '.join(parts)} SELECT * FROM new"  # noqa: S608 - the caller's literal SQL
    with cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        if not together:
            for ocols, other in others:
                cur.execute(
                    ocols.insert_sql,
                    [
                        f.get_db_prep_save(f.pre_save(other, True), conn)
                        for f in ocols.insert_fields
                    ],
                )
    assert row is not None
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = DEFAULT_DB_ALIAS
    return obj


def children(objs: Sequence[models.Model], parent: str) -> tuple[str, list[Any]]:
    """A ``then`` statement of :func:`insert` (PostgreSQL only) that inserts the unsaved
    instances ``objs`` (of one model), in their order, their foreign key ``parent`` (an
    attname, e.g. ``"protocol_id"``) set to the id of the row :func:`insert` inserts
    (``new``). Each other value goes through its field's :meth:`Field.pre_save` and
    :meth:`Field.get_db_prep_save`, as for :func:`add`. Their ids are not read back; they are
    taken in the order given (one ``INSERT … SELECT … ORDER BY``: data-modifying statements
    of one ``WITH`` run in no order of their own, so each row is not a statement of its
    own)."""
    if not objs:
        raise ValueError("children() needs at least one instance")
    model = type(objs[0])
    if any(type(obj) is not model for obj in objs):
        raise ValueError("children() takes instances of one model")
    sql, given = _children_sql(model, parent, len(objs))
    conn = db()
    params: list[Any] = []
    for n, obj in enumerate(objs):
        params.append(n)
        params += [f.get_db_prep_save(f.pre_save(obj, True), conn) for f in given]
    return sql, params


@functools.cache
def _children_sql(
    model: type[models.Model], parent: str, count: int
) -> tuple[str, tuple[Any, ...]]:
    """:func:`children`' statement for ``count`` rows, and the fields whose values it takes
    (each row: its position, then their values)."""
    cols = columns(model)
    conn = db()
    quote = conn.ops.quote_name
    fields = cols.insert_fields
    if parent not in [f.attname for f in fields]:
        raise ValueError(f"{model.__name__} has no field {parent!r}")
    given = tuple(f for f in fields if f.attname != parent)
    # typed placeholders (a VALUES list would type bare parameters as text), cast to each
    # column's type without its length or precision: an explicit cast to varchar(20) would cut
    # a longer text silently, where the column's own assignment refuses it
    row = (
        "(%s::integer, "
        + ", ".join(f"%s::{re.sub(r'[(].*[)]', '', f.db_type(conn))}" for f in given)
        + ")"
    )
    chosen = [
        f"new.{quote(f.target_field.column)}" if f.attname == parent else f"v.c{given.index(f)}"
        for f in fields
    ]
    aliases = ", ".join(["n", *(f"c{i}" for i in range(len(given)))])
    return (
        f"INSERT INTO {cols.table} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608 - model metadata
        f"SELECT {', '.join(chosen)} FROM new CROSS JOIN (VALUES {', '.join([row] * count)}) "
        f"AS v({aliases}) ORDER BY v.n",
        given,
    )


def insert_many(model: type[M], objs: Sequence[M]) -> None:
    """Insert unsaved instances with one multi-row statement (their ids are not read back)."""
    if not objs:
        return
    cols = columns(model)
    conn = db()
    params: list[Any] = []
    for obj in objs:
        params += [f.get_db_prep_save(f.pre_save(obj, True), conn) for f in cols.insert_fields]
    head = cols.insert_sql[: cols.insert_sql.index(" VALUES ")]
    row = "(" + ", ".join(["%s"] * len(cols.insert_fields)) + ")"
    with cursor() as cur:
        cur.execute(f"{head} VALUES {', '.join([row] * len(objs))}", params)


def insert_rows(model: type[models.Model], rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows given as plain tuples of the model's writable fields' values, in field
    order (``attname`` values: an id for a foreign key), with one multi-row statement: what
    :func:`insert_many` writes, without a model instance per row. Each value goes through its
    field's :meth:`Field.get_db_prep_save`, as for :func:`insert_many` (fields with a
    :meth:`Field.pre_save` of their own, such as ``auto_now``, are not for this function)."""
    if not rows:
        return
    cols = columns(model)
    conn = db()
    fields = cols.insert_fields
    params: list[Any] = []
    for row in rows:
        if len(row) != len(fields):
            raise ValueError(f"a {model.__name__} row has {len(fields)} values, not {len(row)}")
        params += [f.get_db_prep_save(value, conn) for f, value in zip(fields, row, strict=True)]
    head = cols.insert_sql[: cols.insert_sql.index(" VALUES ")]
    row_marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with cursor() as cur:
        cur.execute(f"{head} VALUES {', '.join([row_marks] * len(rows))}", params)


def replication_lag() -> list[tuple[str, float]]:
    """How far behind the primary each streaming replica is, in seconds: on a primary, its
    standbys' replay lag by application name (``pg_stat_replication``); on a standby, its own,
    as ``self`` (the age of the last replayed transaction). Empty on SQLite or without
    replication."""
    if vendor() != "postgresql":
        return []
    with db().cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        (standby,) = cur.fetchone()
        if standby:
            cur.execute(
                "SELECT COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)"
            )
            (lag,) = cur.fetchone()
            return [("self", float(lag))]
        cur.execute(
            "SELECT application_name, COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)"
            " FROM pg_stat_replication ORDER BY application_name"
        )
        return [(str(name), float(lag)) for name, lag in cur.fetchall()]


#: (in recovery, replayed all it received, seconds since the last replayed transaction)
STANDBY_SQL = (
    "SELECT pg_is_in_recovery(),"
    " pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn(),"
    " COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)"
)


def standby_state(alias: str) -> tuple[bool, bool, Any] | None:
    """:data:`STANDBY_SQL`'s row on the database ``alias``, or None when it does not answer
    (its connection is then closed, to be opened anew at the next try)."""
    try:
        with connections[alias].cursor() as cur:
            cur.execute(STANDBY_SQL)
            row: tuple[bool, bool, Any] = cur.fetchone()
            return row
    except DatabaseError:
        connections[alias].close()
        return None


def server_setting(name: str) -> str:
    """A run-time parameter's value as the database server applies it to this connection
    (``current_setting``)."""
    with db().cursor() as cur:
        cur.execute("SELECT current_setting(%s)", [name])
        (value,) = cur.fetchone()
    return str(value)


def database_answers() -> None:
    """Raise when the database does not answer a trivial query (readiness)."""
    with db().cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()


class Statements:
    """The statements one thread sent while :func:`counting` ran (their SQL text)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __len__(self) -> int:
        return len(self.sql)


@contextlib.contextmanager
def counting() -> Iterator[Statements]:
    """Count the statements this thread sends to the default database in the block, whichever
    cursor sends them: Django's ``CaptureQueriesContext`` sees only Django's own cursors, and
    on PostgreSQL the intake's hot path runs on this module's psycopg cursors. There every
    ``execute`` of a psycopg cursor is counted (Django's PostgreSQL cursors are psycopg cursors
    too, and so is a health check's ``SELECT 1``); on SQLite, where this module uses Django's
    cursors, Django's capture. For the tests that pin a write's statements and for
    bench/bench_write_cost.py; not for production code (it patches psycopg's cursor class
    while it runs)."""
    found = Statements()
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(conn) as captured:
            yield found
        found.sql.extend(str(q["sql"]) for q in captured.captured_queries)
        return
    import psycopg

    thread = threading.get_ident()
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == thread:
            found.sql.append(str(query))
        return execute(self, query, *args, **kwargs)

    def counted_executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == thread:
            found.sql.append(str(query))
        return executemany(self, query, *args, **kwargs)

    psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign]
    psycopg.Cursor.executemany = counted_executemany  # type: ignore[method-assign]
    try:
        yield found
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        psycopg.Cursor.executemany = executemany  # type: ignore[method-assign]
