"""Observer organisations, their applications and documents, accreditations, and the
observers' copies of protocols.

Decisions are never edited in place without a trace: every change of an application or an
accreditation is made by :mod:`secki.observers.actions` (role check, one transaction, an
audit record and a public fact in the ledger).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from secki.elections.models import Election, Station, Unit


class OrganisationKind(models.TextChoices):
    DOMESTIC = "domestic", "Domestic"
    INTERNATIONAL = "international", "International"


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    MORE_INFO = "more_info", "More information requested"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


#: statuses a decision can still be taken in
OPEN_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.MORE_INFO)


class ObserverSettings(models.Model):
    """What the public registry may show of an election's observers (a row on first change)."""

    election = models.OneToOneField(
        Election, on_delete=models.CASCADE, related_name="observer_settings"
    )
    publish_names = models.BooleanField(
        default=False, help_text="the badge check page shows the observer's name"
    )


class Organisation(models.Model):
    """An observer organisation of one election; ``representative`` is the account that
    applied for it and uploads its protocol copies."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=OrganisationKind.choices)
    contact = models.CharField(max_length=300)
    representative = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["election", "name"], name="observer_organisation_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Application(models.Model):
    """An organisation's request for accreditation of observers in a territory."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="applications"
    )
    unit = models.ForeignKey(
        Unit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="requested territory (none: the whole election)",
    )
    observers = models.PositiveIntegerField(help_text="number of observers requested")
    names = models.JSONField(default=list, help_text="the observers' names, as applied")
    status = models.CharField(
        max_length=16, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED
    )
    reason = models.CharField(max_length=500, blank=True, help_text="of the last decision")
    submitted_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["submitted_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(observers__gte=1), name="observer_application_observers"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in ApplicationStatus]),
                name="observer_application_status",
            ),
        ]

    def __str__(self) -> str:
        return f"application {self.pk} of {self.organisation}"


class Document(models.Model):
    """A file sent with an application (charter, registration, letter), stored by its hash."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="documents")
    file = models.FileField(max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=40)
    original_name = models.CharField(max_length=255, blank=True)
    uploaded_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]


class Accreditation(models.Model):
    """One accredited observer: a number, a territory, validity dates; revocable once."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="accreditations"
    )
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="accreditations"
    )
    number = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the observer's own log-in, for the phone forms",
    )
    unit = models.ForeignKey(
        Unit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="territory (none: the whole election)",
    )
    valid_from = models.DateField()
    valid_until = models.DateField()
    issued_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["election", "number"], name="observer_accreditation_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__gte=models.F("valid_from")),
                name="observer_accreditation_dates",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class CopySource(models.TextChoices):
    FORM = "form", "Phone form"
    UPLOAD = "upload", "CSV upload"


class ProtocolCopy(models.Model):
    """The numbers of the protocol copy an organisation's observer received at a station.
    A later copy of the same organisation for the same station replaces it (``is_current``)."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="copies")
    accreditation = models.ForeignKey(
        Accreditation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    values = models.JSONField(help_text="{line code: count}, candidates as C1 … Cn")
    photo = models.FileField(max_length=300, blank=True)
    photo_sha256 = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=10, choices=CopySource.choices)
    is_current = models.BooleanField(default=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["station_id", "organisation_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "organisation"],
                condition=models.Q(is_current=True),
                name="observer_copy_one_current",
            ),
        ]
        indexes = [models.Index(fields=["election", "is_current"])]


class WebcamStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    UP = "up", "Up"
    DOWN = "down", "Down"


class Webcam(models.Model):
    """A station's webcam in the registry: its stream (first taken from the register's
    ``webcam_url``), recording and operator, and what the health check last found."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    station = models.OneToOneField(Station, on_delete=models.CASCADE, related_name="+")
    stream_url = models.URLField(max_length=500)
    recording_url = models.URLField(max_length=500, blank=True)
    operator = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=8, choices=WebcamStatus.choices, default=WebcamStatus.UNKNOWN
    )
    status_since = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="last probe that found it up"
    )
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True, help_text="why the last probe failed")

    class Meta:
        ordering = ["station__position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in WebcamStatus]),
                name="observer_webcam_status",
            ),
        ]
        indexes = [models.Index(fields=["election", "status"])]

    def __str__(self) -> str:
        return f"webcam of station {self.station_id}"


class WebcamChange(models.Model):
    """A change of a webcam's status found by the health check (up → down, down → up, the
    first result): the history the outages are made of."""

    webcam = models.ForeignKey(Webcam, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=WebcamStatus.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at", "id"]


class WebcamOutage(models.Model):
    """A time the stream could not be reached: opened by the probe that found it down, closed
    by the first that found it up again (at most one open outage per webcam)."""

    webcam = models.ForeignKey(Webcam, on_delete=models.CASCADE, related_name="outages")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["webcam"],
                condition=models.Q(ended_at__isnull=True),
                name="observer_webcam_one_open_outage",
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="observer_webcam_outage_dates",
            ),
        ]

    @property
    def minutes(self) -> int | None:
        """Its length in whole minutes, rounded up (None while it lasts)."""
        if self.ended_at is None:
            return None
        return -(-int((self.ended_at - self.started_at).total_seconds()) // 60)


# -- deployment, check-ins, checklists and incidents (issue 17 items 2 and 3) ----------------


class Assignment(models.Model):
    """Where an organisation's coordinator posts an accredited observer: a station, or a unit
    for a mobile team. One current assignment per accreditation (a new one ends the last)."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    accreditation = models.ForeignKey(
        Accreditation, on_delete=models.CASCADE, related_name="assignments"
    )
    station = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unit = models.ForeignKey(
        Unit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="a mobile team's unit",
    )
    assigned_at = models.DateTimeField()
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(station__isnull=False, unit__isnull=True)
                    | models.Q(station__isnull=True, unit__isnull=False)
                ),
                name="observer_assignment_one_post",
            ),
            models.UniqueConstraint(
                fields=["accreditation"],
                condition=models.Q(ended_at__isnull=True),
                name="observer_assignment_one_current",
            ),
        ]
        indexes = [models.Index(fields=["election", "ended_at"])]


class CheckInKind(models.TextChoices):
    ARRIVAL = "arrival", "Arrival"
    DEPARTURE = "departure", "Departure"


class CheckIn(models.Model):
    """An observer's arrival at or departure from a station, sent from the phone."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    accreditation = models.ForeignKey(Accreditation, on_delete=models.CASCADE, related_name="+")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=CheckInKind.choices)
    at = models.DateTimeField(help_text="when, as the phone recorded it")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in CheckInKind]),
                name="observer_checkin_kind",
            ),
        ]
        indexes = [models.Index(fields=["election", "station"])]


class ChecklistForm(models.Model):
    """A checklist of an election (opening, voting, counting …): its questions and QA rules
    as data (:mod:`secki.observers.checklists`)."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    definition = models.JSONField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["election", "code"], name="observer_checklist_unique"),
        ]

    def __str__(self) -> str:
        return self.code


class ChecklistSubmission(models.Model):
    """One observer's answers to a checklist at a station; ``flags`` the warnings its rules
    raised (the answers that matter)."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    form = models.ForeignKey(ChecklistForm, on_delete=models.PROTECT, related_name="submissions")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    accreditation = models.ForeignKey(Accreditation, on_delete=models.CASCADE, related_name="+")
    answers = models.JSONField()
    flags = models.JSONField(default=list)
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["election", "form"])]


class IncidentCategory(models.TextChoices):
    BALLOT_STUFFING = "ballot_stuffing", "Ballot stuffing"
    CAROUSEL = "carousel", "Carousel (multiple) voting"
    INTIMIDATION = "intimidation", "Intimidation or pressure on voters"
    OBSERVER_OBSTRUCTED = "observer_obstructed", "Observer obstructed or expelled"
    CAMPAIGNING = "campaigning", "Campaigning at the station"
    BALLOT_BOX = "ballot_box", "Ballot box not sealed or opened"
    VOTER_LIST = "voter_list", "Voter list irregularity"
    COUNTING = "counting", "Counting irregularity"
    PROTOCOL = "protocol", "Protocol copy refused or altered"
    OTHER = "other", "Other"


class IncidentStatus(models.TextChoices):
    REPORTED = "reported", "Reported"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"
    ESCALATED = "escalated", "Escalated"
    RESOLVED = "resolved", "Resolved"


class Incident(models.Model):
    """An incident an observer reports at a station, and where it stands."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    accreditation = models.ForeignKey(Accreditation, on_delete=models.CASCADE, related_name="+")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=24, choices=IncidentCategory.choices)
    occurred_at = models.DateTimeField()
    description = models.TextField(max_length=4000)
    status = models.CharField(
        max_length=10, choices=IncidentStatus.choices, default=IncidentStatus.REPORTED
    )
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["-reported_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in IncidentStatus]),
                name="observer_incident_status",
            ),
            models.CheckConstraint(
                condition=models.Q(category__in=[c.value for c in IncidentCategory]),
                name="observer_incident_category",
            ),
        ]
        indexes = [models.Index(fields=["election", "status"])]


class IncidentEvidence(models.Model):
    """A photo or document of an incident, checked and hashed like a protocol scan."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(max_length=300)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=40)
    uploaded_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]


class IncidentEvent(models.Model):
    """One step of an incident's workflow, with its note."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    before = models.CharField(max_length=10, blank=True)
    after = models.CharField(max_length=10)
    note = models.CharField(max_length=1000, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
