"""``Idempotency-Key``: a retried write returns the first answer and changes nothing.

The key's record is inserted in the same transaction as the work it guards, so the answer and
the change commit together (or neither does). A concurrent request with the same key waits on
the key's unique index until the first commits, then finds and returns the first answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import JSONField
from django.http import HttpRequest, JsonResponse
from django.http.request import RawPostDataException
from django.utils import timezone

from secki import groupcommit, rawsql
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
    user: Any,
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
    if not key:
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
            record = _claim(user, key, print_)
            if record is None:
                return None
            status, body = _run(work)
            groupcommit.at_end(_store_answers, (record, status, body))
            return status, body

    answer = groupcommit.run(unit, locks=locks) if grouped else unit()
    if answer is not None:
        return JsonResponse(answer[1], status=answer[0])
    stored = IdempotencyRecord.objects.get(user=user, key=key)
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


TABLE = IdempotencyRecord._meta.db_table


def _store_answers(rows: list[tuple[int, int, dict[str, Any]]]) -> None:
    """Store the answers of claimed keys: (record id, status, body) rows, one statement."""
    field = IdempotencyRecord._meta.get_field("body")
    assert isinstance(field, JSONField)
    with rawsql.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {TABLE} AS t SET status = v.status, body = v.body::jsonb "  # noqa: S608 - model metadata
                "FROM unnest(%s::bigint[], %s::integer[], %s::text[]) AS v(id, status, body) "
                "WHERE t.id = v.id",
                [
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    [json.dumps(r[2], cls=field.encoder) for r in rows],
                ],
            )
            return
        for record, status, body in rows:
            cursor.execute(
                f"UPDATE {TABLE} SET status = %s, body = %s WHERE id = %s",  # noqa: S608 - model metadata
                [status, field.get_db_prep_save(body, connection), record],
            )


def _claim(user: Any, key: str, print_: str) -> int | None:
    """Insert the key's pending record and return its id; None when the key exists already
    (a concurrent insert of the same key waits here until the other transaction ends)."""
    fields = ["user_id", "key", "fingerprint", "status", "body", "created_at"]
    created = IdempotencyRecord._meta.get_field("created_at")
    values = [
        user.pk,
        key,
        print_,
        PENDING,
        IdempotencyRecord._meta.get_field("body").get_db_prep_save({}, connection),
        created.get_db_prep_save(timezone.now(), connection),
    ]
    with rawsql.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} ({', '.join(fields)}) VALUES (%s, %s, %s, %s, %s, %s) "  # noqa: S608 - model metadata
            "ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            values,
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _run(work: Callable[[], Answer]) -> Answer:
    try:
        return work()
    except IntakeError as exc:
        return exc.status, exc.as_dict()
