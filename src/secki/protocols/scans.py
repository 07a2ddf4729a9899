"""Scans of paper protocols with published hashes (spec/domain.md §6).

:func:`upload_scan` is the one action that stores a scan (the staff page and the JSON API call
it): it checks role and territory like a protocol submission, validates the file (PDF, PNG or
JPEG by its first bytes, at most ``SECKI_SCAN_MAX_BYTES``; then the whole file: one decodable
image and nothing after it, or a PDF without active content, see :mod:`.scan_content`),
computes its SHA-256 while reading it, and in one transaction stores the file, appends the
public fact ``scan.uploaded`` (with the hash) to the ledger and records the row. A scan
belongs to the protocol version that is current when it arrives. Nothing is replaced: a
re-upload is a new scan.

The public sees the scans of published (and annulled) protocol versions, like the versions
themselves; officials who may see unpublished results see all. :func:`verify_scans` recomputes
every stored file's hash and compares it with the database and the ledger (``secki
verify-scans``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename

from secki.accounts.access import Permission, authorize
from secki.accounts.users import User, account_of
from secki.elections.models import Election, ElectionStatus, Station
from secki.errors import IntakeError
from secki.ledger import chain, drafts
from secki.ledger.models import LedgerEntry
from secki.protocols import scan_content, store
from secki.protocols.models import (
    SCAN_EXTENSIONS,
    Protocol,
    ProtocolScan,
    ProtocolSource,
    ProtocolStatus,
    ScanType,
)
from secki.tlog.entries import SCAN_UPLOADED
from secki.tlog.merkle import leaf_hash

log = logging.getLogger(__name__)

LEDGER_KIND = SCAN_UPLOADED
#: protocol versions whose scans the public may download (the versions it sees)
PUBLIC_STATUSES = (ProtocolStatus.PUBLISHED, ProtocolStatus.ANNULLED)
#: first bytes of the accepted formats
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", ScanType.PDF),
    (b"\x89PNG\r\n\x1a\n", ScanType.PNG),
    (b"\xff\xd8\xff", ScanType.JPEG),
)
CHUNK = 1 << 16


def max_bytes() -> int:
    return int(getattr(settings, "SECKI_SCAN_MAX_BYTES", 20 * 1024 * 1024))


def sniff(head: bytes) -> str | None:
    """The content type that a file's first bytes announce, or None."""
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), None)


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True)
class Digest:
    sha256: str
    size: int
    content_type: str


def _chunks(upload: UploadedFile) -> Iterator[bytes]:
    upload.seek(0)
    yield from upload.chunks(CHUNK)


def require_file(upload: UploadedFile | None) -> UploadedFile:
    if upload is None:
        raise IntakeError(
            "missing_file",
            "file: choose the scan of the paper protocol (PDF, PNG or JPEG)",
            status=400,
            field="file",
        )
    return upload


def digest_upload(upload: UploadedFile) -> Digest:
    """Read the upload once: its size (refused above the limit), its type from its first bytes,
    and its SHA-256. Raises IntakeError naming the field ``file``."""
    limit = max_bytes()
    if upload.size is not None and upload.size > limit:
        raise _too_large(upload.size, limit)
    sha = hashlib.sha256()
    size = 0
    head = b""
    for chunk in _chunks(upload):
        if len(head) < 8:
            head += chunk[: 8 - len(head)]
        sha.update(chunk)
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
    upload.seek(0)
    if size == 0:
        raise IntakeError("empty_file", "file: the file is empty", status=400, field="file")
    kind = sniff(head)
    if kind is None:
        raise IntakeError(
            "unsupported_type",
            "file: not a PDF, PNG or JPEG file (judged by its content, not its name; "
            f"it starts with {head[:8]!r})",
            status=415,
            field="file",
        )
    # the whole file, not only its first bytes: one decodable image, or a PDF without active
    # content (secki.protocols.scan_content)
    scan_content.check(upload.read(), kind)
    upload.seek(0)
    return Digest(sha.hexdigest(), size, kind)


def _too_large(size: int, limit: int) -> IntakeError:
    return IntakeError(
        "file_too_large",
        f"file: {megabytes(size)} is more than the {megabytes(limit)} a scan may have "
        f"({limit} bytes)",
        status=413,
        field="file",
    )


def storage_name(election: Election, station: Station, digest: Digest) -> str:
    """Where a scan's bytes go: named by their hash, so equal files share one name."""
    try:
        folder = get_valid_filename(station.code)
    except SuspiciousFileOperation:
        folder = f"station-{station.pk}"
    extension = SCAN_EXTENSIONS[ScanType(digest.content_type)]
    return f"scans/{election.slug}/{folder}/{digest.sha256}.{extension}"


def file_sha256(name: str) -> tuple[str, int]:
    """SHA-256 and size of a stored file (OSError when it cannot be read)."""
    sha = hashlib.sha256()
    size = 0
    with default_storage.open(name, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size


def store_file(name: str, upload: UploadedFile, digest: Digest) -> tuple[str, bool]:
    """Save the upload under ``name`` unless that file already holds these bytes; returns the
    stored name and whether this call created it (and so must remove it on failure)."""
    if default_storage.exists(name):
        try:
            if file_sha256(name)[0] == digest.sha256:
                return name, False
        except OSError:
            pass
    upload.seek(0)
    # an existing file with other bytes (damaged) is left for verify-scans to report
    return default_storage.save(name, File(upload, name=name)), True


def _lock_station(station: Station) -> None:
    """Serialise changes to one station's protocols and scans (as protocols.actions does)."""
    store.lock_station(station.pk)


def upload_scan(
    election: Election,
    station: Station,
    upload: UploadedFile | None,
    *,
    actor: User | None,
    source: str = ProtocolSource.API,
) -> ProtocolScan:
    """Store a scan of ``station``'s paper protocol for its current protocol version."""
    authorize(actor, election, Permission.ENTER_PROTOCOL, station)
    if station.election_id != election.id:
        raise IntakeError(
            "other_election", f"station {station.code} belongs to another election", field="station"
        )
    if election.status != ElectionStatus.OPEN:
        raise IntakeError(
            "election_closed",
            f"{election.slug} is {election.get_status_display().lower()}",
            status=409,
        )
    upload = require_file(upload)
    digest = digest_upload(upload)
    with transaction.atomic():
        _lock_station(station)
        protocol = Protocol.objects.filter(station=station, is_current=True).first()
        if protocol is None:
            raise IntakeError(
                "no_protocol",
                f"station {station.code} has no protocol yet: a scan is attached to a protocol "
                "version, so enter the protocol first",
                status=409,
            )
        same = ProtocolScan.objects.filter(protocol=protocol, sha256=digest.sha256).first()
        if same is not None:
            raise IntakeError(
                "duplicate",
                f"this file is already scan {same.number} of station {station.code}'s protocol "
                f"version {protocol.version}",
                status=409,
            )
        number = (
            ProtocolScan.objects.filter(station=station).aggregate(n=Max("number"))["n"] or 0
        ) + 1
        name, created = store_file(storage_name(election, station, digest), upload, digest)
        try:
            entry = chain.append(
                election,
                drafts.ScanUploaded(
                    election.slug,
                    timezone.now(),
                    station.code,
                    protocol.version,
                    digest.sha256,
                    digest.size,
                    digest.content_type,
                ),
            )
            assert entry is not None
            scan = ProtocolScan.objects.create(
                election=election,
                station=station,
                protocol=protocol,
                number=number,
                file=name,
                sha256=digest.sha256,
                size=digest.size,
                content_type=digest.content_type,
                original_name=(upload.name or "")[-255:],
                source=source,
                uploaded_by=account_of(actor),
                uploaded_at=entry.at,
                ledger=entry,
            )
        except BaseException:
            if created:
                default_storage.delete(name)
            raise
    return scan


# -- reading --------------------------------------------------------------------------------


def visible_scans(station: Station, *, public: bool) -> list[ProtocolScan]:
    """A station's scans, oldest first: for the public only those of public versions."""
    query = ProtocolScan.objects.filter(station=station).select_related(
        "protocol", "station", "election", "ledger"
    )
    if public:
        query = query.filter(protocol__status__in=PUBLIC_STATUSES)
    return list(query.order_by("number"))


def is_public(scan: ProtocolScan) -> bool:
    return scan.protocol.status in PUBLIC_STATUSES


def scan_path(slug: str, station_code: str, number: int) -> str:
    """The site path that serves a scan's file."""
    return reverse("portal:scan", args=[slug, station_code, number])


def published_url(path: str) -> str:
    """``path`` with ``SECKI_PUBLIC_URL`` before it (site-relative when that is empty), for
    files that outlive the request (open data)."""
    return f"{getattr(settings, 'SECKI_PUBLIC_URL', '')}{path}"


# -- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanCheck:
    checked: int
    bytes: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _payload(entry: LedgerEntry) -> dict[str, Any]:
    """The entry's fields (its canonical JSON), or nothing if it is not JSON."""
    try:
        body = json.loads(entry.body)
    except json.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def verify_scans(scans: Iterable[ProtocolScan] | None = None) -> ScanCheck:
    """Recompute the SHA-256 of every stored scan and compare it with the database row and the
    ledger entry that published it; also name published scans whose row is gone."""
    problems: list[str] = []
    checked = total = 0
    rows = scans
    if rows is None:
        rows = (
            ProtocolScan.objects.select_related("election", "station", "protocol", "ledger")
            .order_by("id")
            .iterator(chunk_size=500)
        )
    for scan in rows:
        checked += 1
        name = scan.file.name or ""
        label = f"{scan.election.slug} station {scan.station.code} scan {scan.number} ({name})"
        try:
            actual, size = file_sha256(name)
        except OSError as exc:
            problems.append(f"{label}: the file cannot be read ({exc.__class__.__name__})")
            actual, size = "", -1
        else:
            total += size
            if actual != scan.sha256:
                problems.append(
                    f"{label}: the file's SHA-256 is {actual}, the database says {scan.sha256}"
                )
            if size != scan.size:
                problems.append(
                    f"{label}: the file has {size} bytes, the database says {scan.size}"
                )
        entry = scan.ledger
        where = f"log entry {entry.index} of {scan.election.slug}"
        if leaf_hash(entry.body.encode()).hex() != entry.leaf_hash:
            problems.append(f"{label}: {where} does not match its own hash (altered)")
        payload = _payload(entry)
        expected = {
            "scan_sha256": scan.sha256,
            "size": scan.size,
            "station": scan.station.code,
            "version": scan.protocol.version,
            "content_type": scan.content_type,
            "election": scan.election.slug,
        }
        for key, value in expected.items():
            if payload.get(key) != value:
                problems.append(
                    f"{label}: {where} published {key} {payload.get(key)!r}, "
                    f"the database says {value!r}"
                )
        if entry.kind != LEDGER_KIND:
            problems.append(f"{label}: {where} is a {entry.kind!r} entry, not {LEDGER_KIND!r}")
    if scans is None:
        linked = set(ProtocolScan.objects.values_list("ledger_id", flat=True))
        for entry in (
            LedgerEntry.objects.filter(kind=LEDGER_KIND).select_related("election").order_by("seq")
        ):
            if entry.pk not in linked:
                payload = _payload(entry)
                problems.append(
                    f"log entry {entry.index} of {entry.election.slug} published a scan of "
                    f"station {payload.get('station')} (SHA-256 {payload.get('scan_sha256')}), "
                    "which the database no longer has"
                )
    return ScanCheck(checked, total, problems)


def scan_json(
    *,
    version: int,
    number: int,
    sha256: str,
    size: int,
    content_type: str,
    uploaded_at: dt.datetime,
    url: str,
) -> dict[str, Any]:
    """One scan of a station's paper protocol, as the station JSON of the API and of the
    snapshots shows it (the hash is the one published in the ledger)."""
    return {
        "version": version,
        "number": number,
        "sha256": sha256,
        "size": size,
        "content_type": content_type,
        "uploaded_at": uploaded_at.isoformat(),
        "url": url,
    }


def protocol_scan_json(scan: ProtocolScan, url: str) -> dict[str, Any]:
    """:func:`scan_json` of a ``ProtocolScan`` row."""
    return scan_json(
        version=scan.protocol.version,
        number=scan.number,
        sha256=scan.sha256,
        size=scan.size,
        content_type=scan.content_type,
        uploaded_at=scan.uploaded_at,
        url=url,
    )
