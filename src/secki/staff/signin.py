"""Officials' log-in: password (django-axes counts the failures and locks a user name out per
address), then the second factor — a code from the authenticator or a recovery code — or,
for a user who needs one and has none yet, the authenticator's enrolment. See
:mod:`secki.accounts.twofactor` for who needs what.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address, get_client_username, get_cool_off
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.db.models import Max
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticToken

from secki.accounts import audit, twofactor
from secki.accounts.users import User


class LoginView(auth_views.LoginView):
    """Django's log-in form (``authenticate`` gets the request, so axes sees every try);
    a right password of a user with a second factor due starts a pending log-in instead of
    logging in."""

    template_name = "registration/login.html"

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        enrolled = twofactor.has_second_factor(user)
        if enrolled or twofactor.required(user):
            twofactor.start(self.request, user, user.backend, self.get_redirect_url())
            return redirect("two-factor-code" if enrolled else "two-factor-enrol")
        return super().form_valid(form)


class CodeForm(Form):
    """The code field of the code and enrolment pages (the templates write the input)."""

    code = forms.CharField(max_length=32)


def _expired(request: HttpRequest) -> HttpResponse:
    messages.info(request, gettext("Your log-in has expired or was not started: log in again."))
    return redirect("login")


def _after_login(next_url: str) -> str:
    return next_url or resolve_url(settings.LOGIN_REDIRECT_URL)


def _refused(request: HttpRequest, user: User, form: CodeForm) -> None:
    """A wrong code: counted by axes like a wrong password (and audited as ``2fa.failed``)."""
    user_login_failed.send(
        sender=__name__,
        credentials={"username": user.get_username(), "second_factor": True},
        request=request,
    )
    if getattr(request, "axes_locked_out", False):  # this one locked the name out
        twofactor.abandon(request)
    form.add_error(
        "code",
        gettext(
            "This code was not accepted. Type the code your authenticator shows now, or an "
            "unused recovery code. After a wrong code, wait a few seconds before the next."
        ),
    )


def _locked(request: HttpRequest, user: User) -> HttpResponse | None:
    credentials = {"username": user.get_username()}
    if AxesProxyHandler.is_allowed(request, credentials):
        return None
    twofactor.abandon(request)
    return locked_out(request, None, credentials)


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    """The second step for a user with an authenticator: its code, or a recovery code."""
    state = twofactor.pending(request)
    if state is None:
        return _expired(request)
    user, backend, next_url = state
    if not twofactor.has_second_factor(user):
        return redirect("two-factor-enrol")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        refusal = _locked(request, user)
        if refusal is not None:
            return refusal
        found = twofactor.verify(user, form.cleaned_data["code"])
        if found is not None:
            device, method = found
            twofactor.complete(request, user, backend, device, method)
            if method == "recovery_code":
                left = StaticToken.objects.filter(device__user_id=user.pk).count()
                messages.warning(
                    request,
                    gettext(
                        "You logged in with a recovery code; it cannot be used again. "
                        "Recovery codes left: %(left)s."
                    )
                    % {"left": left},
                )
            return HttpResponseRedirect(_after_login(next_url))
        _refused(request, user, form)
    return render(
        request, "registration/two_factor_code.html", {"form": form, "username": user.username}
    )


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """First log-in of a user who needs a second factor: set up an authenticator app from
    the QR code (or the secret typed in), confirm with one code, then see the recovery
    codes once."""
    state = twofactor.pending(request)
    if state is None:
        return _expired(request)
    user, backend, next_url = state
    if twofactor.has_second_factor(user):
        return redirect("two-factor-code")
    device = twofactor.enrolment_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        refusal = _locked(request, user)
        if refusal is not None:
            return refusal
        codes = twofactor.confirm(device, form.cleaned_data["code"])
        if codes is not None:
            audit.record(
                user,
                "2fa.enrolled",
                target=user.get_username(),
                after={"device": "totp", "recovery_codes": len(codes)},
                request=request,
            )
            twofactor.complete(request, user, backend, device, "totp")
            twofactor.remember_codes_to_show(request, codes)
            request.session["secki_2fa_next"] = next_url
            return redirect("two-factor-recovery-codes")
        _refused(request, user, form)
    context = {
        "form": form,
        "username": user.username,
        "qr": twofactor.qr_svg(device, gettext("QR code for your authenticator app")),
        "secret": twofactor.secret_text(device),
        "issuer": settings.OTP_TOTP_ISSUER,
    }
    return render(request, "registration/two_factor_enrol.html", context)


@never_cache
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """The new recovery codes, shown once (after enrolment or after asking for new ones)."""
    codes = twofactor.codes_to_show(request)
    next_url = _after_login(str(request.session.pop("secki_2fa_next", "") or ""))
    shown = [twofactor.display_code(c) for c in codes] if codes else None
    return render(
        request, "registration/recovery_codes.html", {"codes": shown, "next_url": next_url}
    )


@csrf_protect
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    """The user's second factor: when it was set up, recovery codes left, new codes."""
    user: Any = request.user  # with django-otp's is_verified
    device = twofactor.totp_device(user)
    verified = device is not None and user.is_verified()
    if request.method == "POST" and verified:
        before = StaticToken.objects.filter(device__user_id=user.pk).count()
        codes = twofactor.issue_recovery_codes(user)
        audit.record(
            user,
            "2fa.recovery_codes_issued",
            target=user.get_username(),
            before={"recovery_codes": before},
            after={"recovery_codes": len(codes)},
            request=request,
        )
        twofactor.remember_codes_to_show(request, codes)
        request.session["secki_2fa_next"] = reverse("two-factor")
        return redirect("two-factor-recovery-codes")
    context = {
        "device": device,
        "verified": verified,
        "left": StaticToken.objects.filter(device__user_id=user.pk).count(),
        "required": twofactor.required(user),
    }
    return render(request, "registration/two_factor.html", context)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin site's log-in is this site's log-in (lockout and second factor included)."""
    query = request.GET.urlencode()
    return redirect(f"{reverse('login')}?{query}" if query else reverse("login"))


def lockout_until(request: HttpRequest, username: str) -> dt.datetime:
    """When the lockout of ``username`` from this address ends (last failure + cool-off)."""
    cool_off = get_cool_off(request) or dt.timedelta(0)
    last = AccessAttempt.objects.filter(
        username=username, ip_address=get_client_ip_address(request)
    ).aggregate(last=Max("attempt_time"))["last"]
    return (last or timezone.now()) + cool_off


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: 429 with a page saying until when (and ``Retry-After``)."""
    username = get_client_username(request, credentials) or ""
    until = lockout_until(request, username)
    seconds = max(1, math.ceil((until - timezone.now()).total_seconds()))
    response = render(
        request,
        "registration/locked_out.html",
        {"until": until, "username": username, "minutes": math.ceil(seconds / 60)},
        status=429,  # Too Many Requests
    )
    response["Retry-After"] = str(seconds)
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused form (CSRF: an expired or replaced session) in the site's layout, with a way
    to log in again and come back to the same form; ``staff/keep.js`` keeps what was typed in
    the browser tab and fills it back in (settings.CSRF_FAILURE_VIEW)."""
    path = request.path
    login_url = f"{reverse('login')}?{urlencode({'next': path})}"
    return render(
        request,
        "registration/csrf_failure.html",
        {"path": path, "login_url": login_url},
        status=403,
    )
