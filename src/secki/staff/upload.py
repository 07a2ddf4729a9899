"""Bulk upload of a protocols.csv (docs/formats.md): every row is checked first, then all
rows are accepted in one transaction by ``accept_csv``, or none, with every problem listed."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, ngettext

from secki.accounts.access import AccessDenied, Permission
from secki.bundle.read import MAX_UPLOAD_BYTES
from secki.elections.models import ElectionStatus
from secki.errors import IntakeError
from secki.protocols.bulk import accept_csv
from secki.protocols.models import ProtocolSource
from secki.staff.common import election_or_404, refuse, require_role, staff_view
from secki.staff.lines import Sheet


@staff_view
def upload(request: HttpRequest, slug: str) -> HttpResponse:
    election = election_or_404(slug)
    user = request.user
    require_role(user, election, Permission.ENTER_PROTOCOL)
    sheet = Sheet.of(election)
    context = {
        "election": election,
        "columns": ["station", *sheet.codes],
        "open": election.status == ElectionStatus.OPEN,
        "problem_details_elsewhere": True,  # the page lists every problem in a table
    }
    if request.method != "POST":
        return render(request, "staff/upload.html", context)
    upload = request.FILES.get("file")
    try:
        if upload is None or not upload.size:
            raise IntakeError(
                "missing_file", "choose a non-empty protocols.csv file", status=400, field="file"
            )
        if upload.size > MAX_UPLOAD_BYTES:
            raise IntakeError(
                "file_too_large",
                gettext("file: %(size)s bytes is more than the %(limit)s bytes an upload may have")
                % {"size": f"{upload.size:,}", "limit": f"{MAX_UPLOAD_BYTES:,}"},
                status=413,
                field="file",
            )
        # read line by line within the bounds of secki.bundle.read.BoundedCsv
        accepted = accept_csv(election, upload, actor=user, source=ProtocolSource.IMPORT)
    except (IntakeError, AccessDenied) as exc:
        return refuse(request, "staff/upload.html", context, exc)
    messages.success(
        request,
        ngettext(
            "%(file)s: %(n)s protocol accepted in one transaction.",
            "%(file)s: %(n)s protocols accepted in one transaction.",
            accepted,
        )
        % {"file": upload.name, "n": accepted},
    )
    return redirect("staff:upload", slug=election.slug)
