"""A kept PostgreSQL connection's health check (``CONN_HEALTH_CHECKS``, before a request's first
statement) sends no statement while the server has said nothing, and still drops a connection
the server ended (:mod:`secki.postgres.base`; tests/test_database_restart.py crashes a whole
server under the production server)."""

from __future__ import annotations

import time

import pytest
from django.db import connection, connections

from secki import rawsql

pytestmark = pytest.mark.django_db

DEADLINE = 30.0


def test_a_kept_connection_is_checked_without_a_statement_until_the_server_ends_it() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no server to lose")
    kept = connections.create_connection("default")
    try:
        with kept.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        raw = kept.connection
        assert kept.health_check_enabled

        # A request starts: its first statement checks the kept connection.
        kept.health_check_done = False
        with rawsql.counting() as sent:
            kept.close_if_health_check_failed()
        assert sent.sql == []
        assert kept.health_check_done
        assert kept.connection is raw

        # The server ends the connection's backend (as a restart or an idle timeout does).
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            deadline = time.monotonic() + DEADLINE
            while True:
                # (a transaction keeps what it read of pg_stat_activity unless told not to)
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    break
                assert time.monotonic() < deadline, "the backend did not end"
                time.sleep(0.01)

        # The next request's check finds it gone and drops it; its statement reconnects.
        kept.health_check_done = False
        kept.close_if_health_check_failed()
        assert kept.connection is None
        with kept.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] != pid
    finally:
        kept.close()
