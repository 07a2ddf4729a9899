"""PostgreSQL crashes under the production server and comes back: clients get 503 with
Retry-After meanwhile, and the same server answers again as soon as the database is back.

The test starts its own PostgreSQL (``secki.devtools.pgserver.Cluster``), so it needs the
machine's PostgreSQL binaries and runs once, in the SQLite half of ``make test`` (it uses no
database fixture, so ``pytest -m database`` leaves it out). Without the binaries it is skipped,
or fails under ``SECKI_REQUIRE_POSTGRES=1`` (CI). Every wait is for a condition, with a
deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from secki.devtools.pgserver import Cluster, PostgresUnavailable
from secki.env import env_bool
from secki.protocol_schema import ProtocolSchema
from secki.server import free_port, server_command
from tests.factories import PROTOCOLS, run_secki, stop_group, write_small_bundle

SLUG = "testland-2024"
DEADLINE = 60.0
MAKE_USER = (
    "from django.contrib.auth import get_user_model\n"
    "from secki.accounts.models import ApiToken, Membership\n"
    "from secki.elections.models import Election\n"
    "u = get_user_model().objects.create_user('cec')\n"
    "Membership.objects.create(user=u, election=Election.objects.get(), role='cec_admin')\n"
    "print(ApiToken.issue(u, 'cec')[1])\n"
)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Site:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str = "",
        csv: str = "",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        headers = dict(headers or {})
        if method == "POST":
            headers["Authorization"] = f"Bearer {self.token}"
        payload: str | None = None
        if csv:
            headers["Content-Type"], payload = "text/csv", csv
        elif body is not None:
            headers["Content-Type"], payload = "application/json", json.dumps(body)
        if key:
            headers["Idempotency-Key"] = key
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE)
        try:
            conn.request(method, path, payload, headers)
            response = conn.getresponse()
            return Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            conn.close()

    def results(self) -> Answer:
        return self.request("GET", f"/api/v1/elections/{SLUG}/results")

    def turnout(self, station: str, time_: str, voters: int, key: str = "") -> Answer:
        body = {"station": station, "time": time_, "voters": voters}
        return self.request("POST", f"/api/v1/elections/{SLUG}/turnout", body, key)

    def protocol(self, index: int, key: str = "") -> Answer:
        columns = ProtocolSchema.builtin().columns(3)
        row = PROTOCOLS[index]
        values = {c: v for c, v in zip(columns, row[1:], strict=True) if v not in (None, "")}
        body = {"station": row[0], "values": values}
        return self.request("POST", f"/api/v1/elections/{SLUG}/protocols", body, key)

    def turnout_bulk(self, rows: str) -> Answer:
        return self.request(
            "POST", f"/api/v1/elections/{SLUG}/turnout-bulk", csv=f"station,time,voters\n{rows}"
        )

    def page(self, path: str) -> Answer:
        return self.request("GET", path)


def until(probe: Callable[[], Answer], done: Callable[[Answer], bool]) -> Answer:
    """``probe()`` until its answer is ``done`` (or the deadline passes: the last answer)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        answer = probe()
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def assert_api_503(answer: Answer) -> None:
    assert answer.status == 503, answer
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.headers["retry-after"] == "5"
    error = answer.json()["error"]
    assert error["code"] == "database_unavailable"
    assert "retry" in error["message"]


def assert_page_503(answer: Answer) -> None:
    assert answer.status == 503, answer
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["retry-after"] == "5"
    assert "<h1>Temporarily unavailable</h1>" in answer.body.decode()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    try:
        server = Cluster(durable=False)
    except PostgresUnavailable as exc:
        if env_bool("SECKI_REQUIRE_POSTGRES", False):
            pytest.fail(f"PostgreSQL is required (SECKI_REQUIRE_POSTGRES=1): {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def site(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Site, subprocess.Popen[bytes]]]:
    """A small election in the cluster, served by Granian (2 workers x 4 threads)."""
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url,
        "SECKI_VAR_DIR": str(tmp_path / "var"),
        "SECKI_SNAPSHOT_AUTO": "0",
    }
    bundle = write_small_bundle(tmp_path / "bundle")
    (bundle / "protocols.csv").unlink()
    (bundle / "turnout.csv").unlink()

    def secki(*args: str) -> str:
        return run_secki(env, *args).stdout

    secki("import", str(bundle))  # migrates first
    token = secki("manage", "shell", "-c", MAKE_USER).strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen(
        server_command("127.0.0.1", port, workers=2, threads=4),
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                Site(port, token).page("/")
                break
            except OSError:
                assert proc.poll() is None, "the application server exited"
                assert time.monotonic() < deadline, "the application server did not start"
                time.sleep(0.1)
        yield Site(port, token), proc
    finally:
        stop_group(proc)


def waiting_for_lock(url: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def report_the_day(app: Site, station: str) -> list[int]:
    """The station's later turnout reports, in time order (a report may not go back)."""
    times = ["12:00", "15:00", "17:00", "19:00"]
    return [app.turnout(station, t, 200 + 10 * n).status for n, t in enumerate(times)]


def test_a_crashed_database_gives_503_and_the_server_recovers_by_itself(
    cluster: Cluster, site: tuple[Site, subprocess.Popen[bytes]]
) -> None:
    import psycopg

    app, server = site

    # Up.
    assert app.results().status == 200
    assert app.turnout("1-1", "10:00", 150, key="t-1").status == 201
    assert app.protocol(0, key="p-1").status == 201
    assert app.page("/").status == 302  # the only election's page

    # Crash in the middle of a request: its write waits for a station's lock held here.
    holder = psycopg.connect(cluster.url)
    holder.execute("SELECT id FROM elections_station WHERE code = '2-1' FOR UPDATE")
    blocked: list[Answer] = []
    writer = threading.Thread(
        target=lambda: blocked.append(app.turnout("2-1", "10:00", 90, key="t-2"))
    )
    writer.start()
    deadline = time.monotonic() + DEADLINE
    while not waiting_for_lock(cluster.url):
        assert writer.is_alive() and time.monotonic() < deadline, blocked
        time.sleep(0.02)
    cluster.kill()
    writer.join(DEADLINE)
    holder.close()
    assert_api_503(blocked[0])

    # Down: every kind of request gets the 503 (a page or a read may come from a process's
    # cache for up to a second).
    assert_api_503(until(app.results, lambda a: a.status != 200))
    assert_api_503(app.turnout("1-2", "10:00", 80, key="t-3"))
    assert_api_503(app.turnout("1-2", "10:00", 80))
    assert_api_503(app.protocol(1, key="p-2"))
    assert_api_503(app.turnout_bulk("2-2,10:00,40\n"))
    assert_page_503(app.page("/"))
    assert_page_503(until(lambda: app.page(f"/e/{SLUG}/s/1-1/"), lambda a: a.status != 200))

    # Back: the same server answers at once, on every thread (each kept a dead connection).
    cluster.start()
    assert server.poll() is None
    assert app.results().status == 200
    assert app.page("/").status == 302
    again = app.turnout("2-1", "10:00", 90, key="t-2")  # the write lost in the crash
    assert again.status == 201 and "idempotent-replayed" not in again.headers, again
    assert app.protocol(1, key="p-2").status == 201
    assert app.turnout_bulk("2-2,10:00,40\n").status == 201
    with ThreadPoolExecutor(8) as pool:
        reads = list(pool.map(lambda _: app.results().status, range(32)))
        writes = list(pool.map(report_the_day, [app] * 4, ["1-1", "1-2", "2-1", "2-2"]))
    assert reads == [200] * 32
    assert writes == [[201] * 4] * 4
    # What was answered before the crash is still there.
    replay = app.turnout("1-1", "10:00", 150, key="t-1")
    assert replay.status == 201 and replay.headers["idempotent-replayed"] == "true"

    # A crash while the server is idle: every thread keeps a connection that died unnoticed
    # (nothing ran on it meanwhile); the first requests after the restart must not use them.
    cluster.kill()
    cluster.start()
    with ThreadPoolExecutor(8) as pool:
        replays = list(pool.map(lambda _: app.turnout("1-1", "10:00", 150, key="t-1"), range(32)))
        reads = list(pool.map(lambda _: app.results().status, range(32)))
    assert [(a.status, a.headers.get("idempotent-replayed")) for a in replays] == [
        (201, "true")
    ] * 32
    assert reads == [200] * 32
    assert server.poll() is None
