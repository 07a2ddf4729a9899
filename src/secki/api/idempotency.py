"""``Idempotency-Key``: a retried write returns the first answer and changes nothing.

The key's record is inserted in the same transaction as the work it guards, so the answer and
the change commit together (or neither does). A concurrent request with the same key waits on
the key's unique index until the first commits, then finds and returns the first answer.
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
    stored = IdempotencyRecord.objects.get(user=account, key=key)
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


def _run(work: Callable[[], Answer]) -> Answer:
    try:
        return work()
    except IntakeError as exc:
        return exc.status, exc.as_dict()
