"""The publisher's one-snapshot read (secki.opendata.store.snapshot) is a reader's transaction on
both databases: it sees one state of the database from its first read, and it holds no writer
back (on SQLite, before, it took the one writer's lock: the settings' ``IMMEDIATE`` mode, so
every protocol waited for a state's read, issue 15)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from secki import rawsql
from secki.elections.models import Election
from secki.opendata import store

pytestmark = pytest.mark.django_db(transaction=True)

#: seconds a thread waits for the other's step before the test fails
WAIT = 30.0


def test_a_snapshot_sees_one_state_and_holds_no_writer_back(waiting: Election) -> None:
    election = waiting
    began, wrote = threading.Event(), threading.Event()
    seen: list[str] = []
    failed: list[BaseException] = []

    def reader() -> None:
        try:
            with store.snapshot():
                seen.append(Election.objects.get(pk=election.pk).name)  # its first read
                began.set()
                assert wrote.wait(WAIT), "the writer did not write"
                seen.append(Election.objects.get(pk=election.pk).name)
        except BaseException as exc:  # reported by the test's thread
            failed.append(exc)
            began.set()
        finally:
            connection.close()

    def writer() -> None:
        try:
            assert began.wait(WAIT), "the reader did not begin"
            if rawsql.vendor() == "sqlite":  # a writer held back fails at once, not in 10 s
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA busy_timeout=200")
            with transaction.atomic():
                Election.objects.filter(pk=election.pk).update(name="Renamed")
        except BaseException as exc:
            failed.append(exc)
        finally:
            wrote.set()
            connection.close()

    threads: list[Any] = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert not failed, failed
    assert seen == [election.name, election.name]  # the snapshot's state, not the commit
    assert Election.objects.get(pk=election.pk).name == "Renamed"  # the write went through
