"""The hash chain's append: canonical bodies (non-ASCII included), each hash over the previous
one, single and bulk appends continuing one chain."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from secki.ledger import chain
from secki.ledger.models import LedgerEntry

pytestmark = pytest.mark.django_db


def append(kind: str, payload: dict[str, object]) -> LedgerEntry:
    with transaction.atomic():
        return chain.append(kind, payload)


def test_appended_entries_are_canonical_and_chained() -> None:
    first = append("note", {"text": "Seçki — выборы", "n": 1})
    second = append("note", {"nested": {"b": [1, 2], "a": "ə"}, "n": 2})
    for entry in (first, second):
        stored = LedgerEntry.objects.get(seq=entry.seq)
        assert stored.body == entry.body == chain.canonical(json.loads(stored.body))
        assert stored.hash == chain.entry_hash(stored.prev_hash, stored.body)
    assert second.seq == first.seq + 1
    assert second.prev_hash == first.hash
    assert chain.verify().ok


def test_bulk_appends_continue_the_same_chain() -> None:
    append("note", {"n": 1})
    with transaction.atomic():
        assert chain.append_many([("note", {"n": i}) for i in range(2, 6)]) == 4
    last = append("note", {"n": 6})
    assert last.seq == 6
    assert chain.verify().ok


def kinds_and_numbers() -> list[tuple[str, int]]:
    return [(e.kind, json.loads(e.body)["payload"]["n"]) for e in LedgerEntry.objects.all()]


def test_deferred_records_are_written_at_the_end_of_the_block_in_order() -> None:
    append("note", {"n": 1})
    with transaction.atomic(), chain.deferred():
        chain.record("a", {"n": 2})
        chain.record("b", {"n": 3})
        assert LedgerEntry.objects.count() == 1  # only noted so far
        chain.append("c", {"n": 4})  # a direct append writes what was noted first
        assert LedgerEntry.objects.count() == 4
        chain.record("d", {"n": 5})
    assert kinds_and_numbers() == [("note", 1), ("a", 2), ("b", 3), ("c", 4), ("d", 5)]
    assert chain.verify().ok


def test_deferred_records_are_dropped_when_the_block_raises() -> None:
    append("note", {"n": 1})
    with pytest.raises(RuntimeError), transaction.atomic(), chain.deferred():
        chain.record("a", {"n": 2})
        raise RuntimeError("refused")
    with transaction.atomic():
        chain.record("b", {"n": 3})  # outside a deferred block: appended at once
        assert LedgerEntry.objects.count() == 2
    assert kinds_and_numbers() == [("note", 1), ("b", 3)]
    assert chain.verify().ok
