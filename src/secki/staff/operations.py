"""The operator's endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

``/metrics`` serves every counter of :mod:`secki.observability` (requests by kind of URL and
status, their durations, facts committed by kind, the group commit's queue) and, computed when
scraped (:class:`Figures`): per election the age of its published state and of its log's
checkpoint, the facts its published state does not hold yet, and the ledger's head; whether the
publisher is running; each streaming replica's lag. With ``SECKI_METRICS_TOKEN`` set it answers
only ``Authorization: Bearer <token>``; without, only requests from this machine.

``/healthz`` answers 200 while the process serves (liveness). ``/readyz`` answers 200 when the
database answers and every migration is applied, else 503 naming what failed (readiness: a
load balancer sends no traffic to a server that would fail every request).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from secki import observability, rawsql, replicas
from secki.elections.models import Election
from secki.ledger import store as ledger_store
from secki.ledger.models import LedgerEntry
from secki.opendata import published, snapshots, transparency

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _age(path: Path, now: float) -> float | None:
    try:
        return max(0.0, now - path.stat().st_mtime)
    except OSError:
        return None


class Figures(Collector):
    """The figures computed when ``/metrics`` is scraped (module docstring)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        alive = snapshots.publisher_alive()
        yield GaugeMetricFamily(
            "secki_publisher_running",
            "1 while the publisher (secki publish --watch) beats its heartbeat",
            value=1 if alive else 0,
        )
        state_age = GaugeMetricFamily(
            "secki_published_state_age_seconds",
            "Seconds since the election's public state was last published",
            labels=["election"],
        )
        checkpoint_age = GaugeMetricFamily(
            "secki_checkpoint_age_seconds",
            "Seconds since the election's transparency-log checkpoint was last signed",
            labels=["election"],
        )
        unpublished = GaugeMetricFamily(
            "secki_facts_unpublished",
            "Ledger entries of the election that its published state does not hold yet (while "
            "the publisher runs)",
            labels=["election"],
        )
        head = GaugeMetricFamily(
            "secki_ledger_entries",
            "Ledger entries of the election (its log's size)",
            labels=["election"],
        )
        for pk, slug in Election.objects.order_by("pk").values_list("pk", "slug"):
            size = ledger_store.next_index(pk)
            head.add_metric([slug], size)
            age = _age(published.state_file(slug), now)
            if age is not None:
                state_age.add_metric([slug], age)
            age = _age(transparency.election_dir(slug) / transparency.CHECKPOINT, now)
            if age is not None:
                checkpoint_age.add_metric([slug], age)
            state = published.from_file(slug) if alive else None
            if state is not None:
                index = (
                    LedgerEntry.objects.filter(seq=state.seq)
                    .values_list("index", flat=True)
                    .first()
                    if state.seq
                    else None
                )
                unpublished.add_metric([slug], size - (index + 1 if index is not None else 0))
        yield from (state_age, checkpoint_age, unpublished, head)
        lag = GaugeMetricFamily(
            "secki_replica_lag_seconds",
            "How far each streaming replica's replay is behind the primary (self: this "
            "server's own, when it reads from a standby)",
            labels=["replica"],
        )
        for name, seconds in rawsql.replication_lag():
            lag.add_metric([name], seconds)
        up = GaugeMetricFamily(
            "secki_replica_up",
            "1 while a replica of SECKI_REPLICA_URLS answers (its lag is then replica_lag_seconds "
            "with the alias as the label)",
            labels=["replica"],
        )
        for alias in replicas.replica_aliases():
            behind = replicas.lag(alias)
            up.add_metric([alias], 0 if behind is None else 1)
            if behind is not None:
                lag.add_metric([alias], behind)
        yield lag
        yield up


def _allowed(request: HttpRequest) -> bool:
    token = settings.SECKI_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    return request.META.get("REMOTE_ADDR", "") in LOOPBACK


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return JsonResponse(
            {
                "error": {
                    "code": "forbidden",
                    "message": _(
                        "The metrics are served to this machine or with the metrics token "
                        "(SECKI_METRICS_TOKEN) only."
                    ),
                }
            },
            status=403,
        )
    response = HttpResponse(
        observability.exposition(Figures()), content_type=observability.CONTENT_TYPE
    )
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response


_migrated = threading.Event()


def _pending_migrations() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    checks: dict[str, Any] = {}
    ready = True
    try:
        rawsql.database_answers()
        checks["database"] = "ok"
    except DatabaseError as exc:
        checks["database"] = _("the database does not answer: %(error)s") % {"error": exc}
        ready = False
    if ready and settings.SECKI_DATABASE_POOLER != "none":
        # Behind PgBouncer the connection cannot ask for its synchronous_commit (the pooler
        # refuses the startup option): the server's own must be the durable one required.
        applied = rawsql.server_setting("synchronous_commit")
        if applied != settings.SECKI_SYNCHRONOUS_COMMIT:
            checks["durability"] = _(
                "the database server's synchronous_commit is %(applied)s, not %(required)s "
                "(SECKI_SYNCHRONOUS_COMMIT): behind a pooler set it on the server or its role"
            ) % {"applied": applied, "required": settings.SECKI_SYNCHRONOUS_COMMIT}
            ready = False
        else:
            checks["durability"] = "ok"
    if ready and not _migrated.is_set():
        pending = _pending_migrations()
        if pending:
            checks["migrations"] = _("not applied: %(names)s") % {"names": ", ".join(pending)}
            ready = False
        else:
            _migrated.set()  # applied migrations stay applied while this process runs
    if ready:
        checks["migrations"] = "ok"
    checks["publisher"] = "running" if snapshots.publisher_alive() else "not running"
    response = JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    response["Cache-Control"] = "no-store"
    return response
