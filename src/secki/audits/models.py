"""Risk-limiting audits: the audit, its frozen manifest, the seed ceremony, rounds and draws,
and the audit boards' blind double hand counts.

Nothing is edited in place. The manifest (every station's reported votes, ballots and error
bound) is fixed when the audit is set up, at the election's log size then. The seed is
entered once (one row per audit, refused on update by :meth:`SeedCeremony.save` and by a
database trigger, :mod:`secki.audits.store`), and a round cannot exist without it (its
``ceremony`` is required). Each station of a round is counted by two board members who do
not see each other's entry nor the reported figures; matching entries become the station's
agreed count, differing ones are kept and the station is counted again.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Length

from secki.elections.models import Election, Station


class AuditKind(models.TextChoices):
    MACRO = "macro", "Batch comparison by station (MACRO)"
    BRAVO = "bravo", "Ballot polling (BRAVO)"


class AuditStatus(models.TextChoices):
    SETUP = "setup", "Set up, waiting for the seed"
    SEEDED = "seeded", "Seed entered"
    COUNTING = "counting", "Round being counted"
    CONFIRMED = "confirmed", "Outcome confirmed"
    FULL_COUNT = "full_count", "Full hand count"
    CONFIRMED_FULL = "confirmed_full", "Outcome confirmed by a full hand count"
    OVERTURNED = "overturned", "Full hand count gives another outcome"


class Audit(models.Model):
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="audits")
    contest = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=AuditKind.choices)
    #: the risk limit α, e.g. 0.05
    risk_limit = models.FloatField()
    winners = models.PositiveSmallIntegerField(default=1)
    max_rounds = models.PositiveSmallIntegerField(default=3)
    status = models.CharField(max_length=20, choices=AuditStatus.choices, default="setup")
    #: the reported results it audits: the election's log size and the ledger head at setup
    log_size = models.PositiveIntegerField()
    ledger_head = models.PositiveBigIntegerField()
    #: {"C1": votes, …} over the manifest, the reported winners, Σ ballots, U (MACRO)
    reported = models.JSONField()
    reported_winners = models.JSONField()
    ballots = models.PositiveBigIntegerField()
    total_error_bound = models.FloatField(null=True, blank=True)
    manifest_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["election_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(risk_limit__gt=0) & models.Q(risk_limit__lt=0.5),
                name="audit_risk_limit_range",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=AuditKind.values), name="audit_kind_known"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=AuditStatus.values), name="audit_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"audit {self.pk} of {self.election.slug} ({self.kind})"

    @property
    def finished(self) -> bool:
        return self.status in (
            AuditStatus.CONFIRMED,
            AuditStatus.CONFIRMED_FULL,
            AuditStatus.OVERTURNED,
        )


class ManifestRow(models.Model):
    """One station of the frozen manifest, in manifest order (``position`` from 0)."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="manifest")
    position = models.PositiveIntegerField()
    station = models.ForeignKey(Station, on_delete=models.RESTRICT, related_name="+")
    constituency = models.CharField(max_length=64)
    #: {"C1": votes, …} of the station's reported (published) protocol
    votes = models.JSONField()
    ballots = models.PositiveIntegerField()
    error_bound = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["audit_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["audit", "position"], name="manifest_position_unique"),
            models.UniqueConstraint(fields=["audit", "station"], name="manifest_station_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.station.code} in audit {self.audit_id}"


class SeedCeremony(models.Model):
    """The public seed, entered once at a public meeting with its witnesses."""

    audit = models.OneToOneField(Audit, on_delete=models.CASCADE, related_name="ceremony")
    seed = models.CharField(max_length=100)
    witnesses = models.JSONField()
    held_at = models.DateTimeField()
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.lookups.GreaterThanOrEqual(Length("seed"), 20),
                name="seed_at_least_20_digits",
            ),
        ]

    def __str__(self) -> str:
        return f"seed of audit {self.audit_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("the seed of an audit cannot be changed")
        super().save(*args, **kwargs)


class RoundKind(models.TextChoices):
    SAMPLE = "sample", "Sample"
    FULL = "full", "Full hand count"


class Round(models.Model):
    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="rounds")
    #: required: nothing is drawn before the seed exists
    ceremony = models.ForeignKey(SeedCeremony, on_delete=models.RESTRICT, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=RoundKind.choices)
    #: draws of this round (with replacement: a station or ballot may come twice)
    size = models.PositiveIntegerField()
    first_draw = models.PositiveIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    #: measured risk after the round (MACRO P-value, BRAVO max 1/T) and its figures
    risk = models.FloatField(null=True, blank=True)
    figures = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["audit_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["audit", "number"], name="round_number_unique"),
        ]

    def __str__(self) -> str:
        return f"round {self.number} of audit {self.audit_id}"


class Draw(models.Model):
    """Draw ``number`` (1, 2, … over all rounds) with its ticket, the station and the ballot."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="draws")
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="draws")
    number = models.PositiveIntegerField()
    #: SHA-256("{seed},draw,{number}") as 64 hex digits
    ticket = models.CharField(max_length=64)
    row = models.ForeignKey(ManifestRow, on_delete=models.RESTRICT, related_name="draws")
    #: BRAVO: the ballot's number in its station's box (from 1)
    ballot = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["audit_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["audit", "number"], name="draw_number_unique"),
        ]

    def __str__(self) -> str:
        return f"draw {self.number} of audit {self.audit_id}"


class Task(models.Model):
    """One station to count in a round: its agreed count once two entries match."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="tasks")
    row = models.ForeignKey(ManifestRow, on_delete=models.RESTRICT, related_name="tasks")
    #: BRAVO: the ballot numbers to retrieve, ascending, without repeats
    ballots = models.JSONField(default=list)
    #: MACRO / full count: {"C1": votes, …, "invalid": n}; BRAVO: {"<ballot>": "C1" | null}
    agreed = models.JSONField(null=True, blank=True)
    agreed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["round_id", "row__position"]
        constraints = [
            models.UniqueConstraint(fields=["round", "row"], name="task_station_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.row.station.code} in {self.round}"


class CountEntry(models.Model):
    """One board member's blind entry of a task (``attempt`` goes up after a mismatch)."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="entries")
    attempt = models.PositiveSmallIntegerField()
    slot = models.PositiveSmallIntegerField()
    data = models.JSONField()
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.RESTRICT, related_name="+"
    )
    entered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task_id", "attempt", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["task", "attempt", "slot"], name="count_entry_slot"),
            models.UniqueConstraint(
                fields=["task", "attempt", "entered_by"], name="count_entry_two_people"
            ),
            models.CheckConstraint(
                condition=models.Q(slot__in=[1, 2]), name="count_entry_slot_1_or_2"
            ),
        ]

    def __str__(self) -> str:
        return f"entry {self.attempt}.{self.slot} of {self.task}"


class BoardAssignment(models.Model):
    """A member of an audit board assigned to count a constituency's stations in a round: only
    the members assigned there enter that round's counts of the constituency's stations."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="assignments")
    #: the constituency's unit code (as in :attr:`ManifestRow.constituency`)
    constituency = models.CharField(max_length=64)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.RESTRICT, related_name="+"
    )
    assigned_at = models.DateTimeField(auto_now_add=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["round_id", "constituency", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["round", "constituency", "member"], name="board_assignment_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} counts {self.constituency} in {self.round}"
