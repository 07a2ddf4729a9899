"""Officials' pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from secki.accounts.models import Membership


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related(
        "election", "unit", "station"
    )
    return render(request, "staff/dashboard.html", {"memberships": memberships})
