"""Registry models. Protocol schema lines and checks are rows, so an election's form is data."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
    URLValidator,
)
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy

from secki.protocol_schema import Expression, ExpressionError, ProtocolSchema, SchemaError
from secki.protocol_schema.schema import MAX_COUNT

slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]*$", "lower-case letters, digits and '-' only")


class ElectionKind(models.TextChoices):
    PRESIDENTIAL = "presidential"
    PARLIAMENTARY = "parliamentary"
    REFERENDUM = "referendum"
    OTHER = "other"


class WinRule(models.TextChoices):
    ABSOLUTE_MAJORITY = "absolute_majority", "Absolute majority, else runoff"
    PLURALITY = "plurality", "Plurality"
    PROPORTIONAL = "proportional", "Proportional: seats among the lists"
    REFERENDUM = "referendum", "Referendum: yes or no"


class SeatMethod(models.TextChoices):
    """How seats are allocated among lists (:mod:`secki.stats.seats`)."""

    DHONDT = "dhondt", "D'Hondt"
    SAINTE_LAGUE = "sainte_lague", "Sainte-Laguë"
    HARE = "hare", "Largest remainder, Hare quota"


class SeatScope(models.TextChoices):
    """Where seats (or the threshold) are counted: over the whole country, or in each
    district (every unit with its own number of seats)."""

    NATIONAL = "national", "National"
    DISTRICT = "district", "Per district"


class MajorityBase(models.TextChoices):
    VALID = "valid", "Valid votes"
    CAST = "cast", "Ballots cast (in the boxes)"
    PARTICIPANTS = "participants", "Voters who received a ballot"


def _validate_times(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("turnout times must be a list of HH:MM strings")
    parsed = []
    for item in value:
        try:
            parsed.append(dt.time.fromisoformat(item))
        except ValueError:
            raise ValidationError(f"{item!r} is not a time of day HH:MM") from None
    if parsed != sorted(set(parsed)):
        raise ValidationError("turnout times must be strictly ascending")


class Publication(models.TextChoices):
    """When preliminary results start to be shown to the public (the commission decides)."""

    IMMEDIATELY = "immediately", gettext_lazy("As soon as protocols are published")
    SHARE = "share", gettext_lazy("Once a share of the stations is counted")
    TIME = "time", gettext_lazy("From a given time")


class ElectionStatus(models.TextChoices):
    SETUP = "setup", gettext_lazy("Being set up")
    OPEN = "open", gettext_lazy("Open: results are being received")
    CLOSED = "closed", gettext_lazy("Closed: no more intake")


class Election(models.Model):
    slug = models.SlugField(max_length=80, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    name_az = models.CharField(max_length=200, blank=True, help_text="name in Azerbaijani")
    name_ru = models.CharField(max_length=200, blank=True, help_text="name in Russian")
    kind = models.CharField(max_length=20, choices=ElectionKind.choices)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2, lower case")
    date = models.DateField()
    timezone = models.CharField(max_length=64, default="UTC")
    polls_open = models.TimeField(default=dt.time(8, 0))
    polls_close = models.TimeField(default=dt.time(20, 0))
    turnout_times = models.JSONField(default=list, validators=[_validate_times])
    win_rule = models.CharField(
        max_length=20, choices=WinRule.choices, default=WinRule.ABSOLUTE_MAJORITY
    )
    majority_base = models.CharField(
        max_length=20, choices=MajorityBase.choices, default=MajorityBase.VALID
    )
    runoff_size = models.PositiveSmallIntegerField(default=2)
    invalid_station_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0.4,
        help_text="the election is invalid when results are annulled in more than this share",
    )
    seat_method = models.CharField(
        max_length=12, choices=SeatMethod.choices, default=SeatMethod.DHONDT
    )
    seats = models.PositiveIntegerField(
        default=0, help_text="proportional, national allocation: the seats to allocate"
    )
    seat_scope = models.CharField(
        max_length=8,
        choices=SeatScope.choices,
        default=SeatScope.NATIONAL,
        help_text="seats allocated on national totals, or in each district (units with seats)",
    )
    threshold = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0,
        help_text="proportional: a list needs at least this share of the valid votes",
    )
    threshold_scope = models.CharField(
        max_length=8,
        choices=SeatScope.choices,
        default=SeatScope.NATIONAL,
        help_text="the threshold is a share of the national valid votes or of the district's",
    )
    min_turnout = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0,
        help_text="the election (or the referendum's turnout quorum) is invalid below this turnout",
    )
    approval_quorum = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0,
        help_text="referendum: 'yes' must reach this share of the registered voters",
    )
    protocol_schema_name = models.CharField(max_length=80, default="az-presidential")
    schema_revision = models.PositiveIntegerField(default=0, editable=False)
    protocol_roles = models.JSONField(
        default=dict,
        blank=True,
        help_text="role → expression over lines: registered, participants, cast, valid, invalid",
    )
    protocol_contests = models.JSONField(
        default=list,
        blank=True,
        help_text="more than one contest on the protocol: code, name, valid, invalid, win_rule",
    )
    simulated = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=ElectionStatus.choices, default=ElectionStatus.OPEN
    )
    double_entry = models.BooleanField(
        default=False, help_text="two operators key each paper protocol independently"
    )
    auto_publish = models.BooleanField(
        default=True, help_text="accepted protocols are published at once"
    )
    turnout_allowance = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0.05,
        help_text="turnout may exceed registered voters by this share (additional lists)",
    )
    publication = models.CharField(
        max_length=12,
        choices=Publication.choices,
        default=Publication.IMMEDIATELY,
        help_text="when preliminary results start to be shown to the public",
    )
    publication_share = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0,
        help_text="with 'share': the share of stations (0-1) counted before results are shown",
    )
    publication_at = models.DateTimeField(
        null=True, blank=True, help_text="with 'time': results are shown from this instant"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date", "slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(publication__in=Publication.values),
                name="election_publication_known",
            ),
            models.CheckConstraint(
                condition=models.Q(publication_share__gte=0, publication_share__lte=1),
                name="election_publication_share_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(publication=Publication.SHARE)
                | models.Q(publication_share__gt=0),
                name="election_publication_share_given",
            ),
            models.CheckConstraint(
                condition=~models.Q(publication=Publication.TIME)
                | models.Q(publication_at__isnull=False),
                name="election_publication_time_given",
            ),
            models.CheckConstraint(
                condition=models.Q(win_rule__in=WinRule.values)
                & models.Q(seat_method__in=SeatMethod.values)
                & models.Q(seat_scope__in=SeatScope.values)
                & models.Q(threshold_scope__in=SeatScope.values),
                name="election_rules_known",
            ),
            models.CheckConstraint(
                condition=models.Q(threshold__gte=0, threshold__lt=1)
                & models.Q(min_turnout__gte=0, min_turnout__lte=1)
                & models.Q(approval_quorum__gte=0, approval_quorum__lte=1),
                name="election_rule_shares_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            raise ValidationError({"timezone": f"unknown time zone {self.timezone!r}"}) from None
        if not 0 <= self.publication_share <= 1:
            raise ValidationError(
                {"publication_share": "a share of the stations, from 0 to 1 (0.25 = 25 %)"}
            )
        if self.publication == Publication.SHARE and not self.publication_share > 0:
            raise ValidationError(
                {"publication_share": "publishing after a share of stations needs that share"}
            )
        if self.publication == Publication.TIME and self.publication_at is None:
            raise ValidationError(
                {"publication_at": "publishing from a given time needs that time"}
            )
        if not 0 <= self.threshold < 1:
            raise ValidationError({"threshold": "a share of the valid votes, from 0 to under 1"})
        for name in ("min_turnout", "approval_quorum"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValidationError({name: "a share from 0 to 1 (0.5 = 50 %)"})
        if (
            self.win_rule == WinRule.PROPORTIONAL
            and self.seat_scope == SeatScope.NATIONAL
            and self.seats < 1
        ):
            raise ValidationError(
                {"seats": "a proportional election allocated nationally needs 1 or more seats"}
            )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def polls_close_at(self) -> dt.datetime:
        return dt.datetime.combine(self.date, self.polls_close, tzinfo=self.tz)

    def protocol_schema(self) -> ProtocolSchema:
        """The election's protocol schema, built from its line and check rows (cached per
        process by election and schema revision)."""
        key = self._cache_key()
        cached = _SCHEMA_CACHE.get(key)
        if cached is None:
            cached = _SCHEMA_CACHE[key] = self._build_schema()
        return cached

    def _cache_key(self) -> tuple[int, str, int]:
        # created_at tells apart elections that reuse a primary key after a rollback
        return (self.pk, str(self.created_at), self.schema_revision)

    def candidate_count(self) -> int:
        """Number of candidates (cached like the schema; candidate changes bump the revision)."""
        key = self._cache_key()
        count = _CANDIDATE_COUNT.get(key)
        if count is None:
            count = _CANDIDATE_COUNT[key] = self.candidates.count()
        return count

    def _build_schema(self) -> ProtocolSchema:
        schema = self._schema_rows()
        if schema.contests:
            schema = schema.with_candidates(
                list(self.candidates.order_by("number").values_list("contest", flat=True))
            )
        return schema

    def _schema_rows(self) -> ProtocolSchema:
        return ProtocolSchema.from_dict(
            {
                "name": self.protocol_schema_name,
                "lines": [
                    {"code": ln.code, "label": ln.label, "kind": ln.kind, "required": ln.required}
                    for ln in self.protocol_lines.order_by("position")
                ],
                "checks": [
                    {
                        "code": c.code,
                        "expression": c.expression,
                        "severity": c.severity,
                        "scope": c.scope,
                        "message": c.message,
                        "workflow": c.workflow or None,
                    }
                    for c in self.control_relations.order_by("position")
                ],
                "roles": self.protocol_roles,
                "contests": self.protocol_contests,
            },
            source=f"election {self.slug}",
        )


_SCHEMA_CACHE: dict[tuple[int, str, int], ProtocolSchema] = {}
_CANDIDATE_COUNT: dict[tuple[int, str, int], int] = {}


class UnitKind(models.TextChoices):
    COUNTRY = "country"
    REGION = "region"
    CONSTITUENCY = "constituency"
    OTHER = "other"


class Unit(models.Model):
    """A node of the territory tree above the polling stations (any depth).

    ``path`` is the materialised path of ids (``/1/7/19/``): a subtree is ``path__startswith``.
    """

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="units")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    kind = models.CharField(max_length=20, choices=UnitKind.choices)
    code = models.CharField(max_length=64)
    number = models.PositiveIntegerField(null=True, blank=True)
    name = models.CharField(max_length=200)
    name_az = models.CharField(max_length=200, blank=True, help_text="name in Azerbaijani")
    name_ru = models.CharField(max_length=200, blank=True, help_text="name in Russian")
    ocd_id = models.CharField(max_length=300, blank=True)
    depth = models.PositiveSmallIntegerField(default=0)
    path = models.CharField(max_length=255, db_index=True, blank=True)
    position = models.PositiveIntegerField(default=0, help_text="order of the bundle's rows")
    seats = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="proportional, per district: the seats this unit elects (empty: not a district)",
    )

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["election", "code"], name="unit_code_unique"),
        ]

    def __str__(self) -> str:
        return self.name


def webcam_link(url: str) -> str:
    """A station's stream address (``webcam_url``) if it is an http(s) URL (what pages may
    link to), else ""."""
    url = url.strip()
    return url if url.lower().startswith(("http://", "https://")) else ""


class Station(models.Model):
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="stations")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="stations")
    code = models.CharField(max_length=64)
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    name_az = models.CharField(max_length=200, blank=True, help_text="name in Azerbaijani")
    name_ru = models.CharField(max_length=200, blank=True, help_text="name in Russian")
    address = models.CharField(max_length=300, blank=True)
    # Below the technical limit of every count, so that the register bound of a protocol's
    # lines (secki.protocol_schema.schema.count_bound) means something.
    registered = models.PositiveIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(MAX_COUNT - 1)]
    )
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    abroad = models.BooleanField(default=False)
    temporary = models.BooleanField(default=False)
    webcam = models.BooleanField(default=False)
    webcam_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="public address of the station's webcam stream (http or https)",
    )
    ocd_id = models.CharField(max_length=300, blank=True)
    unit_path = models.CharField(
        max_length=255, db_index=True, blank=True, help_text="path of the unit, for subtree sums"
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["election", "code"], name="station_code_unique"),
            models.UniqueConstraint(fields=["unit", "number"], name="station_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def webcam_link(self) -> str:
        """The stream's address if it is an http(s) URL (what pages may link to), else ""."""
        return webcam_link(self.webcam_url)

    def clean(self) -> None:
        if self.webcam_url and not self.webcam:
            raise ValidationError({"webcam_url": "a stream address needs the webcam flag set"})


class Candidate(models.Model):
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="candidates")
    number = models.PositiveSmallIntegerField(help_text="ballot order, 1…n; votes are line Cn")
    name = models.CharField(max_length=200)
    name_az = models.CharField(max_length=200, blank=True, help_text="name in Azerbaijani")
    name_ru = models.CharField(max_length=200, blank=True, help_text="name in Russian")
    party = models.CharField(max_length=200, blank=True)
    ballot_number = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="the official number printed on the ballot (3, 4, 5 … 41), when it is not "
        "the ballot order",
    )
    party_az = models.CharField(max_length=200, blank=True, help_text="party in Azerbaijani")
    party_ru = models.CharField(max_length=200, blank=True, help_text="party in Russian")
    contest = models.CharField(
        max_length=32,
        blank=True,
        help_text="the code of the protocol's contest this candidate stands in (empty: the "
        "election's single contest)",
    )

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["election", "number"], name="candidate_number_unique"),
            models.UniqueConstraint(
                fields=["election", "ballot_number"],
                condition=models.Q(ballot_number__isnull=False),
                name="candidate_ballot_number_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def official_number(self) -> int:
        """The number the ballot shows: the official ballot number, else the ballot order."""
        return self.ballot_number if self.ballot_number is not None else self.number

    @property
    def line_code(self) -> str:
        return f"C{self.number}"


class LineKind(models.TextChoices):
    COUNT = "count"
    DATETIME = "datetime"


class ProtocolLine(models.Model):
    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="protocol_lines")
    position = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=16)
    label = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=LineKind.choices, default=LineKind.COUNT)
    required = models.BooleanField(default=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["election", "code"], name="protocol_line_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class Severity(models.TextChoices):
    HARD = "hard", "Hard (protocol refused)"
    SOFT = "soft", "Soft (accepted, flagged)"


class CheckScope(models.TextChoices):
    STATION = "station"
    AGGREGATE = "aggregate"


class ControlRelation(models.Model):
    election = models.ForeignKey(
        Election, on_delete=models.CASCADE, related_name="control_relations"
    )
    position = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=32)
    expression = models.CharField(max_length=500)
    severity = models.CharField(max_length=4, choices=Severity.choices)
    scope = models.CharField(max_length=10, choices=CheckScope.choices, default=CheckScope.STATION)
    message = models.CharField(max_length=500)
    workflow = models.CharField(
        max_length=10, blank=True, choices=[("act", "Accepted only with the commission's act")]
    )

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["election", "code"], name="control_relation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.expression}"

    def clean(self) -> None:
        try:
            expression = Expression(self.expression)
        except ExpressionError as exc:
            raise ValidationError({"expression": str(exc)}) from None
        if self.election_id is not None:
            known = set(self.election.protocol_lines.values_list("code", flat=True))
            unknown = expression.names - known - {"REGISTERED", "POLLS_CLOSE"}
            if unknown:
                raise ValidationError(
                    {"expression": f"unknown line(s): {', '.join(sorted(unknown))}"}
                )


def install_schema(election: Election, schema: ProtocolSchema) -> None:
    """Replace the election's protocol lines and checks with ``schema`` (call in a transaction)."""
    election.protocol_lines.all().delete()
    election.control_relations.all().delete()
    ProtocolLine.objects.bulk_create(
        ProtocolLine(
            election=election,
            position=i,
            code=ln.code,
            label=ln.label,
            kind=ln.kind,
            required=ln.required,
        )
        for i, ln in enumerate(schema.lines)
    )
    ControlRelation.objects.bulk_create(
        ControlRelation(
            election=election,
            position=i,
            code=c.code,
            expression=c.source,
            severity=c.severity,
            scope=c.scope,
            message=c.message,
            workflow=c.workflow or "",
        )
        for i, c in enumerate(schema.checks)
    )
    election.protocol_schema_name = schema.name
    election.protocol_roles = {role: expr.source for role, expr in schema.roles.items()}
    election.protocol_contests = [c.to_dict() for c in schema.contests]
    election.save(update_fields=["protocol_schema_name", "protocol_roles", "protocol_contests"])
    bump_schema_revision(election.pk)
    election.refresh_from_db(fields=["schema_revision"])


__all__ = ["SchemaError"]


def bump_schema_revision(election_id: int) -> None:
    """Invalidate every process's cached schema and candidate count of an election."""
    Election.objects.filter(pk=election_id).update(schema_revision=models.F("schema_revision") + 1)


@receiver([post_save, post_delete], sender=Candidate)
@receiver([post_save, post_delete], sender=ProtocolLine)
@receiver([post_save, post_delete], sender=ControlRelation)
def _schema_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    bump_schema_revision(instance.election_id)
