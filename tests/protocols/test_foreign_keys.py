"""The legal record keeps its database constraints: the database itself refuses a protocol's
line value or event that names no protocol (checked at commit, on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from secki.elections.models import Election
from secki.protocols.models import EventKind, ProtocolEvent, ProtocolValue
from tests.factories import write_small_bundle
from tests.protocols.test_api import register_only

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return register_only(write_small_bundle(tmp_path))


def test_a_line_value_without_its_protocol_is_refused(election: Election) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        ProtocolValue.objects.create(protocol_id=987_654, code="L1", value=1)
    assert not ProtocolValue.objects.exists()


def test_an_event_without_its_protocol_is_refused(election: Election) -> None:
    station = election.stations.get(code="1-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProtocolEvent.objects.create(
            election=election,
            station=station,
            protocol_id=987_654,
            kind=EventKind.ACCEPTED,
            at=timezone.now(),
        )
    assert not ProtocolEvent.objects.exists()
