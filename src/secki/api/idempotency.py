"""``Idempotency-Key``: a retried write returns the first answer and changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse

from secki.api.models import IdempotencyRecord
from secki.errors import IntakeError

Answer = tuple[int, dict[str, Any]]


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
        status, body = _run(work)
        if status >= 500:
            return JsonResponse(body, status=status)
        try:
            with transaction.atomic():
                stored = IdempotencyRecord.objects.create(
                    user=user, key=key, fingerprint=print_, status=status, body=body
                )
        except IntegrityError:  # a concurrent retry with the same key answered first
            stored = IdempotencyRecord.objects.get(user=user, key=key)
        else:
            return JsonResponse(body, status=status)
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
