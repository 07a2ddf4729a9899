"""Integrity pages: live forensics, the risk table, plots, PVT samples and counts, exit polls.

Who sees what: :mod:`secki.integrity.access`. Forms post to the same page; every write goes
through :mod:`secki.integrity.actions`, whose :class:`~secki.errors.IntakeError` is shown
next to the form with the values kept.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_POST

from secki.accounts.access import AccessDenied
from secki.elections.models import Election
from secki.elections.names import local
from secki.errors import IntakeError
from secki.integrity import actions, plots, pvt
from secki.integrity.access import View, can_manage, can_register, is_public, view_for
from secki.integrity.analysis import (
    ALPHA,
    DIGIT_FIELDS,
    EXPLANATIONS,
    GENERAL_CAVEAT,
    HIGH_HIGH_FLAG,
    Analysis,
    risk_rows,
    snapshot,
)
from secki.integrity.models import ExitPoll, PvtCount, PvtSample, SampleMethod
from secki.integrity.sentences import translated, translated_flag, translated_list
from secki.integrity.station_arrays import natural_key
from secki.integrity.svg import fingerprint_svg
from secki.results.anomalies import KIND_LABELS
from secki.stats.exit_polls import CAVEAT as EXIT_POLL_CAVEAT
from secki.stats.pvt import Z99

TOP = 25
RISK_PAGE = 500


def denied(request: HttpRequest, election: Election, exc: AccessDenied) -> HttpResponse:
    return render(
        request,
        "integrity/denied.html",
        {"election": election, "message": exc.message, "code": exc.code},
        status=403,
    )


def _election(slug: str) -> Election:
    return get_object_or_404(Election, slug=slug)


def _view(request: HttpRequest, election: Election) -> View:
    return view_for(request.user, election)


def _station_url(slug: str) -> Any:
    def url(code: str) -> str:
        return reverse("portal:station", args=[slug, code])

    return url


# secki.stats has no Django: its caveat is marked for the catalogue here
gettext_noop("sampling error only: non-response and selection bias of exit polls are not included")


def explanations() -> dict[str, dict[str, str]]:
    """What each test can and cannot show, in the page's language."""
    return {
        test: {part: gettext(text) for part, text in texts.items()}
        for test, texts in EXPLANATIONS.items()
    }


def _context(request: HttpRequest, election: Election, view: View, page: str) -> dict[str, Any]:
    return {
        "election": election,
        "view": view,
        "page": page,
        "caveat": gettext(GENERAL_CAVEAT),
        "can_register": can_register(request.user, election),
        "can_manage": can_manage(request.user, election),
        "is_public": is_public(election),
    }


def _digit_rows(a: Analysis, name: str) -> list[dict[str, Any]]:
    if name not in a.digits:
        return []
    total, by_group = a.digits[name]
    rows = [{"group": "", "name": gettext("All stations"), "r": total, "all": True}]
    rows += [
        {"group": g, "name": a.data.group_names.get(g, g), "r": by_group[g], "all": False}
        for g in sorted(by_group, key=natural_key)
    ]
    return rows


def overview(request: HttpRequest, slug: str) -> HttpResponse:
    """The forensics suite on the counted protocols, with what each test can and cannot show."""
    election = _election(slug)
    try:
        view = _view(request, election)
    except AccessDenied as exc:
        return denied(request, election, exc)
    snap = snapshot(election, public=view.public)
    a = snap.result
    context = _context(request, election, view, "forensics")
    context.update(
        {
            "snap": snap,
            "a": a,
            "explain": explanations(),
            "alpha": ALPHA,
            "high_high_flag": HIGH_HIGH_FLAG,
            "top": TOP,
        }
    )
    if a is not None and a.fingerprint is not None:
        context["svg"] = mark_safe(fingerprint_svg(a.fingerprint))  # noqa: S308 - numbers only
        context["risk"] = _worded(risk_rows(a, limit=TOP, station_url=_station_url(slug)))
        context["signalled"] = int((a.risk.scores > 0).sum()) if a.risk is not None else 0
        context["digit_fields"] = [
            (name, gettext(label), _digit_rows(a, name)) for name, label in DIGIT_FIELDS.items()
        ]
        ip = a.integer
        if ip is not None:
            names = a.data.group_names
            context["integer_groups"] = [
                (g, names.get(g.group, g.group))
                for g in sorted(ip.groups, key=lambda g: -g.either.anomaly)
                if g.either.pvalue <= ALPHA
            ][:20]
            context["excluded"] = [
                (translated(reason), n) for reason, n in ip.excluded.items() if n
            ]
        context["turnout_counts"] = [
            (str(KIND_LABELS.get(kind, kind)), n)
            for kind, n in sorted(a.data.turnout_flag_counts.items())
        ]
    return render(request, "integrity/overview.html", context)


def _worded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The risk table's reasons and turnout flags (stored in English) in the active language."""
    labels = {}
    for label in KIND_LABELS.values():
        with translation.override("en"):
            english = str(label)
        labels[english] = str(label)
    for row in rows:
        row["reasons"] = [translated(why) for why in row["reasons"]]
        row["turnout_flags"] = [translated_flag(f, labels) for f in row["turnout_flags"]]
    return rows


def risk(request: HttpRequest, slug: str) -> HttpResponse:
    """Every station with a positive risk score, highest first (up to 500)."""
    election = _election(slug)
    try:
        view = _view(request, election)
    except AccessDenied as exc:
        return denied(request, election, exc)
    snap = snapshot(election, public=view.public)
    context = _context(request, election, view, "risk")
    context.update({"snap": snap, "a": snap.result, "explain": explanations()["risk"]})
    if snap.result is not None:
        context["risk"] = _worded(
            risk_rows(snap.result, limit=RISK_PAGE, station_url=_station_url(slug))
        )
    return render(request, "integrity/risk.html", context)


def plot(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """PNG plots drawn by the forensics CLI's helpers (fingerprint, integer, digits)."""
    election = _election(slug)
    try:
        view = _view(request, election)
    except AccessDenied as exc:
        return denied(request, election, exc)
    if name not in plots.PLOTS:
        raise Http404(f"no plot {name!r}")
    a = snapshot(election, public=view.public).result
    if a is None or a.integer is None:
        raise Http404("no analysis yet")
    response = HttpResponse(plots.png(a, name), content_type="image/png")
    response["Cache-Control"] = "private, max-age=60"
    return response


@require_POST
def toggle_public(request: HttpRequest, slug: str) -> HttpResponse:
    """CEC administrators switch the public view of the integrity pages on or off."""
    election = _election(slug)
    try:
        row = actions.set_public(election, request.POST.get("public") == "1", actor=request.user)
    except AccessDenied as exc:
        return denied(request, election, exc)
    messages.success(
        request,
        gettext("The integrity pages are now public (published protocols only).")
        if row.public
        else gettext("The integrity pages are now for staff and observers only."),
    )
    return redirect("integrity:overview", slug=election.slug)


# -- PVT ------------------------------------------------------------------------------------

SAMPLE_FIELDS = ("group", "contact", "method", "seed", "size", "margin", "stations")


def pvt_index(request: HttpRequest, slug: str) -> HttpResponse:
    """Registered PVT samples with their estimates; the registration form with the NDI
    sample-size helper."""
    election = _election(slug)
    try:
        view = _view(request, election)
    except AccessDenied as exc:
        return denied(request, election, exc)
    form = dict.fromkeys(SAMPLE_FIELDS, "")
    form["method"] = SampleMethod.SEED
    error: IntakeError | None = None
    status = 200
    if request.method == "POST":
        form = {k: request.POST.get(k, "").strip() for k in SAMPLE_FIELDS}
        try:
            sample = actions.register_sample(
                election,
                actor=request.user,
                group=form["group"],
                contact=form["contact"],
                method=form["method"],
                seed=form["seed"],
                size=form["size"],
                margin=form["margin"],
                codes=form["stations"],
            )
        except AccessDenied as exc:
            return denied(request, election, exc)
        except IntakeError as exc:
            error, status = exc, exc.status
        else:
            messages.success(
                request,
                gettext(
                    "Sample of %(n)s stations registered for %(unit)s; its seed and digest are "
                    "in the public ledger."
                )
                % {"n": sample.stations.count(), "unit": sample.group.name},
            )
            return redirect("integrity:pvt_sample", slug=election.slug, sample_id=sample.pk)
    frame = pvt.frame_of(election)
    results = [
        (r, _leading(r))
        for r in (
            pvt.estimate(s)
            for s in PvtSample.objects.filter(election=election).select_related("group")
        )
    ]
    context = _context(request, election, view, "pvt")
    context.update(
        {
            "results": results,
            "frame": frame,
            "sizes": pvt.sample_sizes(frame),
            "per_station": frame.registered / frame.stations if frame.stations else 0,
            "form": form,
            "error": error,
            "suggested_seed": _suggested_seed(),
        }
    )
    return render(request, "integrity/pvt.html", context, status=status)


def _leading(result: pvt.PvtResult) -> tuple[str, Any] | None:
    """(candidate, estimate) of the candidate the PVT puts first."""
    if result.shares is None:
        return None
    names = {c.code: f"{c.number}. {local(c)}" for c in result.candidates}
    key, best = max(result.shares.estimates.items(), key=lambda kv: kv[1].estimate)
    return names.get(key, key), best


def _suggested_seed() -> str:
    import secrets

    return " ".join(f"{secrets.randbelow(100):02d}" for _ in range(10))


def pvt_sample(request: HttpRequest, slug: str, sample_id: int) -> HttpResponse:
    """One sample: estimate and verdict, its stations, and the count-entry form."""
    election = _election(slug)
    try:
        view = _view(request, election)
    except AccessDenied as exc:
        return denied(request, election, exc)
    sample = get_object_or_404(
        PvtSample.objects.select_related("group"), election=election, pk=sample_id
    )
    candidates = pvt.candidates_of(election)
    keys = ["station", "registered", "participants", "valid", "reason"]
    form: dict[str, str] = dict.fromkeys(keys, "")
    form["station"] = request.GET.get("station", "").strip()
    votes_form = {c.code: "" for c in candidates}
    error: IntakeError | None = None
    status = 200
    if request.method == "POST":
        form = {k: request.POST.get(k, "").strip() for k in keys}
        votes_form = {c.code: request.POST.get(c.code, "").strip() for c in candidates}
        try:
            outcome = actions.enter_count(
                sample,
                actor=request.user,
                station=form["station"],
                registered=form["registered"],
                participants=form["participants"],
                valid=form["valid"],
                votes=votes_form,
                reason=form["reason"],
            )
        except AccessDenied as exc:
            return denied(request, election, exc)
        except IntakeError as exc:
            error, status = exc, exc.status
        else:
            c = outcome.count
            messages.success(
                request,
                gettext("Counts of station %(station)s saved (version %(version)s).")
                % {"station": c.station.code, "version": c.version}
                if outcome.created
                else gettext("Station %(station)s already had exactly these counts.")
                % {"station": c.station.code},
            )
            return redirect("integrity:pvt_sample", slug=election.slug, sample_id=sample.pk)
    result = pvt.estimate(sample)
    stations = sorted(
        sample.stations.select_related("station"),
        key=lambda s: (natural_key(s.stratum), s.ticket or 0.0, natural_key(s.station.code)),
    )
    history = (
        PvtCount.objects.filter(sample=sample, is_current=False)
        .select_related("station")
        .order_by("-entered_at")[:50]
    )
    context = _context(request, election, view, "pvt")
    context.update(
        {
            "sample": sample,
            "result": result,
            "notes": [translated(note) for note in result.notes],
            "verdict_text": translated_list(result.verdict.text) if result.verdict else "",
            "candidates": candidates,
            "estimates": _estimate_rows(result),
            "stations": stations,
            "history": history,
            "form": form,
            "votes_form": [(c, votes_form.get(c.code, "")) for c in candidates],
            "error": error,
        }
    )
    return render(request, "integrity/pvt_sample.html", context, status=status)


def _estimate_rows(result: pvt.PvtResult) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    names = {c.code: f"{c.number}. {local(c)}" for c in result.candidates}
    names[pvt.TURNOUT] = "Turnout"
    off = result.official.shares if result.official is not None else {}
    z = result.verdict.z if result.verdict is not None else {}
    for est in (result.shares, result.turnout):
        if est is None:
            continue
        for key, e in est.estimates.items():
            rows.append(
                {
                    "key": key,
                    "name": names.get(key, key),
                    "e": e,
                    "official": off.get(key),
                    "z": z.get(key),
                    "outside": key in z and abs(z[key]) > Z99,
                }
            )
    return rows


# -- exit polls -----------------------------------------------------------------------------

POLL_FIELDS = ("organisation", "stations", "respondents", "rho", "design_effect", "note")


def exit_polls(request: HttpRequest, slug: str) -> HttpResponse:
    """Registered exit polls compared with the official result, and the registration form."""
    election = _election(slug)
    try:
        view = _view(request, election)
    except AccessDenied as exc:
        return denied(request, election, exc)
    candidates = pvt.candidates_of(election)
    form = dict.fromkeys(POLL_FIELDS, "")
    shares_form = {c.code: "" for c in candidates}
    error: IntakeError | None = None
    status = 200
    if request.method == "POST":
        form = {k: request.POST.get(k, "").strip() for k in POLL_FIELDS}
        shares_form = {c.code: request.POST.get(c.code, "").strip() for c in candidates}
        try:
            actions.register_exit_poll(
                election,
                actor=request.user,
                organisation=form["organisation"],
                stations=form["stations"],
                respondents=form["respondents"],
                rho=form["rho"],
                design_effect=form["design_effect"],
                estimates={k: v for k, v in shares_form.items() if v},
                note=form["note"],
                percent=True,
            )
        except AccessDenied as exc:
            return denied(request, election, exc)
        except IntakeError as exc:
            error, status = exc, exc.status
        else:
            messages.success(
                request,
                gettext("Exit poll of %(organisation)s registered.")
                % {"organisation": form["organisation"]},
            )
            return redirect("integrity:exit_polls", slug=election.slug)
    official = pvt.official_of(election, candidates)
    polls = [
        (p, pvt.compare_exit_poll(p, candidates, official))
        for p in ExitPoll.objects.filter(election=election)
    ]
    context = _context(request, election, view, "exit_polls")
    context.update(
        {
            "polls": polls,
            "official": official,
            "candidates": candidates,
            "form": form,
            "shares_form": [(c, shares_form.get(c.code, "")) for c in candidates],
            "error": error,
            "exit_caveat": gettext(EXIT_POLL_CAVEAT),
        }
    )
    return render(request, "integrity/exit_polls.html", context, status=status)
