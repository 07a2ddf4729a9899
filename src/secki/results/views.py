"""Public results pages (server-rendered)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from secki.accounts.access import Permission, can
from secki.elections.models import Election, UnitKind
from secki.results.tabulate import tabulation


def home(request: HttpRequest) -> HttpResponse:
    elections = list(Election.objects.all())
    if len(elections) == 1:
        return redirect("results:election", slug=elections[0].slug)
    return render(request, "results/home.html", {"elections": elections})


def election_results(request: HttpRequest, slug: str) -> HttpResponse:
    election = get_object_or_404(Election, slug=slug)
    tab = tabulation(election, public=not can(request.user, election, Permission.VIEW_UNPUBLISHED))
    national = tab.result()
    constituencies = [
        tab.result(u)
        for u in sorted(tab.units.values(), key=lambda u: (u.number or 0, u.code))
        if u.kind == UnitKind.CONSTITUENCY
    ]
    return render(
        request,
        "results/election.html",
        {
            "election": election,
            "national": national,
            "constituencies": constituencies,
            "candidates": tab.candidates,
        },
    )
