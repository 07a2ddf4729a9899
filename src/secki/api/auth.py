"""Authentication: ``Authorization: Bearer secki_…`` API tokens, or the Django session."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone

from secki.accounts.models import hash_token
from secki.accounts.users import User
from secki.api import store

TOUCH_EVERY = dt.timedelta(minutes=1)


def user_from_request(request: HttpRequest) -> User:
    """The caller: a token's user, the session's user, or AnonymousUser (public)."""
    cached: User | None = getattr(request, "_secki_user", None)
    if cached is not None:
        return cached
    user: User = AnonymousUser()
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        raw = header[7:].strip()
        token = store.active_token(hash_token(raw), touch_before=timezone.now() - TOUCH_EVERY)
        if token is not None and token.user.is_active:
            user = token.user
        else:
            user = _BadToken()
    elif (
        getattr(request, "user", None) is not None
        and request.user.is_authenticated
        # A browser session: writes need the CSRF token, as Django forms do (a Bearer token
        # is not sent by browsers on their own, so it needs none).
        and (request.method in ("GET", "HEAD", "OPTIONS") or _csrf_ok(request))
    ):
        user = request.user
    request._secki_user = user  # type: ignore[attr-defined]
    return user


def _csrf_ok(request: HttpRequest) -> bool:
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    return check.process_view(request, lambda r: HttpResponse(), (), {}) is None


class _BadToken(AnonymousUser):
    """A bearer token was sent but is unknown or revoked: never treated as public."""

    bad_token = True
