"""A CSV file sent to a bulk endpoint: its OpenAPI request body and the one reader of it,
shared by the protocols' and the turnout reports' bulk uploads."""

from __future__ import annotations

import io
from typing import IO, cast

from django.conf import settings as django_settings
from django.http import HttpRequest
from django.utils.translation import gettext

from secki.bundle.read import MAX_UPLOAD_BYTES
from secki.errors import IntakeError

#: the request body of a bulk endpoint, for its OpenAPI description: the CSV as the body or as
#: the ``file`` field of a form upload
BULK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


def upload_content(request: HttpRequest) -> IO[bytes]:
    """The CSV sent as the body (``text/csv``) or as the ``file`` field of a form upload, as a
    binary stream (the bulk parsers read it line by line, within their bounds).

    Call it only once the caller's role is checked: it is what reads the body. An
    ``Idempotency-Key`` fingerprints a parsed upload by its fields and files."""
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise IntakeError("invalid_file", "no 'file' field in the upload", field="file")
        size = upload.size or 0
    else:
        size = int(request.META.get("CONTENT_LENGTH") or 0)
    limit = MAX_UPLOAD_BYTES
    body_limit = django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if request.content_type != "multipart/form-data" and body_limit:
        limit = min(limit, body_limit)  # the body is read whole
    if size > limit:
        raise IntakeError(
            "file_too_large",
            gettext(
                "file: %(size)s bytes is more than the %(limit)s bytes an upload may have "
                "(send a larger file as multipart/form-data, field 'file')"
            )
            % {"size": f"{size:,}", "limit": f"{limit:,}"},
            status=413,
            field="file",
        )
    if request.content_type == "multipart/form-data":
        return cast(IO[bytes], upload)
    return io.BytesIO(request.body)
