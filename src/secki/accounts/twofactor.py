"""Two-factor log-in for officials who can change results (django-otp: TOTP + recovery codes).

Who needs it: every user with a membership whose role grants a write permission
(:data:`WRITE_ROLES`, read from :data:`secki.accounts.access.GRANTS`), superusers and staff
(the admin site can change memberships). Observers and users without a role are not forced.
``SECKI_REQUIRE_2FA=0`` lifts the requirement (the demo); a user who has a confirmed
authenticator is still asked for its code.

The log-in (:mod:`secki.staff.signin`) does not log the user in after the password when a
second factor is due: the session only holds a *pending* log-in (:func:`start`), and Django's
``login`` runs after the code (:func:`complete`), so until then every page and the API see an
anonymous visitor. :class:`TwoFactorMiddleware` is the second line: a session logged in by
any other way (a password-only log-in) whose user needs the second factor is treated as
anonymous everywhere — staff pages, turnout forms, the admin site, session-auth API calls —
until it is verified. API bearer tokens are issued from a verified session and not affected.
"""

from __future__ import annotations

import base64
import functools
import time
from typing import Any

import segno
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp import verify_token as otp_verify_token
from django_otp.middleware import OTPMiddleware
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from secki.accounts.access import GRANTS, Permission
from secki.accounts.models import Membership
from secki.accounts.users import Account, User

# Roles that can change something: every permission but reading unpublished data.
WRITE_ROLES: frozenset[str] = frozenset(
    role.value for role, grants in GRANTS.items() if grants - {Permission.VIEW_UNPUBLISHED}
)
RECOVERY_CODES = 10
# A pending log-in (password given, code not yet) lasts this long.
PENDING_SECONDS = 600

_PENDING = "secki_2fa_pending"
_SHOW_CODES = "secki_2fa_show_recovery_codes"


def required(user: User) -> bool:
    """Whether ``user`` must pass a second factor (``SECKI_REQUIRE_2FA``, default on)."""
    if not settings.SECKI_REQUIRE_2FA or user is None or not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return Membership.objects.filter(user_id=user.pk, role__in=WRITE_ROLES).exists()


def totp_device(user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator, if any."""
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).order_by("id").first()


def has_second_factor(user: User) -> bool:
    return totp_device(user) is not None


# --- the pending log-in ------------------------------------------------------------------


def start(request: HttpRequest, user: User, backend: str, next_url: str) -> None:
    """The password was right: remember the user until the second factor, in a new session
    key (no fixation), without logging in."""
    request.session.cycle_key()
    request.session[_PENDING] = {
        "user": user.pk,
        "backend": backend,
        "next": next_url,
        "since": time.time(),
    }


def pending(request: HttpRequest) -> tuple[Any, str, str] | None:
    """(user, backend, next URL) of the session's pending log-in, or None (none, expired,
    user gone or deactivated)."""
    state = request.session.get(_PENDING)
    if not isinstance(state, dict):
        return None
    if time.time() - float(state.get("since", 0)) > PENDING_SECONDS:
        del request.session[_PENDING]
        return None
    user = get_user_model().objects.filter(pk=int(state.get("user", 0)), is_active=True).first()
    if user is None:
        del request.session[_PENDING]
        return None
    return user, str(state["backend"]), str(state.get("next", ""))


def abandon(request: HttpRequest) -> None:
    """Forget the pending log-in (locked out: the password is asked again)."""
    request.session.pop(_PENDING, None)


def complete(request: HttpRequest, user: Account, backend: str, device: Any, method: str) -> None:
    """Log the user in (Django's ``login``: a new session key, the ``user_logged_in``
    signal and its audit record) and mark the session verified by ``device``."""
    request.session.pop(_PENDING, None)
    request.secki_login_method = method  # type: ignore[attr-defined]
    login(request, user, backend)
    otp_login(request, device)


# --- codes ---------------------------------------------------------------------------------


def normalise(code: str) -> str:
    """What a person may type around a code: spaces, dashes, upper case."""
    return "".join(ch for ch in code if ch not in " -\t").lower()


def verify(user: User, code: str) -> tuple[Any, str] | None:
    """The device that accepts ``code`` and the method (``totp`` or ``recovery_code``), or
    None. Six digits are tried on the authenticator, anything else as a recovery code (used
    up when accepted). django-otp throttles each device after a failure (1, 2, 4 … s)."""
    token = normalise(code)
    if not token or len(token) > 16:
        return None
    if token.isdigit() and len(token) in (6, 8):
        candidates, method = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True), "totp"
    else:
        candidates, method = (
            StaticDevice.objects.filter(user_id=user.pk, confirmed=True),
            "recovery_code",
        )
    for device in candidates.order_by("id"):
        verified = otp_verify_token(user, device.persistent_id, token)
        if verified is not None:
            return verified, method
    return None


# --- enrolment -----------------------------------------------------------------------------


def enrolment_device(user: User) -> TOTPDevice:
    """The unconfirmed authenticator being set up (the same secret on every reload)."""
    device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def secret_text(device: TOTPDevice) -> str:
    """The secret in base32 as authenticator apps take it by hand, in groups of four."""
    raw = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def qr_svg(device: TOTPDevice, title: str) -> str:
    """The device's ``otpauth://`` URL as an inline SVG QR code (no script, no other host)."""
    return str(
        segno.make(device.config_url, error="m").svg_inline(scale=5, omitsize=True, title=title)
    )


@transaction.atomic
def confirm(device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the authenticator with one code from it; on success remove any other
    authenticator and recovery codes of the user and issue :data:`RECOVERY_CODES` new ones
    (returned once, to be shown once)."""
    token = normalise(code)
    if not (token.isdigit() and len(token) == device.digits):
        return None
    locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    if locked.confirmed or not locked.verify_token(token):
        return None
    locked.confirmed = True
    locked.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
    return issue_recovery_codes(device.user)


def issue_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user_id=user.pk).delete()
    static = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=c) for c in codes)
    return codes


def remember_codes_to_show(request: HttpRequest, codes: list[str]) -> None:
    request.session[_SHOW_CODES] = codes


def codes_to_show(request: HttpRequest) -> list[str] | None:
    """The new recovery codes, once: they leave the session when read."""
    codes = request.session.pop(_SHOW_CODES, None)
    return list(codes) if isinstance(codes, list) else None


def display_code(code: str) -> str:
    """A recovery code as shown: ``abcde fghij``."""
    return f"{code[:5]} {code[5:]}" if len(code) > 5 else code


# --- the middleware ------------------------------------------------------------------------


class TwoFactorMiddleware(OTPMiddleware):  # type: ignore[misc]  # django-otp is untyped
    """django-otp's middleware (``request.user.otp_device``, ``is_verified()``), and a user
    who needs a second factor but whose session has not passed one is anonymous
    (``request.secki_unverified_user`` keeps who it was). Lazy like Django's own: a request
    that never looks at ``request.user`` (an API call with a bearer token) costs nothing."""

    def _verify_user_sync(self, request: HttpRequest, user: User) -> Any:
        user = super()._verify_user_sync(request, user)
        return _gate(request, user)

    async def _verify_user_async_via_auser(self, request: HttpRequest, auser: Any) -> Any:
        user = await super()._verify_user_async_via_auser(request, auser)
        return await sync_to_async(functools.partial(_gate, request, user))()


def _gate(request: HttpRequest, user: Any) -> Any:
    """``user`` as django-otp's middleware leaves it (with ``is_verified``)."""
    if user.is_authenticated and not user.is_verified() and required(user):
        request.secki_unverified_user = user  # type: ignore[attr-defined]
        anonymous: Any = AnonymousUser()
        anonymous.otp_device = None
        anonymous.is_verified = lambda: False
        return anonymous
    return user
