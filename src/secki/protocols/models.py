"""Result protocols. A protocol is never edited in place: a correction is a new version, an
annulment is a new version with status ``annulled``; earlier versions stay with
``is_current = False``.

State machine (one station):

    (none) ──entry 1──▶ first_entry ──entry 2, equal, hard checks pass──▶ accepted ──▶ published
                              │                                              │
                              └──entries differ / hard check fails──▶ quarantined
                    (supervisor resolves ▶ accepted)
    accepted/published ──amend (reason)──▶ new version accepted/published
    accepted/published ──annul (decision)──▶ new version annulled (leaves the totals)

Without double entry a submission goes straight to accepted (or is refused by a hard check).
Line values are rows (``ProtocolValue``), candidate votes included as lines ``C1`` … ``Cn``,
so totals at any level are one ``SUM … GROUP BY``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils.translation import gettext_lazy

from secki.elections.models import Election, Station
from secki.ledger.models import LedgerEntry


class ProtocolStatus(models.TextChoices):
    RECEIVED = "received", gettext_lazy("Received")
    FIRST_ENTRY = "first_entry", gettext_lazy("First entry")
    SECOND_ENTRY = "second_entry", gettext_lazy("Second entry")
    QUARANTINED = "quarantined", gettext_lazy("Quarantined")
    ACCEPTED = "accepted", gettext_lazy("Accepted")
    PUBLISHED = "published", gettext_lazy("Published")
    ANNULLED = "annulled", gettext_lazy("Annulled")


#: statuses whose numbers count in the staff totals; the public totals count PUBLISHED only
COUNTED_STATUSES = (ProtocolStatus.ACCEPTED, ProtocolStatus.PUBLISHED)
PENDING_STATUSES = (
    ProtocolStatus.RECEIVED,
    ProtocolStatus.FIRST_ENTRY,
    ProtocolStatus.SECOND_ENTRY,
    ProtocolStatus.QUARANTINED,
)


def counted_statuses(public: bool) -> tuple[str, ...]:
    """The public counts published protocols; staff and observers count accepted ones too."""
    return (ProtocolStatus.PUBLISHED,) if public else tuple(COUNTED_STATUSES)


class ProtocolSource(models.TextChoices):
    IMPORT = "import", "Bulk file"
    FORM = "form", "Web form"
    API = "api", "API"


class Protocol(models.Model):
    # election and station lead the composite indexes in Meta: no index of their own (one
    # index fewer to write on every accept)
    election = models.ForeignKey(
        Election, on_delete=models.CASCADE, related_name="protocols", db_index=False
    )
    station = models.ForeignKey(
        Station, on_delete=models.CASCADE, related_name="protocols", db_index=False
    )
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=ProtocolStatus.choices)
    source = models.CharField(max_length=10, choices=ProtocolSource.choices)
    completed_at = models.DateTimeField(null=True, blank=True, help_text="line L17 or equivalent")
    received_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    checks = models.JSONField(
        default=list, blank=True, help_text="[{code, severity, passed}] of the accepted values"
    )
    soft_failures = models.JSONField(
        default=list, blank=True, help_text="codes of failed soft checks (the flag)"
    )
    quarantine_reason = models.CharField(max_length=500, blank=True)
    reason = models.CharField(max_length=500, blank=True, help_text="why this version exists")
    decision_ref = models.CharField(
        max_length=200, blank=True, help_text="annulment decision or commission act reference"
    )

    class Meta:
        ordering = ["station_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["station", "version"], name="protocol_version_unique"),
            models.UniqueConstraint(
                fields=["station"],
                condition=models.Q(is_current=True),
                name="protocol_one_current",
            ),
        ]
        indexes = [models.Index(fields=["election", "status", "is_current"])]

    def __str__(self) -> str:
        return f"protocol {self.station.code} v{self.version} ({self.status})"

    @property
    def counted(self) -> bool:
        return self.status in COUNTED_STATUSES


class ProtocolValue(models.Model):
    # one row per line of every accepted protocol, so no index of its own: (protocol, code) is
    # unique, which indexes protocol
    protocol = models.ForeignKey(
        Protocol, on_delete=models.CASCADE, related_name="values", db_index=False
    )
    code = models.CharField(max_length=16)
    value = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["protocol", "code"], name="protocol_value_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code}={self.value}"


class ProtocolEntry(models.Model):
    """One operator's keying of a paper protocol (double-blind entry)."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="entries")
    round = models.PositiveSmallIntegerField()
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    data = models.JSONField(help_text="{counts, instants, candidates} as keyed")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["protocol", "round"], name="protocol_entry_unique"),
        ]

    def __str__(self) -> str:
        return f"entry {self.round} of {self.protocol}"


class EventKind(models.TextChoices):
    ENTRY = "entry"
    ACCEPTED = "accepted"
    QUARANTINED = "quarantined"
    RESOLVED = "resolved"
    AMENDED = "amended"
    ANNULLED = "annulled"
    PUBLISHED = "published"
    ACT_RECORDED = "act_recorded", "Commission act recorded"


class ProtocolEvent(models.Model):
    """Append-only history: who did what when, with the old and the new values."""

    election = models.ForeignKey(  # leads the (election, id) index in Meta
        Election, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="protocol_events")
    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["election", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.station.code} at {self.at:%Y-%m-%d %H:%M:%S}"


class ScanType(models.TextChoices):
    """What a scan's first bytes say it is (never its name or the client's word)."""

    PDF = "application/pdf", "PDF"
    PNG = "image/png", "PNG"
    JPEG = "image/jpeg", "JPEG"


#: the file name extension each scan type is stored and downloaded with
SCAN_EXTENSIONS = {ScanType.PDF: "pdf", ScanType.PNG: "png", ScanType.JPEG: "jpg"}


class ProtocolScan(models.Model):
    """A scan or photo of a paper protocol, attached to the protocol version that was current
    when it was uploaded. Append-only: a re-upload is a new row (``number`` counts a station's
    scans), nothing is replaced or deleted. The file's SHA-256 is computed by the server and
    published in the election's public log (``ledger``, a ``scan.uploaded`` entry), so that
    anyone can check a download."""

    election = models.ForeignKey(Election, on_delete=models.CASCADE, related_name="+")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="scans")
    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="scans")
    number = models.PositiveIntegerField(help_text="1, 2, … per station, in upload order")
    file = models.FileField(max_length=300, help_text="path in the default storage")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(help_text="bytes")
    content_type = models.CharField(max_length=40, choices=ScanType.choices)
    original_name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=ProtocolSource.choices)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField()
    ledger = models.OneToOneField(
        LedgerEntry, on_delete=models.RESTRICT, related_name="+", help_text="the public fact"
    )

    class Meta:
        ordering = ["station_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["station", "number"], name="protocol_scan_unique"),
        ]
        indexes = [models.Index(fields=["election", "station"])]

    def __str__(self) -> str:
        return f"scan {self.number} of {self.station.code} v{self.protocol.version}"

    @property
    def extension(self) -> str:
        return SCAN_EXTENSIONS[ScanType(self.content_type)]

    @property
    def download_name(self) -> str:
        """The file name a download is saved under."""
        return (
            f"{self.election.slug}-{self.station.code}-v{self.protocol.version}"
            f"-scan{self.number}.{self.extension}"
        )


@receiver(post_delete, sender=ProtocolScan)
def _drop_unreferenced_file(
    sender: type[ProtocolScan], instance: ProtocolScan, **_: object
) -> None:
    """Scans are never deleted on their own; they go with their election (``secki import
    --replace``). Once that has committed, the file goes too, unless a scan row still names
    it (files are named by election, station and hash)."""
    name = instance.file.name
    storage = instance.file.storage

    def drop() -> None:
        if name and not ProtocolScan.objects.filter(file=name).exists():
            storage.delete(name)

    transaction.on_commit(drop)
