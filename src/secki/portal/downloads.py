"""Open-data pages and files: the download page, permanent versioned files, the live snapshot,
and two small JSON endpoints (release catalogue, turnout by report time).

URLs (``/data/`` prefix):

- ``<slug>/`` — download page: files with sizes and SHA-256, licence, columns, history;
- ``<slug>/v<seq>/<file>`` — a release file; permanent, immutable (cached for a year);
- ``<slug>/latest/<file>`` — redirect to the newest release's permanent URL;
- ``<slug>/live/<file>`` — the live snapshot, regenerated within seconds of a change;
- ``<slug>/releases.json?limit=&before=`` and ``<slug>/turnout.json?unit=`` — JSON with the
  API's error shape (400 for malformed parameters, 404 for unknown elections or units).
"""

from __future__ import annotations

from typing import Any

from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotFound,
    HttpResponseNotModified,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_safe

from secki.elections.models import Election, Unit
from secki.elections.names import local
from secki.opendata import files, logfiles, snapshots
from secki.opendata.bulk import STATION_FIELDS, STATUS_FIELDS
from secki.portal.http import matches
from secki.portal.views import withheld_text
from secki.results.turnout import turnout_summary

STATION_FIELD_HELP = {
    "station": gettext_noop("station code (bundle stations.csv: code)"),
    "unit": gettext_noop("code of the unit holding the station (units.csv)"),
    "unit_name": gettext_noop("name of that unit"),
    "number": gettext_noop("station number within its unit"),
    "name": gettext_noop("station name"),
    "address": gettext_noop("address"),
    "registered": gettext_noop("registered voters"),
    "latitude": gettext_noop("WGS 84 latitude"),
    "longitude": gettext_noop("WGS 84 longitude"),
    "abroad": gettext_noop("1 for a station abroad"),
    "temporary": gettext_noop("1 for a temporary station"),
    "webcam": gettext_noop("1 when the station is filmed"),
    "ocd_id": gettext_noop("Open Civic Data division id"),
    "webcam_url": gettext_noop("address of the station's public webcam stream, when known"),
    "name_az": gettext_noop("station name in Azerbaijani, when given"),
    "name_ru": gettext_noop("station name in Russian, when given"),
    "status": gettext_noop("published (counted), annulled, or empty (not published yet)"),
    "version": gettext_noop("protocol version (corrections make new versions)"),
    "annulment": gettext_noop("the annulment decision, when annulled"),
}


def index(request: HttpRequest) -> HttpResponse:
    elections = list(Election.objects.all())
    rows = [(e, next(iter(snapshots.releases(e)), None)) for e in elections]
    return render(request, "opendata/index.html", {"rows": rows, "licence": snapshots.LICENCE})


def election_page(request: HttpRequest, slug: str) -> HttpResponse:
    election = get_object_or_404(Election, slug=slug)
    snapshots.refresh_in_background(election)
    found = snapshots.releases(election)
    latest = found[0] if found else None
    live = snapshots.live_manifest(election)
    schema = election.protocol_schema()
    candidates = list(election.candidates.order_by("number"))
    columns = [(c, STATION_FIELD_HELP.get(c, "")) for c in [*STATION_FIELDS, *STATUS_FIELDS]]
    columns += [(ln.code, ln.label) for ln in schema.lines]
    columns += [(c.line_code, local(c)) for c in candidates]
    context = {
        "election": election,
        "section": "data",
        "latest": latest,
        "earlier": found[1:],
        "live": live,
        # the live files hold the results back (and no release is cut) until the publication
        # setting lets them out
        "withheld": withheld_text(election) if live and live.get("withheld") else "",
        "columns": columns,
        "licence": snapshots.LICENCE,
        "base_url": request.build_absolute_uri(reverse("opendata:election", args=[slug])),
    }
    response = render(request, "opendata/election.html", context)
    response["Cache-Control"] = "public, max-age=10"
    return response


def data_file(request: HttpRequest, slug: str, version: str, name: str) -> HttpResponseBase:
    """A release file, the live snapshot's, or a redirect to the newest release. The files are
    public: this reads the database only to find an election without files yet, and to check
    (every 2 s at most) whether the live snapshot is behind the ledger."""
    base = snapshots.slug_dir(slug)
    if not base.is_dir():
        election = get_object_or_404(Election, slug=slug)
        if version != snapshots.LIVE or not snapshots.auto():
            raise Http404(name)
        snapshots.refresh(election)
    elif version == snapshots.LIVE and snapshots.auto() and snapshots.check_due(slug):
        election = get_object_or_404(Election, slug=slug)
        if (base / snapshots.LIVE).is_dir():
            snapshots.start_if_stale(election)
        else:
            snapshots.refresh(election)
    if version == snapshots.LATEST:
        found = snapshots.releases_in(base)
        if not found:
            raise Http404("no release yet")
        target = reverse("opendata:file", args=[slug, found[0]["version"], name])
        redirect = HttpResponseRedirect(target)
        redirect["Cache-Control"] = "public, max-age=60"
        return redirect
    path = files.resolve(slug, version, name)
    if path is None:
        raise Http404(name)
    stat = path.stat()
    tag = files.etag(path, stat)
    headers = files.headers(slug, version, name, stat, tag)
    response: HttpResponseBase
    if matches(request, tag):
        response = HttpResponseNotModified()
        response["ETag"] = tag
        response["Cache-Control"] = headers["Cache-Control"]
        return response
    response = FileResponse(path.open("rb"))
    if "Content-Disposition" not in headers:
        del response["Content-Disposition"]  # FileResponse's default "inline; filename=…"
    for key, value in headers.items():
        response[key] = value
    return response


# -- JSON endpoints ------------------------------------------------------------------------


def error(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    """The project's one error shape (secki.api.main)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return JsonResponse({"error": body}, status=status)


def _unknown_params(request: HttpRequest, allowed: set[str]) -> JsonResponse | None:
    unknown = sorted(set(request.GET) - allowed)
    if unknown:
        return error(
            400,
            "invalid_request",
            f"{unknown[0]}: unknown parameter (allowed: {', '.join(sorted(allowed))})",
            unknown[0],
        )
    return None


def releases_json(request: HttpRequest, slug: str) -> JsonResponse:
    """The catalogue of permanent releases, newest first: ``limit`` (1–1000, default 100),
    ``before`` (a version ``v<seq>``: only older releases)."""
    bad = _unknown_params(request, {"limit", "before"})
    if bad:
        return bad
    raw_limit = request.GET.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        return error(400, "invalid_request", "limit: an integer from 1 to 1000", "limit")
    before = request.GET.get("before")
    match = snapshots.VERSION_RE.match(before) if before is not None else None
    if before is not None and match is None:
        return error(400, "invalid_request", "before: a version such as v1234", "before")
    election = Election.objects.filter(slug=slug).first()
    if election is None:
        return error(404, "not_found", f"no election {slug!r}")
    found = snapshots.releases(election)
    if match:
        found = [m for m in found if int(m["ledger_seq"]) < int(match.group(1))]
    items = []
    for m in found[: int(raw_limit)]:
        files = [
            {
                **f,
                "url": request.build_absolute_uri(
                    reverse("opendata:file", args=[slug, m["version"], f["name"]])
                ),
            }
            for f in m["files"]
        ]
        items.append({**{k: v for k, v in m.items() if k != "columns"}, "files": files})
    response = JsonResponse({"election": slug, "licence": snapshots.LICENCE, "releases": items})
    response["Cache-Control"] = "public, max-age=10"
    return response


def turnout_json(request: HttpRequest, slug: str) -> JsonResponse:
    """Turnout by report time of a unit (``unit``: its code; default the whole election) and
    of its child units."""
    bad = _unknown_params(request, {"unit"})
    if bad:
        return bad
    code = request.GET.get("unit")
    if code is not None and (
        not code.strip() or len(code) > 64 or any(ord(ch) < 32 for ch in code)
    ):
        return error(400, "invalid_request", "unit: a unit code (1 to 64 characters)", "unit")
    election = Election.objects.filter(slug=slug).first()
    if election is None:
        return error(404, "not_found", f"no election {slug!r}")
    try:
        summary = turnout_summary(election, code, public=True)
    except Unit.DoesNotExist:
        return error(404, "not_found", f"no unit {code!r} in {slug}", "unit")
    response = JsonResponse(summary)
    response["Cache-Control"] = "public, max-age=5"
    return response


@require_safe
def log_file(request: HttpRequest, name: str) -> HttpResponseBase:
    """A file of the transparency log (``/log/<name>``), for a site served without the WSGI
    front (:mod:`secki.opendata.wsgi` answers these itself): the same bytes and headers
    (:mod:`secki.opendata.logfiles`), no database work, and a 404 cached for seconds only."""
    path = logfiles.resolve(name)
    response: HttpResponseBase
    if path is None:
        response = HttpResponseNotFound(logfiles.MISSING_BODY)
        for key, value in logfiles.missing_headers().items():
            response[key] = value
        return response
    headers, body = logfiles.answer(name, path, request.headers.get("Accept-Encoding", ""))
    if matches(request, headers["ETag"]):
        response = HttpResponseNotModified()
        response["ETag"] = headers["ETag"]
        response["Cache-Control"] = headers["Cache-Control"]
        return response
    if body is not None:
        response = HttpResponse(body)
    else:
        response = FileResponse(path.open("rb"))
    if "Content-Disposition" not in headers and "Content-Disposition" in response:
        del response["Content-Disposition"]  # FileResponse's default "inline; filename=…"
    for key, value in headers.items():
        response[key] = value
    return response
