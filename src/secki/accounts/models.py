"""Roles scoped to territory, and revocable API tokens."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from secki.accounts.users import Account
from secki.elections.models import Election, Station, Unit


class Role(models.TextChoices):
    CEC_ADMIN = "cec_admin", gettext_lazy("CEC administrator")
    CONSTITUENCY_OPERATOR = "constituency_operator", gettext_lazy("Constituency operator")
    STATION_OPERATOR = "station_operator", gettext_lazy("Station operator")
    SUPERVISOR = "supervisor", gettext_lazy("Supervisor (reconciliation)")
    OBSERVER = "observer", gettext_lazy("Observer")
    AUDIT_BOARD = "audit_board", gettext_lazy("Audit board member")


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
    def issue(cls, user: Account, name: str) -> tuple[ApiToken, str]:
        """Create a token; the raw key is returned once and never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, key_hash=hash_token(raw))
        return token, raw

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])


class AuditRecord(models.Model):
    """One state change of the setup or of an account: who, what, before, after, when.

    Append-only: rows are written by :func:`secki.accounts.audit.record` and never updated or
    deleted (``save`` refuses an update, ``delete`` refuses always). Protocol and turnout
    changes have their own history (ProtocolEvent, report versions) and public ledger; this
    trail covers everything else — elections and their settings, the register, memberships,
    API tokens, log-ins.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_records",
    )
    # The actor's name at the time (kept if the user is deleted), or "cli:<os user>".
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    election = models.ForeignKey(
        Election, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_records"
    )
    target = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("audit records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("audit records are append-only")
