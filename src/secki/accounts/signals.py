"""Audit records of log-ins, log-outs, failed log-ins and lockouts (Django's auth signals and
axes' ``user_locked_out``), connected in :meth:`AccountsConfig.ready`. The second factor's
own records (enrolment, new recovery codes) are written by :mod:`secki.staff.signin`; a
wrong code arrives here as a failed log-in marked ``second_factor``."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from secki.accounts import audit
from secki.accounts.users import User


def logged_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    method = getattr(request, "secki_login_method", "password")
    audit.record(
        user, "login", target=user.get_username(), after={"method": method}, request=request
    )


def logged_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    # A session still waiting for its second factor is anonymous to the views.
    user = user or getattr(request, "secki_unverified_user", None)
    if user is None:
        return
    audit.record(user, "logout", target=user.get_username(), request=request)


def login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """A wrong password or code, or any try during a lockout (axes refused it before the
    password was checked: ``reason`` says which). The failure that locks a name out is
    recorded just after its ``login.locked_out`` (axes' receiver runs first)."""
    username = str(credentials.get("username") or "")
    # axes sets axes_locked_out before the check when the name is already locked out, and
    # counts failures (axes_failures_since_start) only for tries it let through.
    refused_locked = bool(getattr(request, "axes_locked_out", False)) and (
        getattr(request, "axes_failures_since_start", None) is None
    )
    second = bool(credentials.get("second_factor"))
    if refused_locked:
        reason = "locked_out"
    else:
        reason = "wrong_code" if second else "wrong_password"
    audit.record(
        None,
        "2fa.failed" if second else "login.failed",
        target=username,
        after={"reason": reason},
        request=request,
    )


def locked_out(
    sender: Any, request: HttpRequest | None, username: str | None, ip_address: str, **kw: Any
) -> None:
    """The failure that locks a user name out (not the refused tries after it)."""
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    cool_off = get_cool_off(request)
    audit.record(
        None,
        "login.locked_out",
        target=username or "",
        after={
            "failures": failures,
            "cool_off_minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
        },
        request=request,
    )


def connect() -> None:
    user_logged_in.connect(logged_in, dispatch_uid="secki.accounts.audit.login")
    user_logged_out.connect(logged_out, dispatch_uid="secki.accounts.audit.logout")
    user_login_failed.connect(login_failed, dispatch_uid="secki.accounts.audit.login_failed")
    user_locked_out.connect(locked_out, dispatch_uid="secki.accounts.audit.locked_out")
