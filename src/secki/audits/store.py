"""The audits' hand-written SQL: the trigger that refuses any change of a recorded seed.

A seed ceremony's row is written once; the database itself refuses an UPDATE of it
(SQLite: a BEFORE UPDATE trigger raising ABORT; PostgreSQL: a trigger function raising an
integrity-constraint violation; both reach Django as an ``IntegrityError``), so not even a
write outside the actions can change the seed a sample came from.
"""

from __future__ import annotations

from typing import Any

SQLITE = [
    """CREATE TRIGGER audits_seed_immutable BEFORE UPDATE ON audits_seedceremony
    BEGIN SELECT RAISE(ABORT, 'the seed of an audit cannot be changed'); END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS audits_seed_immutable"]
POSTGRES = [
    """CREATE FUNCTION audits_seed_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
            MESSAGE = 'the seed of an audit cannot be changed';
    END $$""",
    """CREATE TRIGGER audits_seed_immutable BEFORE UPDATE ON audits_seedceremony
    FOR EACH ROW EXECUTE FUNCTION audits_seed_immutable()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS audits_seed_immutable ON audits_seedceremony",
    "DROP FUNCTION IF EXISTS audits_seed_immutable()",
]


def _run(schema_editor: Any, statements: list[str]) -> None:
    for sql in statements:
        schema_editor.execute(sql)


def create_seed_trigger(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    _run(schema_editor, POSTGRES if vendor == "postgresql" else SQLITE)


def drop_seed_trigger(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    _run(schema_editor, POSTGRES_DROP if vendor == "postgresql" else SQLITE_DROP)
