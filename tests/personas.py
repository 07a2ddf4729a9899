"""Test personas matching the real roles, created through memberships and API tokens."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from secki.accounts.models import ApiToken, Membership, Role
from secki.elections.models import Election


@dataclass
class Persona:
    name: str
    user: Any
    token: str

    def client(self) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {self.token}")


def make_personas(election: Election) -> dict[str, Persona]:
    """cec (CEC admin), con1 (operator of constituency "1"), st11 (operator of station "1-1"),
    supervisor, observer, and outsider (a user with no role)."""
    users = get_user_model().objects
    unit1 = election.units.get(code="1")
    station11 = election.stations.get(code="1-1")
    spec: list[tuple[str, str | None, dict[str, Any]]] = [
        ("cec", Role.CEC_ADMIN, {}),
        ("con1", Role.CONSTITUENCY_OPERATOR, {"unit": unit1}),
        ("st11", Role.STATION_OPERATOR, {"station": station11}),
        ("supervisor", Role.SUPERVISOR, {}),
        ("observer", Role.OBSERVER, {}),
        ("outsider", None, {}),
    ]
    out = {}
    for name, role, scope in spec:
        user = users.create_user(username=f"{name}-{election.slug}", password="pw-" + name)
        if role:
            Membership.objects.create(user=user, election=election, role=role, **scope)
        _, raw = ApiToken.issue(user, f"{name} token")
        out[name] = Persona(name, user, raw)
    return out


def enrol_authenticator(user: Any) -> TOTPDevice:
    """A confirmed authenticator for ``user`` (as if set up at a first log-in)."""
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def authenticator(device: TOTPDevice) -> Callable[[], str]:
    """The user's authenticator app: calling it shows the current code (RFC 6238) — once a
    time step's code has been used (django-otp accepts each step once), the next step's,
    which the server's one-step tolerance accepts. The device is read now, so the app can be
    called where the ORM cannot (inside Playwright's event loop)."""
    device.refresh_from_db()
    key, seconds, t0, digits = device.bin_key, device.step, device.t0, device.digits
    drift, last_t = device.drift, device.last_t

    def show() -> str:
        now = (int(time.time()) - t0) // seconds
        return f"{hotp(key, max(now + drift, last_t + 1), digits):0{digits}d}"

    return show
