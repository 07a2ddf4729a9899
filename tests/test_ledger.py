"""The public log's entries in the database (issue 14): drafts become canonical leaves numbered
per election, written at once, at the end of a deferred block, or many at once; a subject's
entries chain up (the batch's own first, then the database); ``secki verify-log`` names what
is wrong with the rows."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.db import transaction
from django.utils import timezone

from secki.cli import cli
from secki.elections.models import Election, Station
from secki.ledger import chain, drafts, store
from secki.ledger.models import LedgerEntry
from secki.tlog import canonical, entries
from secki.tlog.merkle import leaf_hash
from tests.logcheck import bodies, log_of
from tests.turnout.conftest import load_register

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 8, 21, 14, 5, tzinfo=dt.UTC)


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return load_register(tmp_path / "a")


def note(election: Election, text: str, **fields: object) -> drafts.Generic:
    return drafts.Generic(election.slug, NOW, "note", "notes", {"text": text, **fields})


def report(election: Election, station: str, voters: int, reason: str = "") -> drafts.Draft:
    return drafts.TurnoutReported(election.slug, NOW, station, "10:00", voters, reason or None)


def append(election: Election, draft: drafts.Draft) -> LedgerEntry:
    with transaction.atomic():
        entry = chain.append(election, draft)
    assert entry is not None
    return entry


def test_entries_are_canonical_leaves_numbered_per_election(
    election: Election, tmp_path: Path
) -> None:
    other = load_register(tmp_path / "b", slug="otherland-2024")
    # each import opened its election: election.published and register.published
    assert [e.index for e in LedgerEntry.objects.filter(election=other)] == [0, 1]
    first = append(election, note(election, "Seçki — выборы"))
    second = append(other, note(other, "ə", nested={"b": [1, 2], "a": None}))
    third = append(election, note(election, "again"))
    assert (first.index, second.index, third.index) == (2, 2, 3)
    assert first.seq < second.seq < third.seq == chain.ledger_head()
    for entry in (first, second, third):
        stored = LedgerEntry.objects.get(seq=entry.seq)
        data = stored.body.encode()
        assert canonical.encode(canonical.decode(data)) == data  # canonical, non-ASCII raw
        assert stored.leaf_hash == leaf_hash(data).hex()
        assert (stored.kind, stored.subject, stored.version) == ("note", "notes", None)
    assert json.loads(first.body) == {
        "kind": "note",
        "election": election.slug,
        "at": "2026-03-08T21:14:05Z",
        "text": "Seçki — выборы",
    }
    assert "Seçki — выборы" in first.body
    assert chain.verify().ok


def test_a_draft_is_written_only_for_its_own_election(election: Election, tmp_path: Path) -> None:
    other = load_register(tmp_path / "b", slug="otherland-2024")
    with pytest.raises(ValueError, match="recorded for"), transaction.atomic():
        chain.append(election, note(other, "x"))


def test_generic_entries_hold_only_integers_strings_null_lists_and_objects(
    election: Election,
) -> None:
    entry = append(
        election,
        note(
            election,
            "e\u0301",  # not NFC: written NFC
            share=Decimal("0.400"),
            flag=True,
            when=NOW,
            day=dt.date(2026, 3, 8),
            ratio=0.5,
            items=({"on": False},),
        ),
    )
    assert json.loads(entry.body) == {
        "kind": "note",
        "election": election.slug,
        "at": "2026-03-08T21:14:05Z",
        "text": "é",
        "share": "0.400",
        "flag": "true",
        "when": "2026-03-08T21:14:05Z",
        "day": "2026-03-08",
        "ratio": "0.5",
        "items": [{"on": "false"}],
    }
    with pytest.raises(ValueError, match="may not hold election"):
        drafts.generic("note", election.slug, NOW, {"election": "other"})


def test_deferred_drafts_are_written_at_the_end_of_the_block_in_order(election: Election) -> None:
    before = LedgerEntry.objects.count()
    with transaction.atomic(), chain.deferred():
        chain.record(election, note(election, "a"))
        chain.record(election, note(election, "b"))
        assert LedgerEntry.objects.count() == before  # only noted so far
        chain.append(election, note(election, "c"))  # an append writes what was noted first
        assert LedgerEntry.objects.count() == before + 3
        chain.record(election, note(election, "d"))
    assert [b["text"] for b in bodies(election, "note")] == ["a", "b", "c", "d"]
    assert chain.verify().ok


def test_deferred_drafts_are_dropped_when_the_block_raises(election: Election) -> None:
    before = LedgerEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic(), chain.deferred():
        chain.record(election, note(election, "a"))
        raise RuntimeError("refused")
    with transaction.atomic():
        chain.record(election, note(election, "b"))  # outside a deferred block: at once
        assert LedgerEntry.objects.count() == before + 1
    assert [b["text"] for b in bodies(election, "note")] == ["b"]
    assert chain.verify().ok


def test_two_drafts_of_one_subject_in_one_block_chain_up(election: Election) -> None:
    with transaction.atomic(), chain.deferred():
        chain.record(election, report(election, "1-1", 300))
        chain.record(election, report(election, "1-2", 90))
        chain.record(election, report(election, "1-1", 310, "miscounted"))
    first, _, correction = LedgerEntry.objects.filter(kind="turnout.reported").order_by("index")
    body = json.loads(correction.body)
    assert (body["version"], body["reason"]) == (2, "miscounted")
    assert body["prev"] == {"index": first.index, "leaf_hash": first.leaf_hash}
    assert correction.version == 2 and correction.subject == "turnout:1-1@10:00"
    assert entries.first_invalid(log_of(election)) is None


def test_bulk_appends_continue_the_log_and_chain_to_the_database(election: Election) -> None:
    first = append(election, report(election, "1-1", 300))
    with transaction.atomic():
        written = chain.append_many(
            election,
            [
                report(election, "1-2", 90),
                report(election, "1-1", 320, "recount"),
                report(election, "1-1", 330, "recount again"),
            ],
        )
    assert written == 3
    last = append(election, report(election, "2-1", 200))
    logged = LedgerEntry.objects.filter(election=election, kind="turnout.reported")
    assert [e.index for e in logged] == list(range(first.index, first.index + 5))
    assert last.seq == chain.ledger_head()
    chain_of_1_1 = [json.loads(e.body) for e in logged.filter(subject="turnout:1-1@10:00")]
    assert [(b["version"], b["voters"]) for b in chain_of_1_1] == [(1, 300), (2, 320), (3, 330)]
    assert chain_of_1_1[1]["prev"]["index"] == first.index
    state = entries.replay(log_of(election))
    assert state.tally(election.slug).turnout == {
        "1-1": {"10:00": 330},
        "1-2": {"10:00": 90},
        "2-1": {"10:00": 200},
    }


def test_where_the_log_ends_is_read_with_one_statement(election: Election, tmp_path: Path) -> None:
    """store.ends: the last seq, the election's next index (from the last row, or read apart
    when the last row is another election's) and the versioned last entries of the subjects
    asked for; entries without a version and subjects not asked for are left out."""
    first = append(election, report(election, "1-1", 300))
    append(election, drafts.ProtocolStatus(election.slug, NOW, "1-1", "first_entry"))
    correction = append(election, report(election, "1-1", 310, "recount"))
    size = LedgerEntry.objects.filter(election=election).count()
    asked = ["turnout:1-1@10:00", "protocol:1-1", "turnout:1-2@10:00"]
    with transaction.atomic():
        ends = store.ends(election.pk, asked)
    assert (ends.seq, ends.size) == (chain.ledger_head(), size)
    assert list(ends.lasts) == ["turnout:1-1@10:00"]  # the status has no version
    last = ends.lasts["turnout:1-1@10:00"]
    assert (last.index, last.leaf_hash, last.version, last.kind, last.body) == (
        correction.index,
        correction.leaf_hash,
        2,
        "turnout.reported",
        correction.body,
    )
    assert last.index > first.index
    other = load_register(tmp_path / "b", slug="otherland-2024")  # now the log's last rows
    with transaction.atomic():
        ends = store.ends(election.pk)
    assert (ends.seq, ends.size, ends.lasts) == (chain.ledger_head(), size, {})
    assert store.ends(other.pk).size == 2  # election.published and register.published
    with pytest.raises(ValueError, match="at most"):
        store.ends(election.pk, [f"s{i}" for i in range(store.CHUNK + 1)])


def test_a_block_reads_the_log_once_and_writes_its_entries_with_one_statement(
    election: Election, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group-commit batch of drafts of several subjects (one of them twice) costs the log
    one read (store.ends, the subjects' last entries included) and one insert."""
    append(election, report(election, "1-1", 300))
    calls: list[str] = []
    for name in ("ends", "lasts", "last", "next_index", "head", "insert_rows", "insert"):
        real = getattr(store, name)

        def spy(*args: object, _name: str = name, _real: object = real, **kw: object) -> object:
            calls.append(_name)
            return _real(*args, **kw)  # type: ignore[operator]

        monkeypatch.setattr(store, name, spy)
    with transaction.atomic(), chain.deferred():
        chain.record(election, report(election, "1-1", 320, "recount"))
        chain.record(election, report(election, "1-2", 90))
        chain.record(election, note(election, "x"))
        chain.record(election, report(election, "1-2", 95, "typo"))
    assert calls == ["ends", "insert_rows"]
    monkeypatch.undo()
    chain_of_1_1 = bodies(election, "turnout.reported")
    assert [(b["station"], b["version"]) for b in chain_of_1_1] == [
        ("1-1", 1),
        ("1-1", 2),
        ("1-2", 1),
        ("1-2", 2),
    ]
    assert entries.first_invalid(log_of(election)) is None
    assert chain.verify().ok


def test_the_register_is_published_again_only_when_it_changed(election: Election) -> None:
    with transaction.atomic():
        assert chain.publish_register(election) is None  # as the opening published it
    Station.objects.filter(election=election, code="1-1").update(registered=1012)
    with transaction.atomic():
        entry = chain.publish_register(election)
    assert entry is not None and entry.version == 2
    first, second = bodies(election, "register.published")
    assert first["files"]["units.csv"] == second["files"]["units.csv"]
    assert first["files"]["stations.csv"] != second["files"]["stations.csv"]


def test_protocol_drafts_follow_the_log_not_the_caller() -> None:
    """Accepted when nothing is effective, amended after, annulled; after an annulment a
    publication is accepted again; an annulment with nothing effective is a status."""
    at = NOW
    state = entries.Replay()
    lasts: dict[str, drafts.Last] = {}

    def add(draft: drafts.Draft) -> drafts.Built:
        built = draft.build(lasts.get(draft.subject) if draft.chained else None)
        assert built is not None
        state.add(built.body)
        if built.version is not None:
            lasts[draft.subject] = drafts.Last(
                state.size - 1,
                state.leaf_hashes[-1].hex(),
                built.version,
                built.kind,
                built.body.decode(),
            )
        return built

    lines = {"L1": 10, "C1": 4}
    kinds = [
        add(drafts.ProtocolAnnulled("e", at, "1", "no protocol yet")).kind,
        add(drafts.ProtocolStatus("e", at, "1", "first_entry")).kind,
        add(drafts.ProtocolPublic("e", at, "1", lines)).kind,
        add(drafts.ProtocolPublic("e", at, "1", {**lines, "C1": 5}, reason="typo")).kind,
        add(drafts.ProtocolStatus("e", at, "1", "accepted", 3)).kind,
        add(drafts.ProtocolPublic("e", at, "1", lines, scan_sha256="ab" * 32)).kind,
        add(drafts.ProtocolAnnulled("e", at, "1", "stuffing", decision="CEC 4/1")).kind,
    ]
    assert kinds == [
        "protocol.status",
        "protocol.status",
        "protocol.accepted",
        "protocol.amended",
        "protocol.annulled",  # a published version superseded by one not public
        "protocol.accepted",
        "protocol.annulled",
    ]
    assert state.tally("e").stations == {}


# -- verify-log ---------------------------------------------------------------------------------


def test_verify_log_names_what_is_wrong_with_the_rows(election: Election) -> None:
    for voters in (300, 310):
        append(election, report(election, "1-1", voters, "again" if voters == 310 else ""))
    append(election, note(election, "x"))
    runner = CliRunner()
    ok = runner.invoke(cli, ["verify-log"])
    assert ok.exit_code == 0, ok.output
    assert "OK: 5 entries in 1 election logs" in ok.output

    def failure() -> str:
        result = runner.invoke(cli, ["verify-log"])
        assert result.exit_code == 1
        return result.output

    correction = LedgerEntry.objects.get(election=election, version=2)
    body = correction.body
    # a number changed in place: the leaf hash no longer matches
    LedgerEntry.objects.filter(pk=correction.pk).update(body=body.replace("310", "311"))
    assert "entry 3 (#" in failure() and "leaf_hash is not LH(body)" in failure()
    # … and its leaf hash recomputed: the entry still names the right predecessor, so the
    # log is valid, but the next check finds a prev that does not match
    forged = body.replace('"version":2', '"version":3')
    LedgerEntry.objects.filter(pk=correction.pk).update(
        body=forged, leaf_hash=leaf_hash(forged.encode()).hex()
    )
    assert "entry 3: version 3 follows version 1" in failure()
    LedgerEntry.objects.filter(pk=correction.pk).update(
        body=body, leaf_hash=leaf_hash(body.encode()).hex()
    )
    # the kind column disagreeing with the body
    LedgerEntry.objects.filter(pk=correction.pk).update(kind="note")
    assert "the body's kind is turnout.reported" in failure()
    LedgerEntry.objects.filter(pk=correction.pk).update(kind="turnout.reported")
    assert runner.invoke(cli, ["verify-log"]).exit_code == 0
    # an entry deleted: a gap
    LedgerEntry.objects.filter(pk=correction.pk).delete()
    assert f"{election.slug}: entry 3 is missing (next is 4)" in failure()


def test_verify_log_help_points_to_the_public_check() -> None:
    result = CliRunner().invoke(cli, ["verify-log", "--help"])
    assert result.exit_code == 0 and "secki verify" in result.output


def test_entries_written_now_carry_the_time_of_their_fact(election: Election) -> None:
    before = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        chain.election_status(election, "open", "closed", "end of the count")
    closed = bodies(election, "election.closed")
    assert len(closed) == 1 and closed[0]["reason"] == "end of the count"
    when = dt.datetime.strptime(closed[0]["closed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert when >= before
