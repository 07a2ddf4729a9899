"""Test personas matching the real roles, created through memberships and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client

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
