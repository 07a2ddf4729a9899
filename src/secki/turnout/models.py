"""Turnout reports: (station, report time, cumulative voters who received a ballot).

A correction is a new version; the previous one stays with ``is_current = False``.
"""

from __future__ import annotations

from django.db import models

from secki.elections.models import Election, Station


class TurnoutReport(models.Model):
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="turnout_reports")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="turnout_reports")
    time = models.CharField(max_length=5, help_text="one of the election's turnout times, HH:MM")
    voters = models.PositiveIntegerField()
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["station_id", "time", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "time", "version"], name="turnout_version_unique"
            ),
            models.UniqueConstraint(
                fields=["station", "time"], condition=models.Q(is_current=True),
                name="turnout_one_current",
            ),
        ]
        indexes = [models.Index(fields=["election", "time", "is_current"])]

    def __str__(self) -> str:
        return f"{self.station.code} {self.time}: {self.voters}"
