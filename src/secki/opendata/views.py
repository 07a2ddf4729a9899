"""Open-data download pages."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from secki.elections.models import Election


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "opendata/index.html", {"elections": Election.objects.all()})
