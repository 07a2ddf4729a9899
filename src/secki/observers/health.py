"""The webcams' health check: every registered stream is probed (``HEAD``, or ``GET`` of its
first bytes where a streaming server refuses ``HEAD``) with a timeout, a bounded number at once;
what changed is recorded: the status and when it was last seen up, each change of status, an
outage opened by the probe that finds a stream down and closed by the first that finds it up
again (its recovery). ``secki webcams-check`` runs it once or every ``--interval`` seconds.

The clock is injected (``now``), so that the tests and the recorded times do not depend on
how long the probes took."""

from __future__ import annotations

import datetime as dt
import http.client
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from secki.accounts import audit
from secki.elections.models import Election
from secki.observers.models import Webcam, WebcamChange, WebcamOutage, WebcamStatus

#: probes under way at once
CONCURRENCY = 16
#: seconds a probe waits to connect and for each read
TIMEOUT = 5.0
#: bytes of a stream's answer a ``GET`` reads: enough to know it flows
FIRST_BYTES = 512
DETAIL_MAX = 300

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Probe:
    up: bool
    http_status: int | None
    detail: str


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Redirects only to http(s): never to a local file or another scheme."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.URLError(f"redirect to {newurl[:80]!r} refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]


_opener = urllib.request.build_opener(_Redirects)


def _fetch(url: str, method: str, timeout: float) -> Probe:
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by probe()
        url, method=method, headers={"User-Agent": "secki-webcam-check"}
    )
    with _opener.open(request, timeout=timeout) as response:
        status = int(response.status)
        if method == "GET" and not response.read(FIRST_BYTES):
            return Probe(False, status, "the stream sent no data")
        return Probe(200 <= status < 300, status, "")


def probe(url: str, *, timeout: float = TIMEOUT) -> Probe:
    """Whether the stream at ``url`` answers: ``HEAD``, then ``GET`` (its first bytes) if the
    server refuses ``HEAD`` (405, 501) as streaming servers often do."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return Probe(False, None, "not an http(s) address")
    try:
        try:
            return _fetch(url, "HEAD", timeout)
        except urllib.error.HTTPError as exc:
            if exc.code not in (405, 501):
                raise
            exc.close()
        return _fetch(url, "GET", timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        return Probe(False, exc.code, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Probe(False, None, str(reason)[:DETAIL_MAX] or type(exc).__name__)


@dataclass(frozen=True)
class Round:
    """One pass over an election's webcams."""

    checked: int
    up: int
    down: int
    went_down: list[str]  # station codes
    recovered: list[str]


def check(
    election: Election,
    *,
    now: Clock = timezone.now,
    concurrency: int = CONCURRENCY,
    timeout: float = TIMEOUT,
    prober: Callable[[str], Probe] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Round:
    """Probe every webcam of ``election`` (at most ``concurrency`` at once), then record the
    results (one transaction)."""
    webcams = list(Webcam.objects.filter(election=election).values_list("pk", "stream_url"))
    run = prober or (lambda url: probe(url, timeout=timeout))
    results: list[tuple[int, Probe, dt.datetime]] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {pool.submit(run, url): pk for pk, url in webcams}
        for future in as_completed(futures):
            results.append((futures[future], future.result(), now()))
            if progress is not None:
                progress(1)
    return record(election, results)


def record(election: Election, results: Iterable[tuple[int, Probe, dt.datetime]]) -> Round:
    """Store probes' results (webcam id, probe, when): the last check and last seen; a change
    of status, an outage opened or closed and an audit record where the status changed."""
    by_id = {pk: (result, at) for pk, result, at in results}
    went_down: list[str] = []
    recovered: list[str] = []
    with transaction.atomic():
        # only the webcams' rows: their stations are the protocol intake's to lock
        rows = list(
            Webcam.objects.select_for_update(of=("self",))
            .filter(election=election, pk__in=list(by_id))
            .select_related("station")
            .order_by("pk")
        )
        changes: list[WebcamChange] = []
        for webcam in rows:
            result, at = by_id[webcam.pk]
            status = WebcamStatus.UP if result.up else WebcamStatus.DOWN
            webcam.checked_at = at
            webcam.http_status = result.http_status
            webcam.detail = result.detail[:DETAIL_MAX]
            if result.up:
                webcam.last_seen_at = at
            if webcam.status == status:
                continue
            before = webcam.status
            webcam.status, webcam.status_since = status, at
            changes.append(
                WebcamChange(
                    webcam=webcam,
                    at=at,
                    status=status,
                    http_status=result.http_status,
                    detail=webcam.detail,
                )
            )
            _outage(webcam, status, at)
            code = webcam.station.code
            (recovered if status == WebcamStatus.UP else went_down).append(code)
            if before != WebcamStatus.UNKNOWN:
                audit.record(
                    None,
                    f"observers.webcam_{status}",
                    election=election,
                    target=code,
                    before={"status": before},
                    after={"status": status, "at": at.isoformat(), "detail": webcam.detail},
                )
        Webcam.objects.bulk_update(
            rows,
            ["checked_at", "http_status", "detail", "last_seen_at", "status", "status_since"],
            batch_size=2000,
        )
        WebcamChange.objects.bulk_create(changes, batch_size=2000)
    up = sum(1 for w in rows if w.status == WebcamStatus.UP)
    return Round(len(rows), up, len(rows) - up, went_down, recovered)


def _outage(webcam: Webcam, status: str, at: dt.datetime) -> None:
    if status == WebcamStatus.DOWN:
        WebcamOutage.objects.create(webcam=webcam, started_at=at, detail=webcam.detail)
    else:
        WebcamOutage.objects.filter(webcam=webcam, ended_at__isnull=True).update(ended_at=at)


def elections_with_webcams(slugs: Sequence[str] = ()) -> list[Election]:
    elections = Election.objects.order_by("slug")
    if slugs:
        elections = elections.filter(slug__in=slugs)
    return list(elections)
