"""Write the public log's entries (spec/transparency.md §5; issue 14).

Callers record *drafts* (:mod:`secki.ledger.drafts`): what they know of a fact. The entry's
bytes are built when it is written, under the log's lock, once its leaf index and its
subject's previous entry are known: first among the entries written with it (two drafts
for one station in one group-commit batch), then in the database (one indexed read). Every
entry is written inside the transaction that makes its fact true, so a fact and its entry
commit together or not at all.

:func:`record` + :func:`deferred` (group commit: a batch's entries are written with one
statement at its end), :func:`append` (at once, the entry returned), :func:`append_many`
(bulk import: one statement, COPY on PostgreSQL), :func:`ledger_head` (the caches' key).
The Merkle tree, its tiles and its signed checkpoints are the publisher's, from these rows.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from secki import observability
from secki.elections.models import Election, ElectionStatus
from secki.elections.register import register_files, settings_file
from secki.ledger import drafts, store
from secki.ledger.drafts import Draft, Last
from secki.ledger.models import LedgerEntry, LogFile
from secki.protocol_schema import SchemaError
from secki.tlog import entries
from secki.tlog.merkle import leaf_hash


def digest(data: Any) -> str:
    """SHA-256 of canonical JSON (sorted keys, no spaces, UTF-8): how a page names a set of
    values (the station page's "SHA-256 of these values")."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def ledger_head() -> int:
    """The sequence number of the log's last entry over all elections (0 while it is empty):
    the key every cache of figures is checked against, since every public fact moves it."""
    return int(LedgerEntry.objects.aggregate(m=Max("seq"))["m"] or 0)


def _lock_log() -> None:
    """Take the log's lock for the rest of the transaction (:func:`store.lock_log`).

    The transaction then commits synchronously (the server's default, which nothing here
    turns off): PostgreSQL returns from COMMIT only once the commit record is flushed, and
    releases the lock and makes the rows visible only after that. So no answer goes out, and
    no other writer builds on an entry, before the fact is durable. The lock is held through
    the flush, and :mod:`secki.groupcommit` shares one transaction among concurrent requests.
    """
    store.lock_log()


def _require_atomic(name: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"ledger.{name} must be called inside transaction.atomic()")


#: an entry as a row, in :data:`secki.ledger.store.COLUMNS` order
Row = tuple[int, int, int, str, str, int | None, str, str, dt.datetime]


class _Writer:
    """Turns drafts into rows, under the log's lock: the next ``seq``, each election's next
    index, and the last entry of every subject seen (the batch's own first)."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.indexes: dict[int, int] = {}
        self.lasts: dict[tuple[int, str], Last | None] = {}

    def know(self, election_id: int, subjects: Iterable[str], found: Mapping[str, Last]) -> None:
        """Remember what the log holds for ``subjects`` (read together): ``found`` their last
        entries, the others have none."""
        for subject in subjects:
            self.lasts[(election_id, subject)] = found.get(subject)

    def prefetch(self, election_id: int, drafts_: Sequence[Draft]) -> None:
        """Read the last entries of the drafts' subjects not known yet, in one statement
        (a few for a bulk write)."""
        wanted = _subjects(election_id, drafts_, self.lasts)
        if wanted:
            self.know(election_id, wanted, store.lasts(election_id, wanted))

    def index_of(self, election_id: int) -> int:
        index = self.indexes.get(election_id)
        if index is None:
            index = store.next_index(election_id)
        return index

    def entry(self, election_id: int, draft: Draft) -> Row | None:
        key = (election_id, draft.subject)
        last = None
        if draft.chained:
            if key in self.lasts:
                last = self.lasts[key]
            else:
                last = self.lasts[key] = store.last(election_id, draft.subject)
        built = draft.build(last)
        if built is None:
            return None
        index = self.index_of(election_id)
        self.indexes[election_id] = index + 1
        self.seq += 1
        body = built.body.decode()
        digest = leaf_hash(built.body).hex()
        if built.version is not None:
            self.lasts[key] = Last(index, digest, built.version, built.kind, body)
        return (
            self.seq,
            election_id,
            index,
            built.kind,
            draft.subject,
            built.version,
            body,
            digest,
            draft.at,
        )


def _subjects(
    election_id: int, drafts_: Iterable[Draft], known: Mapping[tuple[int, str], object]
) -> set[str]:
    """The subjects of the chained drafts whose last entries ``known`` does not hold."""
    return {d.subject for d in drafts_ if d.chained and (election_id, d.subject) not in known}


def _writer(election_id: int, drafts_: Sequence[Draft] = ()) -> _Writer:
    """A writer at the log's end, knowing the last entries of the chained drafts' subjects
    (the first :data:`store.CHUNK` of them): one statement (:func:`store.ends`)."""
    subjects = sorted(_subjects(election_id, drafts_, {}))[: store.CHUNK]
    ends = store.ends(election_id, subjects)
    writer = _Writer(ends.seq)
    writer.indexes[election_id] = ends.size
    writer.know(election_id, subjects, ends.lasts)
    return writer


def _check(election: Election, draft: Draft) -> None:
    if draft.election != election.slug:
        raise ValueError(f"a draft of {draft.election} recorded for {election.slug}")


def append(election: Election, draft: Draft) -> LedgerEntry | None:
    """Write one entry now and return it (None when the draft has nothing to write: a
    register that did not change). Must run inside the transaction that makes the fact
    true."""
    _require_atomic("append")
    _check(election, draft)
    row = _entry_now(election, draft)
    if row is None:
        return None
    return store.insert(**dict(zip(store.COLUMNS, row, strict=True)))


def _entry_now(election: Election, draft: Draft) -> Row | None:
    """The draft's row, at the log's end now (under its lock, for the rest of the
    transaction), counted at commit; not written yet."""
    _write_deferred()  # entries recorded earlier in this transaction come first
    _lock_log()
    row = _writer(election.pk, [draft]).entry(election.pk, draft)
    if row is not None:
        _count_at_commit([row])
    return row


# -- deferred entries (group commit) ------------------------------------------------------------

_local = threading.local()


def record(election: Election, draft: Draft) -> None:
    """Log a fact, like :func:`append`, when the caller does not need the entry back.

    Inside :func:`deferred` the draft is only noted and written with the others at the end of
    the block (one lock, one head read, one insert for the whole block); otherwise it is
    written at once."""
    _require_atomic("record")
    _check(election, draft)
    pending: list[tuple[int, Draft]] | None = getattr(_local, "pending", None)
    if pending is not None:
        pending.append((election.pk, draft))
        return
    row = _entry_now(election, draft)  # the entry :func:`append` writes, no instance built
    if row is not None:
        store.insert_rows([row])


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block (inside a transaction), :func:`record` only notes its drafts; their
    entries are written in order when the block ends normally, and dropped when it raises (the
    transaction is then rolled back anyway). Used by :mod:`secki.groupcommit`: the writes of
    several requests share one transaction, and taking the log's lock only at the end keeps a
    batch from holding it while it waits for a station's lock (which another process's batch
    may hold while waiting for the log)."""
    _require_atomic("deferred")
    if getattr(_local, "pending", None) is not None:
        raise RuntimeError("ledger.deferred blocks do not nest")
    _local.pending = []
    try:
        yield
        _write_deferred()
    finally:
        _local.pending = None


def _write_deferred() -> None:
    pending: list[tuple[int, Draft]] | None = getattr(_local, "pending", None)
    if not pending:
        return
    by_election: dict[int, list[Draft]] = {}
    for election_id, draft in pending:
        by_election.setdefault(election_id, []).append(draft)
    first = pending[0][0]
    _lock_log()
    writer = _writer(first, by_election[first])
    for election_id, group in by_election.items():
        writer.prefetch(election_id, group)  # another election's, or beyond the first chunk
    rows = [writer.entry(election_id, draft) for election_id, draft in pending]
    written = [row for row in rows if row is not None]
    _count_at_commit(written)
    store.insert_rows(written)
    pending.clear()


def append_many(election: Election, drafts: Sequence[Draft]) -> int:
    """Write many entries of one election at once (bulk upload and import): the same entries
    as one-by-one appends, the subjects' last entries read in a few statements, the rows
    written with one (COPY on PostgreSQL). Returns how many were written."""
    if not drafts:
        return 0
    _require_atomic("append_many")
    for draft in drafts:
        _check(election, draft)
    _write_deferred()
    _lock_log()
    writer = _writer(election.pk)
    writer.prefetch(election.pk, drafts)
    rows = [row for row in (writer.entry(election.pk, draft) for draft in drafts) if row]
    _count_at_commit(rows)
    store.write_many(rows)
    return len(rows)


def _count_at_commit(rows: Sequence[Row]) -> None:
    """Count the entries by kind (``secki_facts_committed``) if their transaction commits."""
    if rows:
        kinds = collections.Counter(str(row[3]) for row in rows)
        transaction.on_commit(lambda: observability.facts_committed(kinds))


def save_files(files: Mapping[str, bytes], at: dt.datetime | None = None) -> dict[str, str]:
    """Store files that an entry names (register files, ``election.json``) for the publisher,
    in the caller's transaction; returns their SHA-256 by name."""
    now = at or timezone.now()
    digests = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    store.save_files(
        [
            LogFile(sha256=digests[name], name=name, content=content, created_at=now)
            for name, content in files.items()
        ]
    )
    return digests


# -- the election and its register ----------------------------------------------------------------


def publish_register(election: Election, at: dt.datetime | None = None) -> LedgerEntry | None:
    """``register.published`` of the register's files as they are now (stored for the
    publisher), unless the last one named the same files."""
    now = at or timezone.now()
    files = save_files(register_files(election), now)
    return append(election, drafts.RegisterPublished(election.slug, now, files))


def election_status(election: Election, old: str, new: str, reason: str = "") -> None:
    """The election's status moved from ``old`` to ``new`` (in the caller's transaction):
    opening publishes its ``election.json`` (``election.published``) and then its register
    (``register.published``, the first time or when it changed); leaving ``open`` is
    ``election.closed``; other moves a generic ``election.status``
    (:class:`secki.ledger.drafts.ElectionStatusChanged`). An election opened without a
    protocol form has no ``election.json`` to publish: a generic ``election.status`` too."""
    now = timezone.now()
    settings_sha256 = None
    if new == ElectionStatus.OPEN:
        try:
            name, content = settings_file(election)
        except SchemaError:
            pass
        else:
            settings_sha256 = save_files({name: content}, now)[name]
    append(
        election,
        drafts.ElectionStatusChanged(election.slug, now, old, new, reason, settings_sha256),
    )
    if new == ElectionStatus.OPEN:
        publish_register(election, now)


def settings_changed(election: Election, changes: Mapping[str, object]) -> None:
    """``election.settings``: the changed fields' new values and, when the election has a
    protocol form, the SHA-256 of its ``election.json`` as it now is (stored for the
    publisher, like ``election.published``'s), so that a verifier knows which file the log
    names after the change (in the caller's transaction)."""
    now = timezone.now()
    fields: dict[str, object] = {"changes": dict(changes)}
    try:
        name, content = settings_file(election)
    except SchemaError:
        pass
    else:
        fields["settings_sha256"] = save_files({name: content}, now)[name]
    append(
        election, drafts.Generic(election.slug, now, "election.settings", drafts.ELECTION, fields)
    )


# -- checking the rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    elections: int
    problem: str | None = None
    seq: int | None = None


def _rows(election_id: int, batch: int = 5000) -> Iterator[tuple[int, int, str, str, str]]:
    """(seq, index, kind, body, leaf_hash) of an election's entries in index order."""
    after = -1
    while True:
        rows = list(
            LedgerEntry.objects.filter(election_id=election_id, index__gt=after)
            .order_by("index")
            .values_list("seq", "index", "kind", "body", "leaf_hash")[:batch]
        )
        if not rows:
            return
        yield from rows
        after = rows[-1][1]


def verify() -> Verification:
    """Check the rows of every election's log: each row's ``leaf_hash`` is ``LH(body)`` and
    its ``kind`` the body's, the indexes run 0, 1, 2 … without a gap, and the entries are
    valid (:func:`secki.tlog.entries.first_invalid`, spec §5.3). The first problem is named.

    This checks the database against itself; the public check is ``secki verify`` of the
    published files (signed checkpoints, witnesses, totals)."""
    checked = 0
    elections = list(
        Election.objects.filter(ledger_entries__isnull=False)
        .distinct()
        .order_by("pk")
        .values_list("pk", "slug")
    )
    for election_id, slug in elections:
        state = entries.Replay()
        for seq, index, kind, body, digest in _rows(election_id):
            label = f"{slug} entry {index} (#{seq}, {kind})"
            if index != state.size:
                return Verification(
                    False,
                    checked,
                    len(elections),
                    f"{slug}: entry {state.size} is missing (next is {index})",
                    seq,
                )
            data = body.encode()
            if leaf_hash(data).hex() != digest:
                return Verification(
                    False,
                    checked,
                    len(elections),
                    f"{label}: leaf_hash is not LH(body) (altered)",
                    seq,
                )
            try:
                entry = state.add(data)
            except entries.InvalidEntry as exc:
                return Verification(False, checked, len(elections), f"{slug}: {exc}", seq)
            if entry.kind != kind:
                return Verification(
                    False,
                    checked,
                    len(elections),
                    f"{label}: the body's kind is {entry.kind} (altered)",
                    seq,
                )
            checked += 1
    return Verification(True, checked, len(elections))
