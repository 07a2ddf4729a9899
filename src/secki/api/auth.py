"""Authentication: ``Authorization: Bearer secki_…`` API tokens, or the Django session."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone

from secki.accounts.models import ApiToken, hash_token
from secki.accounts.users import User
from secki.api import store

TOUCH_EVERY = dt.timedelta(minutes=1)


def user_from_request(request: HttpRequest) -> User:
    """The caller: a token's user, the session's user, or AnonymousUser (public)."""
    cached: User | None = getattr(request, "_secki_user", None)
    if cached is not None:
        return cached
    user: User = AnonymousUser()
    raw = bearer(request)
    if raw is not None:
        return token_user(request, store.active_token(hash_token(raw), touch_before=touched()))
    if (
        getattr(request, "user", None) is not None
        and request.user.is_authenticated
        # A browser session: writes need the CSRF token, as Django forms do (a Bearer token
        # is not sent by browsers on their own, so it needs none).
        and (request.method in ("GET", "HEAD", "OPTIONS") or _csrf_ok(request))
    ):
        user = request.user
    request._secki_user = user  # type: ignore[attr-defined]
    return user


def bearer(request: HttpRequest) -> str | None:
    """The bearer token the request sends (``Authorization: Bearer …``), if it sends one."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def touched() -> dt.datetime:
    """A token last used before this moment is marked used now (``last_used_at``)."""
    return timezone.now() - TOUCH_EVERY


def token_user(request: HttpRequest, token: ApiToken | None) -> User:
    """The caller of a request that sends a bearer token, read as ``token`` (None: no
    unrevoked token has its hash), kept for the request as :func:`user_from_request` keeps
    it: the token's user while active, else a caller never treated as public."""
    user: User = token.user if token is not None and token.user.is_active else _BadToken()
    request._secki_user = user  # type: ignore[attr-defined]
    return user


def _csrf_ok(request: HttpRequest) -> bool:
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    return check.process_view(request, lambda r: HttpResponse(), (), {}) is None


class _BadToken(AnonymousUser):
    """A bearer token was sent but is unknown or revoked: never treated as public."""

    bad_token = True
