"""Read scaling and failover on real PostgreSQL servers started from the machine's binaries: a
primary and a streaming standby (pg_basebackup through a replication slot, synchronous), the
site served by Granian with SECKI_REPLICA_URLS and SECKI_DATABASE_FAILOVER_HOSTS.

- Anonymous public reads come from the standby (its replay paused, they do not see a protocol
  the primary accepted), while the official who wrote it reads it at once (the primary); the
  replay resumed, the public sees it; /metrics shows the standby's lag.
- The primary killed and the standby promoted: the site writes to it with no restart, and every
  protocol accepted before the failure is there (and the one refused meanwhile is accepted once
  when sent again with its Idempotency-Key).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secki.devtools.pgserver import Cluster, PostgresUnavailable
from secki.env import env_bool
from secki.rawsql import STANDBY_SQL
from secki.replicas import lag_of
from secki.server import free_port, server_command
from tests.factories import PROTOCOLS, run_secki, stop_group, write_small_bundle
from tests.test_database_restart import DEADLINE, MAKE_USER, SLUG, Answer, Site, until

STATIONS = [row[0] for row in PROTOCOLS]


def connect(cluster: Cluster) -> Any:
    import psycopg

    return psycopg.connect(cluster.url, autocommit=True)


def new_cluster() -> Cluster:
    try:
        return Cluster(durable=True)
    except PostgresUnavailable as exc:
        if env_bool("SECKI_REQUIRE_POSTGRES", False):
            pytest.fail(f"PostgreSQL is required (SECKI_REQUIRE_POSTGRES=1): {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")


def replayed(standby: Cluster, query: str) -> Any:
    """``query``'s first value on the standby once it is not None (replay takes a moment)."""
    deadline = time.monotonic() + DEADLINE
    with connect(standby) as conn:
        while True:
            row = conn.execute(query).fetchone()
            if row is not None and row[0] is not None:
                return row[0]
            assert time.monotonic() < deadline, f"the standby never replayed: {query}"
            time.sleep(0.05)


class Pair:
    def __init__(self, primary: Cluster, standby: Cluster, site: Site, env: dict[str, str]):
        self.primary, self.standby, self.site, self.env = primary, standby, site, env

    def versions(self, station: str, *, official: bool) -> Answer:
        path = f"/api/v1/elections/{SLUG}/protocols/{station}"
        if not official:
            return self.site.request("GET", path)
        return self.site.request(
            "GET", path, headers={"Authorization": f"Bearer {self.site.token}"}
        )


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    primary = new_cluster()
    standby: Cluster | None = None
    proc: subprocess.Popen[bytes] | None = None
    try:
        # every commit waits until the standby has the WAL: a failover loses nothing accepted
        primary.set(synchronous_standby_names="standby1")
        primary.start()
        standby = Cluster.standby_of(primary, "standby1")
        standby.start()
        env = {
            **os.environ,
            "DATABASE_URL": primary.url,
            "SECKI_REPLICA_URLS": standby.url,
            "SECKI_REPLICA_MAX_LAG": "3600",
            "SECKI_DATABASE_FAILOVER_HOSTS": f"127.0.0.1:{standby.port}",
            "SECKI_VAR_DIR": str(tmp_path / "var"),
            "SECKI_SNAPSHOT_AUTO": "0",
        }
        bundle = write_small_bundle(tmp_path / "bundle")
        (bundle / "protocols.csv").unlink()
        run_secki(env, "import", str(bundle))
        token = run_secki(env, "manage", "shell", "-c", MAKE_USER).stdout.strip().splitlines()[-1]
        replayed(standby, "SELECT max(id) FROM accounts_apitoken")
        port = free_port()
        proc = subprocess.Popen(
            server_command("127.0.0.1", port, workers=1, threads=4),
            env=env,
            start_new_session=True,
        )
        site = Site(port, token)
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                site.page("/")
                break
            except OSError:
                assert proc.poll() is None, "the application server exited"
                assert time.monotonic() < deadline, "the application server did not start"
                time.sleep(0.1)
        yield Pair(primary, standby, site, env)
    finally:
        if proc is not None:
            stop_group(proc)
        if standby is not None:
            standby.remove()
        primary.remove()


def test_public_reads_come_from_the_standby_and_officials_read_their_writes(
    pair: Pair,
) -> None:
    site = pair.site
    with connect(pair.standby) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        assert site.protocol(0, key="p-0").status == 201
        # the WAL reached the standby (synchronous) but is not replayed
        row = standby.execute(STANDBY_SQL).fetchone()
        assert row[0] is True and row[1] is False
        assert lag_of(row) >= 0
        # the official who submitted reads the primary: there at once
        mine = pair.versions(STATIONS[0], official=True)
        assert mine.status == 200 and len(mine.json()) == 1, mine
        # the public reads the standby: not there yet
        public = pair.versions(STATIONS[0], official=False)
        assert public.status == 200 and public.json() == [], public
        metrics = site.page("/metrics").body.decode()
        assert 'secki_replica_up{replica="replica1"} 1.0' in metrics
        assert 'secki_replica_lag_seconds{replica="replica1"}' in metrics
        assert 'secki_replica_lag_seconds{replica="standby1"}' in metrics  # the primary's view
        standby.execute("SELECT pg_wal_replay_resume()")
    public = until(lambda: pair.versions(STATIONS[0], official=False), lambda a: a.json() != [])
    assert [v["station"] for v in public.json()] == [STATIONS[0]]


def test_a_failover_to_the_promoted_standby_loses_no_accepted_protocol(pair: Pair) -> None:
    site = pair.site
    for index in range(3):
        assert site.protocol(index, key=f"p-{index}").status == 201
    pair.primary.kill()
    refused = site.protocol(3, key="p-3")
    assert refused.status == 503 and refused.headers["retry-after"] == "5", refused
    pair.standby.promote()
    # the same server writes to the promoted standby, without a restart
    again = until(lambda: site.protocol(3, key="p-3"), lambda a: a.status != 503)
    assert again.status == 201 and "idempotent-replayed" not in again.headers, again
    replay = site.protocol(3, key="p-3")
    assert replay.status == 201 and replay.headers.get("idempotent-replayed") == "true"
    for station in STATIONS:
        versions = pair.versions(station, official=True)
        assert versions.status == 200 and len(versions.json()) == 1, (station, versions)
    verified = run_secki({**pair.env, "DATABASE_URL": pair.standby.url}, "verify-log")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_which_requests_read_from_a_replica(rf: Any, settings: Any) -> None:
    from secki import replicas

    assert replicas.is_public_read(rf.get("/e/x/"))
    assert replicas.is_public_read(rf.head("/api/v1/elections/x/results"))
    assert not replicas.is_public_read(rf.post("/api/v1/elections/x/protocols"))
    assert not replicas.is_public_read(rf.get("/staff/"))
    assert not replicas.is_public_read(rf.get("/integrity/x/"))
    assert not replicas.is_public_read(rf.get("/e/x/", HTTP_AUTHORIZATION="Bearer t"))
    with_session = rf.get("/e/x/")
    with_session.COOKIES[settings.SESSION_COOKIE_NAME] = "abc"
    assert not replicas.is_public_read(with_session)


def test_a_lagging_or_silent_replica_is_skipped(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from secki import replicas

    settings.SECKI_REPLICA_MAX_LAG = 5.0
    lags: dict[str, float | None] = {"replica1": 0.5, "replica2": 0.0}
    monkeypatch.setattr(replicas, "replica_aliases", lambda: sorted(lags))
    monkeypatch.setattr(replicas, "lag", lambda name: lags[name])
    replicas.forget()
    assert replicas.alias() == "default"  # outside a public read: the primary
    token = replicas._public_read.set(True)
    try:
        assert {replicas.alias() for _ in range(4)} == {"replica1", "replica2"}  # in turn
        lags["replica1"] = 9.0  # too far behind
        lags["replica2"] = None  # not answering
        replicas.forget()
        assert {replicas.alias() for _ in range(4)} == {"default"}
        lags["replica2"] = 4.9
        replicas.forget()
        assert {replicas.alias() for _ in range(4)} == {"replica2"}
    finally:
        replicas._public_read.reset(token)
        replicas.forget()


def test_the_lag_a_standby_reports() -> None:
    assert lag_of((False, False, 30)) == 0.0  # a primary (a promoted standby)
    assert lag_of((True, True, 30)) == 0.0  # replayed everything it received
    assert lag_of((True, False, 30.5)) == 30.5  # waiting: the last replay's age
