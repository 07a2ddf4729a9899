"""``Idempotency-Key``: a retried write returns the first answer and changes nothing.

The key's record is inserted in the same transaction as the work it guards, so the answer and
the change commit together (or neither does), and the key's unique index lets only one of them
commit.

Most writes claim the key first (a record without its answer, inserted before the work): a
concurrent request with the same key waits on the unique index until the first commits, then
finds and returns the first answer; the answer is stored at the end (:func:`store.store_answers`).

The intake's group-committed writes (protocols, turnout reports: ``grouped``) sent with a
bearer token on PostgreSQL spend no statement of their own on the key before the work: the
statement that reads the token reads the caller's committed record of the key too
(:func:`secki.api.lookups.caller_election_station`). A record found is the answer (the work
does not run); none found, the work runs and its record, answer included, is inserted after
the log's entries, in the same transaction (:func:`secki.groupcommit.after_log`; in a batch
one statement for all). If the key was stored meanwhile (a concurrent request with the same
key, which that insert waits for, or the same key earlier in the batch), the insert leaves the
record as it is and the whole transaction is rolled back — the work undone, a batch sent back
to run its units alone — and the stored answer is returned, as after a claim. The work of such
a unit writes only to the database before its commit (``grouped`` requires it), so nothing of
it outlives the rollback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.http.request import RawPostDataException

from secki import groupcommit
from secki.accounts.users import User, account_of
from secki.api import store
from secki.api.models import IdempotencyRecord
from secki.errors import IntakeError

Answer = tuple[int, dict[str, Any]]
PENDING = 0  # status of a key whose request has not finished (never visible outside it)


def fingerprint(request: HttpRequest) -> str:
    """SHA-256 of method, path and body (for a multipart upload: its fields and files)."""
    digest = hashlib.sha256()
    digest.update(request.method.encode() if request.method else b"")
    digest.update(request.path.encode())
    try:
        digest.update(request.body)
    except RawPostDataException:  # the upload was already parsed into POST and FILES
        digest.update(repr(sorted(request.POST.lists())).encode())
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                digest.update(name.encode())
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
    return digest.hexdigest()


def respond(
    request: HttpRequest,
    user: User | None,
    work: Callable[[], Answer],
    *,
    grouped: bool = False,
    locks: Sequence[groupcommit.Row] = (),
) -> JsonResponse:
    """Run ``work`` once per (user, Idempotency-Key); without a key, just run it.

    ``grouped``: the work may share its transaction with concurrent requests
    (:mod:`secki.groupcommit`, which takes ``locks`` first); only for work that writes nothing
    before its last refusal."""
    key = request.headers.get("Idempotency-Key", "").strip()
    account = account_of(user)
    if not key or account is None:  # an anonymous caller's work refuses it (401) anyway
        if grouped:
            status, body = groupcommit.run(lambda: _run(work), locks=locks)
        else:
            status, body = _run(work)
        return JsonResponse(body, status=status)
    if len(key) > 200:
        raise IntakeError(
            "invalid_idempotency_key",
            "Idempotency-Key is longer than 200 characters",
            status=400,
            field="Idempotency-Key",
        )
    print_ = fingerprint(request)
    read: tuple[str, IdempotencyRecord | None] | None = getattr(request, "_secki_key_read", None)
    if grouped and read is not None and read[0] == key:
        stored = read[1]
        if stored is not None and stored.user_id == account.pk:
            return _replay(stored, print_)
        user_id = account.pk

        def work_then_key() -> Answer | None:
            """The work, then its key's record with the answer (after the log's entries); None
            when the key was stored meanwhile (all of this rolled back)."""
            try:
                with transaction.atomic(savepoint=False):
                    status, body = _run(work)
                    groupcommit.after_log(_insert_answers, (user_id, key, print_, status, body))
                    return status, body
            except _Taken:
                return None

        answer = groupcommit.run(work_then_key, locks=locks)
        if answer is not None:
            return JsonResponse(answer[1], status=answer[0])
        return _replay(IdempotencyRecord.objects.get(user=account, key=key), print_)

    def unit() -> Answer | None:
        """The work and its key's record in one transaction; None when the key exists."""
        with transaction.atomic(savepoint=False):
            record = store.claim_key(account.pk, key, print_, PENDING)
            if record is None:
                return None
            status, body = _run(work)
            groupcommit.at_end(store.store_answers, (record, status, body))
            return status, body

    answer = groupcommit.run(unit, locks=locks) if grouped else unit()
    if answer is not None:
        return JsonResponse(answer[1], status=answer[0])
    return _replay(IdempotencyRecord.objects.get(user=account, key=key), print_)


def _replay(stored: IdempotencyRecord, print_: str) -> JsonResponse:
    """The answer stored for a key, to a request with the fingerprint ``print_``."""
    if stored.fingerprint != print_:
        raise IntakeError(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
            status=422,
            field="Idempotency-Key",
        )
    response = JsonResponse(stored.body, status=stored.status)
    response["Idempotent-Replayed"] = "true"
    return response


class _Taken(Exception):
    """A key's record was not inserted: the key was stored meanwhile."""


def _insert_answers(rows: list[tuple[int, str, str, int, dict[str, Any]]]) -> None:
    """Insert the keys' records with their answers (:func:`store.insert_answers`); raise
    :class:`_Taken`, which rolls the transaction back, when any key was stored already."""
    if store.insert_answers(rows) != len(rows):
        raise _Taken


def _run(work: Callable[[], Answer]) -> Answer:
    try:
        return work()
    except IntakeError as exc:
        return exc.status, exc.as_dict()
