"""Integrity settings, observer groups' PVT samples and counts, registered exit polls.

Nothing is edited in place: a corrected PVT count is a new version (``is_current`` moves, the
reason is kept); a PVT sample, once registered, is a public commitment (its seed and the
digest of its station list are appended to the ledger) and is never redrawn.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from secki.elections.models import Election, Station


class IntegritySettings(models.Model):
    """Per-election switches of the integrity pages (a row is created on first change)."""

    election = models.OneToOneField(
        Election, on_delete=models.CASCADE, related_name="integrity_settings"
    )
    public = models.BooleanField(
        default=False,
        help_text="the public sees the integrity analyses (of published protocols), PVT "
        "estimates and exit-poll comparisons; staff and observers always do",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "integrity settings"

    def __str__(self) -> str:
        return f"integrity of {self.election.slug}: {'public' if self.public else 'not public'}"


class ObserverGroup(models.Model):
    """A domestic or international observer organisation running a PVT or an exit poll."""

    name = models.CharField(max_length=200, unique=True)
    contact = models.CharField(max_length=300, help_text="e-mail, phone or address")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SampleMethod(models.TextChoices):
    SEED = "seed", "Drawn by Secki from a published seed"
    IMPORT = "import", "Imported list of stations"


class PvtSample(models.Model):
    """One group's PVT sample of one election, stratified by constituency."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="pvt_samples")
    group = models.ForeignKey(ObserverGroup, on_delete=models.PROTECT, related_name="pvt_samples")
    method = models.CharField(max_length=10, choices=SampleMethod.choices)
    seed = models.CharField(max_length=200, blank=True)
    margin = models.FloatField(
        null=True, blank=True, help_text="target margin of error (99 %) the size was chosen for"
    )
    #: {stratum code: stations in the frame} and {stratum code: stations sampled}, at draw time
    frame = models.JSONField(default=dict)
    allocation = models.JSONField(default=dict)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the sorted station codes")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["election", "group"], name="pvt_sample_one_per_group"),
        ]

    def __str__(self) -> str:
        return f"PVT sample of {self.group} for {self.election.slug}"


class PvtStation(models.Model):
    sample = models.ForeignKey(PvtSample, on_delete=models.CASCADE, related_name="stations")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    stratum = models.CharField(max_length=64)
    #: the station's SHA-256 ticket for the seed (None for imported samples)
    ticket = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["sample", "stratum", "ticket", "station_id"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "station"], name="pvt_station_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.station.code} in {self.sample}"


class PvtCount(models.Model):
    """Counts an observer copied at a sampled station; corrections are new versions."""

    sample = models.ForeignKey(PvtSample, on_delete=models.CASCADE, related_name="counts")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    registered = models.PositiveIntegerField()
    participants = models.PositiveIntegerField(help_text="voters who received a ballot")
    valid = models.PositiveIntegerField()
    votes = models.JSONField(help_text='{"C1": votes, …} for every candidate')
    reason = models.CharField(max_length=500, blank=True, help_text="why this version exists")
    entered_at = models.DateTimeField(auto_now_add=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["sample", "station_id", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["sample", "station", "version"], name="pvt_count_version_unique"
            ),
            models.UniqueConstraint(
                fields=["sample", "station"],
                condition=models.Q(is_current=True),
                name="pvt_count_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"PVT count {self.station.code} v{self.version}"


class ExitPoll(models.Model):
    """A registered exit poll: who, how many stations and respondents, the estimates."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="exit_polls")
    organisation = models.CharField(max_length=200)
    stations = models.PositiveIntegerField(help_text="sampled polling stations")
    respondents = models.PositiveIntegerField()
    rho = models.FloatField(
        null=True, blank=True, help_text="intra-station correlation (or give the design effect)"
    )
    design_effect = models.FloatField(null=True, blank=True)
    estimates = models.JSONField(help_text='{"C1": share of valid votes 0…1, …}')
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"exit poll by {self.organisation} ({self.election.slug})"
