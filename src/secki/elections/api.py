"""Elections API: the registry, read-only."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from secki.api.lookups import election_or_404
from secki.api.schemas import ErrorOut
from secki.elections.bundle_io import election_settings
from secki.elections.models import Election

router = Router(tags=["elections"])


class ElectionOut(Schema):
    slug: str
    name: str
    kind: str
    date: str
    status: str
    simulated: bool


@router.get("", response=list[ElectionOut])
def elections(request: HttpRequest) -> list[dict[str, Any]]:
    """Every election on this server."""
    return [
        {
            "slug": e.slug,
            "name": e.name,
            "kind": e.kind,
            "date": e.date.isoformat(),
            "status": e.status,
            "simulated": e.simulated,
        }
        for e in Election.objects.all()
    ]


@router.get("/{slug}", response={200: dict[str, Any], 404: ErrorOut})
def election(request: HttpRequest, slug: str) -> dict[str, Any]:
    """An election's settings and protocol schema, as in the bundle's election.json."""
    return election_settings(election_or_404(slug))
