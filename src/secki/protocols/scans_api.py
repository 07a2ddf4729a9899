"""Scans API: upload the scan of a station's paper protocol (multipart), list a station's
scans. The rules are :func:`secki.protocols.scans.upload_scan`'s."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import File, Router
from ninja.files import UploadedFile

from secki.accounts.access import Permission, can
from secki.api.auth import user_from_request
from secki.api.idempotency import Answer, respond
from secki.api.lookups import election_or_404, station_in, station_or_404
from secki.api.schemas import WRITE_ERRORS, Out, errors
from secki.protocols import scans
from secki.protocols.models import ProtocolScan, ProtocolSource

router = Router(tags=["scans"])


class ScanJsonOut(Out):
    """One scan of a station's paper protocol (:func:`secki.protocols.scans.scan_json`)."""

    version: int
    number: int
    sha256: str
    size: int
    content_type: str
    uploaded_at: str
    url: str


class ScanOut(ScanJsonOut):
    election: str
    station: str
    public: bool
    ledger_seq: int


def scan_out(request: HttpRequest, scan: ProtocolScan) -> dict[str, Any]:
    path = scans.scan_path(scan.election.slug, scan.station.code, scan.number)
    return {
        "election": scan.election.slug,
        "station": scan.station.code,
        **scans.protocol_scan_json(scan, request.build_absolute_uri(path)),
        "public": scans.is_public(scan),
        "ledger_seq": scan.ledger.seq,
    }


#: merged into the upload's OpenAPI description: the file is not empty (an empty one is 400)
SCAN_BODY = {
    "requestBody": {
        "content": {"multipart/form-data": {"schema": {"properties": {"file": {"minLength": 1}}}}}
    }
}


@router.post(
    "/{slug}/stations/{station}/scans",
    response={201: ScanOut, **WRITE_ERRORS, **errors(413, 415)},
    openapi_extra=SCAN_BODY,
)
def upload(
    request: HttpRequest,
    slug: str,
    station: str,
    file: File[UploadedFile],
) -> JsonResponse:
    """Upload the scan (PDF, PNG or JPEG, multipart field ``file``) of a station's paper
    protocol. It is attached to the station's current protocol version; its SHA-256 is computed
    here and published in the ledger. Allowed to those who may submit that station's protocol.
    """
    user = user_from_request(request)
    election = election_or_404(slug)

    def work() -> Answer:
        st = station_in(election, station)
        scan = scans.upload_scan(election, st, file, actor=user, source=ProtocolSource.API)
        return 201, scan_out(request, scan)

    return respond(request, user, work)


@router.get("/{slug}/stations/{station}/scans", response={200: list[ScanOut], **errors(404)})
def station_scans(request: HttpRequest, slug: str, station: str) -> list[dict[str, Any]]:
    """A station's scans, oldest first (the public sees those of published and annulled
    protocol versions)."""
    user = user_from_request(request)
    election = election_or_404(slug)
    st = station_or_404(election, station)
    public = not can(user, election, Permission.VIEW_UNPUBLISHED, st)
    return [scan_out(request, s) for s in scans.visible_scans(st, public=public)]
