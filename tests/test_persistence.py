"""The persistence boundary (docs/architecture.md, "Persistence").

Hand-written SQL (statements, cursors, vendor branches, table names) lives only in the
persistence modules: ``secki/rawsql.py``, ``secki/dbcopy.py`` and one ``store.py`` per app. A
scan of every Python file under src/secki finds none of its marks anywhere else, and is shown
to find one added to another module. And the shared bulk helper leaves a table that a load
left empty unanalyzed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from django.db import connection

from secki.dbcopy import analyze
from secki.elections.models import Station
from secki.protocols.models import Protocol
from tests.factories import write_small_bundle
from tests.protocols.test_api import register_only

SOURCE = Path(__file__).resolve().parent.parent / "src" / "secki"

#: what marks hand-written SQL in a module (case-insensitive; comments and docstrings count)
MARKS = {
    # (Django's DISABLE_SERVER_SIDE_CURSORS is a database setting, not SQL: settings.py sets it)
    "a cursor": re.compile(r"(?<!DISABLE_SERVER_SIDE_)cursor", re.IGNORECASE),
    "a statement run": re.compile(r"execute\(", re.IGNORECASE),
    "a vendor branch": re.compile(r"\.vendor\b|is_postgres\("),
    "a table name": re.compile(r"_meta\.db_table"),
    "SQL built from strings": re.compile(r"noqa: S608"),
}


def is_persistence_module(relative: Path) -> bool:
    """``relative`` is a path under the secki package."""
    parts = relative.parts
    return parts in (("rawsql.py",), ("dbcopy.py",)) or (len(parts) == 2 and parts[1] == "store.py")


def outside_the_boundary(package: Path) -> list[str]:
    """Every line of the package's Python files outside the persistence modules that carries a
    mark of hand-written SQL, as ``path:line: what: text``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if is_persistence_module(relative):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for what, mark in MARKS.items():
                if mark.search(line):
                    found.append(f"secki/{relative}:{number}: {what}: {line.strip()}")
    return found


def test_hand_written_sql_lives_only_in_the_persistence_modules() -> None:
    assert outside_the_boundary(SOURCE) == []


def test_the_persistence_modules_are_found_and_hold_sql() -> None:
    stores = sorted(str(p.relative_to(SOURCE)) for p in SOURCE.glob("*/store.py"))
    assert stores == [
        "accounts/store.py",
        "api/store.py",
        "audits/store.py",
        "integrity/store.py",
        "ledger/store.py",
        "observers/store.py",
        "opendata/store.py",
        "protocols/store.py",
        "results/store.py",
        "turnout/store.py",
        "witness/store.py",
    ]
    for name in ["rawsql.py", "dbcopy.py", *stores]:
        text = (SOURCE / name).read_text(encoding="utf-8")
        assert any(mark.search(text) for mark in MARKS.values()), name


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("portal/views.py", "    with connection.cursor() as c:"),
        ("protocols/actions.py", "    rawsql.db().execute('SELECT 1')"),
        ("turnout/api.py", "if connection.vendor == 'postgresql':"),
        ("staff/common.py", "TABLE = Station._meta.db_table"),
        ("groupcommit.py", 'SQL = f"DELETE FROM {TABLE}"  # noqa: S608 - model metadata'),
        ("opendata/collect.py", "# the rows come straight from the cursor"),
    ],
)
def test_sql_added_outside_the_boundary_is_found(tmp_path: Path, module: str, line: str) -> None:
    package = tmp_path / "secki"
    shutil.copytree(SOURCE, package, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    target = package / module
    target.write_text(target.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    found = outside_the_boundary(package)
    assert len(found) == 1, found
    assert found[0].startswith(f"secki/{module}:")
    assert found[0].endswith(line.strip())
    # the same line in a store is inside the boundary
    target.write_text(
        target.read_text(encoding="utf-8").removesuffix(line + "\n"), encoding="utf-8"
    )
    store = package / "results" / "store.py"
    store.write_text(store.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    assert outside_the_boundary(package) == []


@pytest.mark.django_db
def test_a_bulk_load_analyzes_only_the_tables_it_filled(tmp_path: Path) -> None:
    """Statistics saying "empty" would make the planner scan the protocols' table sequentially
    (in foreign-key checks too) while it fills: an empty table is left unanalyzed."""
    register_only(write_small_bundle(tmp_path))
    assert Station.objects.exists() and not Protocol.objects.exists()
    statements: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        analyze(Station, Protocol)
    analyzed = [s for s in statements if s.startswith("ANALYZE")]
    if connection.vendor == "postgresql":
        assert analyzed == ["ANALYZE elections_station"]
    else:
        assert analyzed == []


@pytest.mark.django_db
def test_hand_written_rows_become_the_instances_the_orm_makes(tmp_path: Path) -> None:
    """:mod:`secki.rawsql` builds a row's instance without ``Model.__init__``'s generic path
    where nothing could tell: the attributes and state the ORM gives; and a model with a
    ``post_init`` receiver is built through ``Model.from_db``, its receiver called."""
    from django.db.models import signals

    from secki import rawsql

    register_only(write_small_bundle(tmp_path))
    orm = Station.objects.order_by("id").first()
    assert orm is not None
    built = rawsql.fetch_one(Station, "t.id = %s", [orm.pk])
    assert built is not None
    assert {k: v for k, v in vars(built).items() if k != "_state"} == {
        k: v for k, v in vars(orm).items() if k != "_state"
    }
    assert (built._state.adding, built._state.db) == (False, orm._state.db)
    assert built.unit.pk == orm.unit_id  # the relation is loaded as the ORM's would be

    seen: list[object] = []

    def receiver(sender: object, instance: object, **kwargs: object) -> None:
        seen.append(instance)

    signals.post_init.connect(receiver, sender=Station)
    try:
        again = rawsql.fetch_one(Station, "t.id = %s", [orm.pk])
    finally:
        signals.post_init.disconnect(receiver, sender=Station)
    assert seen == [again] and seen[0] is again
