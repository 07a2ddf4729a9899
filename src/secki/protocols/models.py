"""Result protocols. A protocol is never edited in place: a correction is a new version.

Line values are rows (``ProtocolValue``: protocol, line code, value), candidate votes included
as lines ``C1`` … ``Cn``, so totals at any level are one ``SUM … GROUP BY code``.
"""

from __future__ import annotations

from django.db import models

from secki.elections.models import Election, Station


class ProtocolStatus(models.TextChoices):
    RECEIVED = "received"
    FIRST_ENTRY = "first_entry", "First entry"
    SECOND_ENTRY = "second_entry", "Second entry"
    QUARANTINED = "quarantined"
    ACCEPTED = "accepted"
    PUBLISHED = "published"
    ANNULLED = "annulled"


#: statuses whose numbers count in the totals
COUNTED_STATUSES = (ProtocolStatus.ACCEPTED, ProtocolStatus.PUBLISHED)


class ProtocolSource(models.TextChoices):
    IMPORT = "import", "Bulk file"
    FORM = "form", "Web form"
    API = "api", "API"


class Protocol(models.Model):
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="protocols")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="protocols")
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=ProtocolStatus.choices)
    source = models.CharField(max_length=10, choices=ProtocolSource.choices)
    completed_at = models.DateTimeField(null=True, blank=True, help_text="line L17 or equivalent")
    received_at = models.DateTimeField()
    soft_failures = models.JSONField(default=list, blank=True, help_text="codes of failed soft checks")

    class Meta:
        ordering = ["station_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["station", "version"], name="protocol_version_unique"),
            models.UniqueConstraint(
                fields=["station"], condition=models.Q(is_current=True),
                name="protocol_one_current",
            ),
        ]
        indexes = [models.Index(fields=["election", "status", "is_current"])]

    def __str__(self) -> str:
        return f"protocol {self.station.code} v{self.version} ({self.status})"


class ProtocolValue(models.Model):
    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="values")
    code = models.CharField(max_length=16)
    value = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["protocol", "code"], name="protocol_value_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code}={self.value}"
