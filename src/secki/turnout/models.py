"""Turnout reports: (station, report time, cumulative voters who received a ballot).

Append-only: a correction is a new version with a reason; the previous one stays with
``is_current = False``. Every version is also in the public ledger.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from secki.elections.models import Election, Station


class TurnoutReport(models.Model):
    # election and station lead the composite indexes in Meta: no index of their own
    election = models.ForeignKey(
        Election, on_delete=models.CASCADE, related_name="turnout_reports", db_index=False
    )
    station = models.ForeignKey(
        Station, on_delete=models.CASCADE, related_name="turnout_reports", db_index=False
    )
    time = models.CharField(max_length=5, help_text="one of the election's turnout times, HH:MM")
    voters = models.PositiveIntegerField()
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    received_at = models.DateTimeField()
    late = models.BooleanField(default=False, help_text="received after the next report time")
    source = models.CharField(max_length=10, default="import")
    reason = models.CharField(max_length=500, blank=True, help_text="why a correction was made")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["station_id", "time", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "time", "version"], name="turnout_version_unique"
            ),
            models.UniqueConstraint(
                fields=["station", "time"],
                condition=models.Q(is_current=True),
                name="turnout_one_current",
            ),
        ]
        indexes = [models.Index(fields=["election", "time", "is_current"])]

    def __str__(self) -> str:
        return f"{self.station.code} {self.time}: {self.voters}"
