"""Django's PostgreSQL backend, with a kept connection's health check made without a statement
while the server has said nothing.

``CONN_HEALTH_CHECKS`` checks a kept connection before its first use in every request, and
Django's check is a ``SELECT 1``: a round trip and a statement on the server for every write
and every read (issue 15). A server that goes away ends its side of the connection (a crash or
restart of its processes closes their sockets; ``pg_terminate_backend``, an idle timeout or a
shutdown first sends the reason, then closes), and an idle connection receives nothing
otherwise. So here the check first asks the operating system whether anything arrived on the
idle connection's socket, without waiting: nothing at all (no data, no end, no error) means the
server has not left, and the connection is kept without a statement. Anything else — data, the
end of the stream, an error, a connection not idle or already known broken — and Django's own
check runs (``SELECT 1``, the connection closed when it fails), which also reads whatever the
server sent. A server that vanished without a word (its machine cut off) is found by the
request's first statement instead, as it would have been by the ``SELECT 1``: that request
gets the 503 (:mod:`secki.unavailable`) and its connection is dropped at its end
(``close_if_unusable_or_obsolete``). tests/test_database_restart.py crashes the server under
the production server, busy and idle, and tests/test_health_check.py checks both ways here.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base


def quiet(connection: Any) -> bool:
    """Whether the psycopg ``connection`` is idle, not known broken, and nothing (data, end of
    stream, error) has arrived on its socket: the server has not gone away meanwhile."""
    if connection.closed or connection.broken:
        return False
    pgconn = connection.pgconn
    if pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return False
    try:
        descriptor = pgconn.socket
    except psycopg.OperationalError:
        return False
    poller = select.poll()
    # POLLERR, POLLHUP and POLLNVAL are reported whether asked for or not
    poller.register(descriptor, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and getattr(self, "health_check_enabled", False)
            and not getattr(self, "health_check_done", True)
            and not getattr(self, "pool", None)
            and quiet(self.connection)
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
