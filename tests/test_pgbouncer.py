"""Secki behind a real PgBouncer (the machine's binary, ``secki.devtools.pgbouncer``) in
transaction pool mode, with fewer server connections than clients, under
``SECKI_DATABASE_POOLER=pgbouncer-transaction``.

- The production server (2 workers × 4 threads) on a durable PostgreSQL server of its own
  behind a pool of 2: turnout reports and protocols of every station sent by concurrent
  clients (with public readers meanwhile) are each accepted once, their retries with the same
  Idempotency-Key are answered from the record, ``/readyz`` checks the server's durability
  setting, and ``verify-log`` passes through the pooler.
- In process, on the test database behind a pool of 2: a group-commit batch forms
  (deterministically, as in tests/test_groupcommit.py) and commits as one transaction.
- Why the setting: behind a pool of 1, two connections' hot-path statements meet on the one
  server connection; without the setting the second fails with 'prepared statement
  "_pg3_0" already exists', with it nothing is prepared. In session mode the statements stay
  prepared, as on a direct connection.

Without pgbouncer the tests skip, unless SECKI_REQUIRE_PGBOUNCER=1 (CI): then they fail.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from secki.devtools.pgbouncer import Bouncer, Unavailable
from secki.devtools.pgserver import Cluster
from secki.env import env_bool
from secki.server import free_port, server_command, wait_answering
from tests.factories import PROTOCOLS, STATIONS, run_secki, stop_group, write_small_bundle
from tests.test_database_restart import MAKE_USER, Answer, Site, until
from tests.test_replicas import connect, new_cluster

TIMES = ["10:00", "12:00", "15:00", "17:00", "19:00"]
REGISTERED = {row[0]: int(row[5]) for row in STATIONS}


def new_bouncer(server_url: str, *, pool_size: int, mode: str = "transaction") -> Bouncer:
    """A started PgBouncer (transaction mode unless told); skip without the binary, unless
    SECKI_REQUIRE_PGBOUNCER=1 (CI): then fail."""
    try:
        bouncer = Bouncer(server_url, mode=mode, pool_size=pool_size)
    except Unavailable as exc:
        if env_bool("SECKI_REQUIRE_PGBOUNCER", False):
            pytest.fail(f"pgbouncer is required (SECKI_REQUIRE_PGBOUNCER=1): {exc}")
        pytest.skip(f"pgbouncer not available: {exc}")
    try:
        bouncer.start()
    except RuntimeError:
        bouncer.remove()
        raise
    return bouncer


class Pooled:
    def __init__(self, cluster: Cluster, site: Site, env: dict[str, str]) -> None:
        self.cluster, self.site, self.env = cluster, site, env


@pytest.fixture
def pooled(tmp_path: Path) -> Iterator[Pooled]:
    cluster = new_cluster()
    bouncer: Bouncer | None = None
    proc: subprocess.Popen[bytes] | None = None
    try:
        cluster.start()
        bouncer = new_bouncer(cluster.url, pool_size=2)
        # the schema and the register go direct (docs/operations.md: migrations go direct)
        direct = {
            **os.environ,
            "DATABASE_URL": cluster.url,
            "SECKI_VAR_DIR": str(tmp_path / "var"),
            "SECKI_SNAPSHOT_AUTO": "0",
        }
        bundle = write_small_bundle(tmp_path / "bundle")
        (bundle / "protocols.csv").unlink()
        (bundle / "turnout.csv").unlink()
        run_secki(direct, "import", str(bundle))
        token = run_secki(direct, "manage", "shell", "-c", MAKE_USER).stdout.strip()
        env = {
            **direct,
            "DATABASE_URL": bouncer.url(),
            "SECKI_DATABASE_POOLER": "pgbouncer-transaction",
        }
        port = free_port()
        proc = subprocess.Popen(
            server_command("127.0.0.1", port, workers=2, threads=4),
            env=env,
            start_new_session=True,
        )
        wait_answering(port, proc)
        yield Pooled(cluster, Site(port, token.splitlines()[-1]), env)
    finally:
        if proc is not None:
            stop_group(proc)
        if bouncer is not None:
            bouncer.remove()
        cluster.remove()


def station_night(site: Site, index: int) -> list[Answer]:
    """One station's turnout reports in time order, then its protocol, each with its key."""
    station = PROTOCOLS[index][0]
    answers = [
        site.turnout(station, time, REGISTERED[station] * (n + 1) // 10, key=f"t-{station}-{n}")
        for n, time in enumerate(TIMES)
    ]
    answers.append(site.protocol(index, key=f"p-{station}"))
    return answers


def test_concurrent_clients_through_transaction_pooling_are_accepted_once(
    pooled: Pooled,
) -> None:
    site = pooled.site
    done = threading.Event()
    reads: list[int] = []

    def read() -> None:
        while not done.is_set():
            reads.append(site.results().status)

    with ThreadPoolExecutor(max_workers=len(PROTOCOLS) + 4) as pool:
        readers = [pool.submit(read) for _ in range(4)]
        writers = [pool.submit(station_night, site, i) for i in range(len(PROTOCOLS))]
        first = [f.result() for f in writers]
        done.set()
        for reader in readers:
            reader.result()
    assert reads and set(reads) == {200}
    for answers in first:
        assert [a.status for a in answers] == [201] * (len(TIMES) + 1), answers
        assert all("idempotent-replayed" not in a.headers for a in answers), answers
    # every request again, concurrently, with the same keys: answered from the records
    with ThreadPoolExecutor(max_workers=len(PROTOCOLS)) as pool:
        again = list(pool.map(lambda i: station_night(site, i), range(len(PROTOCOLS))))
    for before, answers in zip(first, again, strict=True):
        assert [a.status for a in answers] == [201] * (len(TIMES) + 1), answers
        assert all(a.headers.get("idempotent-replayed") == "true" for a in answers), answers
        assert [a.json() for a in answers] == [a.json() for a in before]
    with connect(pooled.cluster) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM turnout_turnoutreport),"
            " (SELECT count(*) FROM protocols_protocol),"
            " (SELECT count(DISTINCT station_id) FROM protocols_protocol)"
        ).fetchone()
        # the server's 8 threads and the clients shared the pool's (at most) 2 connections
        backends = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    assert counts == (len(TIMES) * len(PROTOCOLS), len(PROTOCOLS), len(PROTOCOLS))
    assert backends is not None and 1 <= backends[0] <= 2, backends
    national = until(site.results, lambda a: a.json()["stations_reported"] == len(PROTOCOLS))
    assert national.json()["stations_reported"] == len(PROTOCOLS), national
    ready = site.page("/readyz")
    assert ready.status == 200, ready
    assert ready.json()["checks"]["durability"] == "ok"
    verified = run_secki(pooled.env, "verify-log", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_readiness_fails_when_the_server_behind_the_pooler_is_not_durable(
    tmp_path: Path,
) -> None:
    cluster = new_cluster()
    bouncer: Bouncer | None = None
    try:
        cluster.start()
        with connect(cluster) as conn:
            conn.execute("ALTER ROLE secki SET synchronous_commit = off")
        bouncer = new_bouncer(cluster.url, pool_size=1)
        env = {
            **os.environ,
            "DATABASE_URL": bouncer.url(),
            "SECKI_DATABASE_POOLER": "pgbouncer-transaction",
            "SECKI_VAR_DIR": str(tmp_path / "var"),
        }
        code = (
            "from django.test import Client\n"
            "r = Client().get('/readyz')\n"
            "print(r.status_code, r.json()['checks']['durability'])\n"
        )
        out = run_secki(env, "manage", "shell", "-c", code).stdout.strip().splitlines()[-1]
    finally:
        if bouncer is not None:
            bouncer.remove()
        cluster.remove()
    assert out.startswith("503 the database server's synchronous_commit is off, not on"), out


@pytest.fixture
def through_pgbouncer(
    request: pytest.FixtureRequest, transactional_db: None, settings: Any
) -> Iterator[Bouncer]:
    """The test database behind a PgBouncer (pool size: ``request.param``'s first value, else
    2); Django's connections go through it for the test, with the pooler setting (its second
    value, else ``pgbouncer-transaction``; session pooling for ``pgbouncer-session``,
    transaction pooling otherwise)."""
    from django.db import connection, connections

    size, pooler = getattr(request, "param", (2, "pgbouncer-transaction"))
    database = connections.settings["default"]
    if connections["default"].vendor != "postgresql":
        pytest.skip("PgBouncer stands in front of PostgreSQL")
    server = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/postgres"
    mode = "session" if pooler == "pgbouncer-session" else "transaction"
    bouncer = new_bouncer(server, pool_size=size, mode=mode)
    saved = {key: database.get(key) for key in ("HOST", "PORT", "OPTIONS")}
    saved_cursors = database.get("DISABLE_SERVER_SIDE_CURSORS", False)
    connection.close()
    database.update(HOST="127.0.0.1", PORT=str(bouncer.port))
    # what the settings do for SECKI_DATABASE_POOLER; the pooler refuses ``options`` always
    options = {k: v for k, v in database["OPTIONS"].items() if k != "options"}
    if pooler == "pgbouncer-transaction":
        options["prepare_threshold"] = None
        database["DISABLE_SERVER_SIDE_CURSORS"] = True
    database["OPTIONS"] = options
    settings.SECKI_DATABASE_POOLER = pooler
    try:
        yield bouncer
    finally:
        connection.close()
        bouncer.remove()
        database.update(saved)
        database["DISABLE_SERVER_SIDE_CURSORS"] = saved_cursors


def test_a_group_commit_batch_through_transaction_pooling(
    tmp_path: Path, django_user_model: Any, through_pgbouncer: Bouncer
) -> None:
    from django.db import connection

    from tests.test_groupcommit import test_queued_writes_commit_together_with_one_ledger_segment
    from tests.turnout.conftest import load_register

    connection.ensure_connection()
    assert connection.connection.info.port == through_pgbouncer.port
    election = load_register(tmp_path / "b")
    admin = django_user_model.objects.create_superuser("root", "r@example.org", "pw")
    test_queued_writes_commit_together_with_one_ledger_segment((election, admin))


@pytest.mark.parametrize(
    "through_pgbouncer",
    [(1, "none"), (1, "pgbouncer-transaction")],
    indirect=True,
    ids=["without-the-setting", "with-the-setting"],
)
def test_the_setting_keeps_statements_unprepared(through_pgbouncer: Bouncer) -> None:
    """Two connections take turns on the pool's one server connection: the hot path's
    statement of the first must leave nothing there for the second to collide with."""
    from django.conf import settings
    from django.db import DatabaseError, connection

    from secki import rawsql
    from secki.elections.models import Election

    first_ran, second_ran = threading.Event(), threading.Event()
    outcomes: list[str] = []

    def hot_path() -> str:
        try:
            rawsql.fetch_one(Election, "t.id = %s", [0])
            return "ok"
        except DatabaseError as exc:
            return str(exc).splitlines()[0]

    def first() -> None:
        try:
            outcomes.append(hot_path())
            first_ran.set()
            assert second_ran.wait(30)  # keep this connection (and its prepared names) open
        finally:
            connection.close()

    def second() -> None:
        try:
            assert first_ran.wait(30)
            outcomes.append(hot_path())
        finally:
            connection.close()
            second_ran.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if settings.SECKI_DATABASE_POOLER == "pgbouncer-transaction":
        assert outcomes == ["ok", "ok"]
        with connection.cursor() as cur:  # the same one server connection
            cur.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cur.fetchone()[0] == 0
    else:
        assert outcomes == ["ok", 'prepared statement "_pg3_0" already exists']


@pytest.mark.parametrize("through_pgbouncer", [(1, "pgbouncer-session")], indirect=True)
def test_session_pooling_keeps_the_hot_path_prepared(through_pgbouncer: Bouncer) -> None:
    """In session mode a client keeps its server connection: the hot path's statements stay
    prepared from one transaction to the next, as on a direct connection."""
    from django.db import connection, transaction

    from secki import rawsql
    from secki.elections.models import Election

    for _ in range(2):
        with transaction.atomic():
            assert rawsql.fetch_one(Election, "t.id = %s", [0]) is None
    assert connection.connection.info.port == through_pgbouncer.port
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cur.fetchone()[0] == 1
