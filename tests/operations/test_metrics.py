"""The operator's endpoints (secki.observability, secki.staff.operations): /metrics shows the
counters moving during an ingest; who may scrape; health and readiness; request ids in the
answers and the JSON logs; several processes' counts summed (multiprocess mode)."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from secki import observability
from secki.simulator import SimulationConfig, simulate, write_bundle
from secki.staff import operations
from tests.portal.test_opendata import wsgi_get
from tests.protocols.test_api import make_personas_for_sim, post, register_only


def scrape(client: Client | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = (client or Client()).get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(figures: dict[Any, float], name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db(transaction=True)
def test_counters_move_during_an_ingest(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    write_bundle(simulate(SimulationConfig(seed=11, stations=12, constituencies=2)), out)
    election = register_only(out)
    client = make_personas_for_sim(election).client()
    with (out / "protocols.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    before = scrape()
    url = f"/api/v1/elections/{election.slug}/protocols"
    for count, row in enumerate(rows, start=1):
        values = {k: v if k == "L17" else int(v) for k, v in row.items() if k != "station" and v}
        response = post(client, url, {"station": row["station"], "values": values})
        assert response.status_code == 201, response.content
        if count == len(rows) // 2:
            middle = scrape()
    after = scrape()
    name = "secki_facts_committed_total"
    assert value(middle, name, kind="protocol.accepted") - value(
        before, name, kind="protocol.accepted"
    ) == (len(rows) // 2)
    assert value(after, name, kind="protocol.accepted") - value(
        before, name, kind="protocol.accepted"
    ) == len(rows)
    # the election's log grew by the same number of entries
    log = "secki_ledger_entries"
    assert value(after, log, election=election.slug) - value(
        before, log, election=election.slug
    ) == len(rows)
    # no publisher runs in the test: nothing claims a published state's backlog
    assert value(after, "secki_publisher_running") == 0


@pytest.mark.django_db
def test_requests_are_counted_by_kind_and_status_with_their_duration() -> None:
    before = scrape()
    for _ in range(3):
        status, _headers, _body = wsgi_get("/api/v1/elections/no-such-election/results")
        assert status.startswith("404")
    status, _headers, _body = wsgi_get("/healthz")
    assert status.startswith("200")
    after = scrape()
    requests = "secki_http_requests_total"
    assert (
        value(after, requests, method="GET", kind="api_public", status="404")
        - value(before, requests, method="GET", kind="api_public", status="404")
        == 3
    )
    count = "secki_http_request_duration_seconds_count"
    assert value(after, count, kind="operations") - value(before, count, kind="operations") == 1


@pytest.mark.django_db
def test_only_this_machine_or_the_token_may_scrape(settings: Any) -> None:
    outside = Client(REMOTE_ADDR="203.0.113.9")
    response = outside.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "SECKI_METRICS_TOKEN" in response.json()["error"]["message"]
    settings.SECKI_METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 403  # loopback, no token
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = outside.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert ok.status_code == 200
    assert b"secki_http_requests" in ok.content


def test_kinds_of_url_take_few_values() -> None:
    assert observability.kind("/e/az-2024/s/1-1/") == "page"
    assert observability.kind("/") == "page"
    assert observability.kind("/api/v1/elections/x/results") == "api_public"
    assert observability.kind("/api/v1/elections/x/protocols") == "api_public"
    assert observability.kind("/api/v1/tokens") == "api"
    assert observability.kind("/data/x/live/index.json") == "open_data"
    assert observability.kind("/log/x/checkpoint") == "log"
    assert observability.kind("/staff/e/x/") == "staff"
    assert observability.kind("/wp-login.php") == "other"


@pytest.mark.django_db
def test_health_and_readiness(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["migrations"] == "ok"

    def down() -> None:
        raise DatabaseError("connection refused")

    monkeypatch.setattr(operations.rawsql, "database_answers", down)
    failed = client.get("/readyz")
    assert failed.status_code == 503
    assert "connection refused" in failed.json()["checks"]["database"]
    assert failed.json()["status"] == "unavailable"


@pytest.mark.django_db
def test_a_pending_migration_makes_the_server_unready(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operations, "_migrated", operations.threading.Event())
    monkeypatch.setattr(operations, "_pending_migrations", lambda: ["elections.0099_future"])
    failed = Client().get("/readyz")
    assert failed.status_code == 503
    assert "elections.0099_future" in failed.json()["checks"]["migrations"]


@pytest.mark.django_db
def test_request_ids_are_answered_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    _, headers, _ = wsgi_get("/healthz", X_Request_Id="trace-42.a_b")
    assert headers["X-Request-ID"] == "trace-42.a_b"
    _, headers, _ = wsgi_get("/healthz", X_Request_Id="bad id\twith spaces")
    assert len(headers["X-Request-ID"]) == 32 and " " not in headers["X-Request-ID"]

    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        logging.getLogger("secki.test").warning("inside", extra={"station": "7-3"})
        seen.append(observability.request_id.get())
        start_response("200 OK", [])
        return [b""]

    handler = logging.StreamHandler()
    handler.addFilter(observability.RequestIdFilter())
    handler.setFormatter(observability.JsonFormatter())
    records: list[str] = []
    handler.emit = lambda record: records.append(handler.format(record))  # type: ignore[method-assign]
    logger = logging.getLogger("secki.test")
    logger.addHandler(handler)
    try:
        observability.instrument(app)(
            {"PATH_INFO": "/", "HTTP_X_REQUEST_ID": "abc"}, lambda *a: None
        )
    finally:
        logger.removeHandler(handler)
    line = json.loads(records[0])
    assert line["request_id"] == "abc" == seen[0]
    assert line["message"] == "inside" and line["level"] == "WARNING"
    assert line["station"] == "7-3" and line["logger"] == "secki.test"
    assert line["time"].endswith("Z")
    assert observability.request_id.get() == ""  # reset after the request


WORKER = """
import sys
from secki import observability
observability.facts_committed({"protocol.accepted": int(sys.argv[1])})
observability.REQUESTS.labels("GET", "page", "200").inc(int(sys.argv[1]))
"""
READER = """
from secki import observability
print(observability.exposition().decode())
"""


def test_the_figures_of_several_processes_are_summed(tmp_path: Path) -> None:
    env = {**os.environ, **observability.multiprocess_env(tmp_path)}
    (tmp_path / "metrics" / "counter_999999.db").write_bytes(b"stale")  # an earlier run's
    env = {**os.environ, **observability.multiprocess_env(tmp_path)}
    assert not (tmp_path / "metrics" / "counter_999999.db").exists()
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", WORKER, str(n)], env=env, check=True)
    text = subprocess.run(
        [sys.executable, "-c", READER], env=env, check=True, capture_output=True, text=True
    ).stdout
    figures = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert value(figures, "secki_facts_committed_total", kind="protocol.accepted") == 7
    assert value(figures, "secki_http_requests_total", method="GET", kind="page", status="200") == 7
