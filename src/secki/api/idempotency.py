"""``Idempotency-Key``: a retried write returns the first answer and changes nothing."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse

from secki.api.models import IdempotencyRecord
from secki.errors import IntakeError

Answer = tuple[int, dict[str, Any]]
PENDING = 0  # status of a reserved key whose request is still running


def fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() if request.method else b"")
    digest.update(request.path.encode())
    digest.update(request.body)
    return digest.hexdigest()


def respond(request: HttpRequest, user: Any, work: Callable[[], Answer]) -> JsonResponse:
    """Run ``work`` once per (user, Idempotency-Key); without a key, just run it."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
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
    stored = IdempotencyRecord.objects.filter(user=user, key=key).first()
    if stored is None:
        # Reserve the key first: of two concurrent requests with one key exactly one works,
        # the other waits for its answer.
        try:
            with transaction.atomic():
                reserved = IdempotencyRecord.objects.create(
                    user=user, key=key, fingerprint=print_, status=PENDING, body={}
                )
        except IntegrityError:
            stored = _wait_for(user, key)
        else:
            try:
                status, body = _run(work)
            except BaseException:
                reserved.delete()
                raise
            if status >= 500:
                reserved.delete()
            else:
                reserved.status, reserved.body = status, body
                reserved.save(update_fields=["status", "body"])
            return JsonResponse(body, status=status)
    elif stored.status == PENDING:
        stored = _wait_for(user, key)
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


def _wait_for(user: Any, key: str, timeout: float = 10.0) -> IdempotencyRecord:
    """The answer of the request that holds the key, once it has one."""
    deadline = time.monotonic() + timeout
    while True:
        stored = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if stored is not None and stored.status != PENDING:
            return stored
        if stored is None or time.monotonic() > deadline:
            raise IntakeError(
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed; retry later",
                status=409,
                field="Idempotency-Key",
            )
        time.sleep(0.02)


def _run(work: Callable[[], Answer]) -> Answer:
    try:
        return work()
    except IntakeError as exc:
        return exc.status, exc.as_dict()
