"""Turnout pages for officials (reporting form, tracking)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("staff:dashboard")
