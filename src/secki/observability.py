"""What an operator watches: Prometheus metrics, request ids and structured (JSON) logs.

- :func:`instrument` wraps a WSGI application (``secki.wsgi`` and the open-data front
  ``secki.opendata.wsgi``, each once): every request gets an id (the client's
  ``X-Request-ID`` when it is a plain token of at most 64 characters, else a new one), sent back
  in ``X-Request-ID`` and put on every log record written while the request runs; its count
  and duration are recorded by method, kind of URL (:func:`kind`: a few fixed values, never the
  path itself) and status.
- The ledger counts the facts it commits (:func:`facts_committed`, by the log entry's kind:
  ``protocol.accepted``, ``turnout.reported`` …), the group commit the
  requests waiting in its queue (:data:`GROUP_COMMIT_QUEUE`).
- :func:`exposition` renders every metric in Prometheus' text format; the scrape-time figures
  (published state and checkpoint age, facts not yet published, replica lag) are added by the
  caller's collector (:mod:`secki.staff.operations`, which serves ``/metrics``).

Several server processes (Granian's workers) share their figures through the files of
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode), which ``secki serve`` and
``secki demo`` create empty before the workers start (:func:`multiprocess_env`); without it
(tests, ``runserver``) each process has its own figures.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.registry import REGISTRY, Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "secki_http_requests",
    "HTTP requests answered, by method, kind of URL and status",
    ["method", "kind", "status"],
)
LATENCY = Histogram(
    "secki_http_request_duration_seconds",
    "Time to answer an HTTP request (until the body was handed to the server), by kind of URL",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
FACTS = Counter(
    "secki_facts_committed",
    "Entries committed to the ledger, by kind (protocol.accepted, protocol.amended, "
    "turnout.reported, …: the log's entry kinds)",
    ["kind"],
)
GROUP_COMMIT_QUEUE = Gauge(
    "secki_group_commit_queue",
    "Intake requests waiting for the group commit's leader, summed over the live processes",
    multiprocess_mode="livesum",
)

#: kinds of URL, first match by prefix (a metric's label must take few values)
KINDS = (
    ("/api/v1/elections/", "api_public"),
    ("/api/", "api"),
    ("/e/", "page"),
    ("/data/", "open_data"),
    ("/log/", "log"),
    ("/staff/", "staff"),
    ("/integrity/", "staff"),
    ("/static/", "static"),
    ("/metrics", "operations"),
    ("/healthz", "operations"),
    ("/readyz", "operations"),
)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("secki_request_id", default="")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def kind(path: str) -> str:
    """The kind of URL of ``path`` (a metric label), e.g. ``page`` for ``/e/…``."""
    for prefix, name in KINDS:
        if path.startswith(prefix):
            return name
    return "page" if path == "/" or path.startswith(("/search", "/about")) else "other"


def new_request_id(sent: str | None) -> str:
    """The client's id when it is a plain token (``[A-Za-z0-9._-]``, ≤ 64), else a new one."""
    if sent and _REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def instrument(app: WSGIApp) -> WSGIApp:
    """``app`` with request ids, counts and durations (module docstring)."""

    def instrumented(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        rid = new_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["HTTP_X_REQUEST_ID"] = rid
        token = request_id.set(rid)
        status = ["500"]

        def start(code: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status[0] = code.split(" ", 1)[0]
            headers = [h for h in headers if h[0].lower() != "x-request-id"]
            headers.append(("X-Request-ID", rid))
            return start_response(code, headers, *exc)

        try:
            return app(environ, start)
        finally:
            request_id.reset(token)
            url_kind = kind(environ.get("PATH_INFO", ""))
            REQUESTS.labels(environ.get("REQUEST_METHOD", "?"), url_kind, status[0]).inc()
            LATENCY.labels(url_kind).observe(time.perf_counter() - started)

    return instrumented


def facts_committed(kinds: Mapping[str, int]) -> None:
    """Count ledger entries by kind; call once their transaction has committed."""
    for name, n in kinds.items():
        FACTS.labels(name).inc(n)


def multiprocess_env(var_dir: Path) -> dict[str, str]:
    """The metrics directory for a server about to start its workers, emptied (files of an
    earlier run would add their counts to this one's), as the environment variable that names
    it: ``$PROMETHEUS_MULTIPROC_DIR`` when set, else ``<var_dir>/metrics``."""
    directory = Path(os.environ.get(MULTIPROCESS_ENV) or var_dir / "metrics")
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.db"):
        old.unlink(missing_ok=True)
    return {MULTIPROCESS_ENV: str(directory)}


def exposition(extra: Collector | None = None) -> bytes:
    """Every metric in Prometheus' text format: this process's, or every live and past
    server process's (multiprocess mode), and ``extra``'s."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    if extra is None:
        return generate_latest(registry)
    combined = CollectorRegistry()
    combined.register(_Both(registry, extra))
    return generate_latest(combined)


class _Both(Collector):
    def __init__(self, registry: CollectorRegistry, extra: Collector) -> None:
        self.registry = registry
        self.extra = extra

    def collect(self) -> Iterable[Any]:
        yield from self.registry.collect()
        yield from self.extra.collect()


# -- logs -----------------------------------------------------------------------------------

#: attributes every LogRecord has; the others were passed in ``extra=`` and are kept
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    """Puts the id of the request being answered (or "") on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request id,
    the exception's traceback when there is one, and every ``extra=`` field."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or request_id.get(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and key != "request_id":
                out[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        return json.dumps(out, ensure_ascii=False)
