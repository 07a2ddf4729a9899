"""Roles scoped to territory, and revocable API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from secki.elections.models import Election, Station, Unit


class Role(models.TextChoices):
    CEC_ADMIN = "cec_admin", "CEC administrator"
    CONSTITUENCY_OPERATOR = "constituency_operator", "Constituency operator"
    STATION_OPERATOR = "station_operator", "Station operator"
    SUPERVISOR = "supervisor", "Supervisor (reconciliation)"
    OBSERVER = "observer", "Observer"


class Membership(models.Model):
    """A user's role in one election, limited to a unit's subtree or to one station.

    CEC administrators, supervisors and observers normally have no unit (the whole election);
    a constituency operator has a unit; a station operator has a station.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.CASCADE)
    station = models.ForeignKey(Station, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "election", "role", "unit", "station"], name="membership_unique"
            ),
        ]

    def __str__(self) -> str:
        scope = self.station or self.unit or "whole election"
        return f"{self.user} — {self.get_role_display()} — {scope}"

    def covers(self, station: Station | None) -> bool:
        """Whether this membership's territory includes ``station`` (None: election-wide)."""
        if self.station_id is not None:
            return station is not None and station.id == self.station_id
        if self.unit_id is not None:
            assert self.unit is not None
            return station is not None and station.unit_path.startswith(self.unit.path)
        return True


TOKEN_PREFIX = "secki_"  # noqa: S105 - a label, not a secret


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A machine client's bearer token. Only its SHA-256 is stored; revoking is permanent."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    @classmethod
    def issue(cls, user: models.Model, name: str) -> tuple[ApiToken, str]:
        """Create a token; the raw key is returned once and never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_hash=hash_token(raw))
        return token, raw

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
