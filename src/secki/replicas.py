"""Public reads from PostgreSQL streaming replicas; everything else on the primary.

``SECKI_REPLICA_URLS`` names the standbys (settings: the aliases ``replica1``, ``replica2`` …).
:class:`ReadFromReplicas` (a middleware) marks a request as a public read when it is a
``GET``/``HEAD`` that carries no session, no ``Authorization`` and no staff path: only then do
reads go to a replica (:class:`Router`, for the ORM and for :mod:`secki.rawsql` alike).
Writes, and every request of an official (a session or a token), read and write the primary —
which is also the read-your-writes guarantee: the official who has just submitted a protocol
reads the primary that accepted it, however far behind the replicas are. Outside a request (the
publisher, commands) everything is on the primary.

A replica is used only while it answers and its replay is at most ``SECKI_REPLICA_MAX_LAG``
seconds behind (checked at most once a second per process and replica, :func:`lag`): a
lagging or unreachable replica is skipped, and with none left the primary answers. The
replicas take turns per request.

Failover: ``SECKI_DATABASE_FAILOVER_HOSTS`` lists the standbys (``host:port``) that the
primary's connection tries after the primary, asking libpq for a server that accepts writes
(``target_session_attrs=read-write``): once an operator promotes a standby, the next request
connects to it, with no restart (until then requests get 503 with ``Retry-After``).
"""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.http import HttpRequest, HttpResponse

from secki import rawsql

PREFIX = "replica"
#: seconds between two lag checks of one replica in one process
CHECK_EVERY = 1.0
#: paths whose reads stay on the primary even when anonymous
PRIMARY_PATHS = ("/staff/", "/integrity/", "/admin/", "/metrics", "/readyz")

_public_read: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "secki_public_read", default=False
)
_turn = itertools.count()
_checked: dict[str, tuple[float, float | None]] = {}  # alias → (checked at, lag or None)
_lock = threading.Lock()


def replica_aliases() -> list[str]:
    return [name for name in settings.DATABASES if name.startswith(PREFIX)]


def lag(name: str) -> float | None:
    """Seconds the replica's replay is behind what it has received (0 when it has replayed
    all of it), or None when it does not answer."""
    row = rawsql.standby_state(name)
    return None if row is None else lag_of(row)


def lag_of(row: tuple[bool, bool, Any]) -> float:
    """The lag that a row of :data:`secki.rawsql.STANDBY_SQL` says: 0 for a primary (a
    promoted standby) or a standby that has replayed everything it received, else the age of
    its last replayed transaction (an upper bound: the oldest waiting one is younger)."""
    standby, caught_up, behind = row
    if not standby or caught_up:
        return 0.0
    return max(0.0, float(behind))


def _usable(name: str, now: float) -> bool:
    with _lock:
        hit = _checked.get(name)
    if hit is None or now - hit[0] >= CHECK_EVERY:
        hit = (now, lag(name))
        with _lock:
            _checked[name] = hit
    behind = hit[1]
    return behind is not None and behind <= settings.SECKI_REPLICA_MAX_LAG


def alias() -> str:
    """The database this thread should read from now: a usable replica inside a public read,
    else the primary."""
    if not _public_read.get():
        return DEFAULT_DB_ALIAS
    names = replica_aliases()
    if not names:
        return DEFAULT_DB_ALIAS
    start = next(_turn)
    now = time.monotonic()
    for i in range(len(names)):
        name = names[(start + i) % len(names)]
        if _usable(name, now):
            return name
    return DEFAULT_DB_ALIAS


def forget() -> None:
    """Check every replica again at its next use (tests)."""
    with _lock:
        _checked.clear()


class Router:
    """Django's database router: reads as :func:`alias` says, writes and migrations on the
    primary."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        return alias()

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # every alias holds the same database

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


def is_public_read(request: HttpRequest) -> bool:
    return (
        request.method in ("GET", "HEAD")
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and "HTTP_AUTHORIZATION" not in request.META
        and not request.path_info.startswith(PRIMARY_PATHS)
    )


class ReadFromReplicas:
    """Marks the public reads (module docstring) for the replicas, when there are any."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_aliases() or not is_public_read(request):
            return self.get_response(request)
        token = _public_read.set(True)
        try:
            return self.get_response(request)
        finally:
            _public_read.reset(token)
