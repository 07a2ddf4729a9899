"""A station page written in Python (issue 15).

Every accepted protocol makes its station's public page stale, and the page is rendered again
at the rate of the writes; Django's template engine cost more than everything else the page
does (a few hundred nodes, their lookups and localisation per render). :func:`page` writes
the whole page, :func:`part` its live part (``?part=live``), exactly as the templates
``portal/station.html`` and ``portal/parts/station_live.html`` wrote them (kept in
``tests/portal/station_reference``, with which tests/portal/test_station_page_python.py
compares them byte for byte): the same text, escaping (:func:`django.utils.html.escape` of
every value; translations of fixed texts as ``{% translate %}`` gives them), numbers, dates
and links. The layout stays ``portal/base.html``, rendered by the template engine once per
language, election and script prefix around markers (:func:`_layout`) and filled in. The
fixed texts are translated once per language and process, the links reversed once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import template
from django.http import HttpRequest
from django.template import engines
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import filesizeformat, urlencode
from django.templatetags.l10n import unlocalize
from django.templatetags.static import static
from django.templatetags.tz import do_timezone
from django.urls import get_script_prefix, reverse
from django.utils.html import json_script
from django.utils.translation import get_language, gettext, gettext_noop, ngettext

from secki.elections.names import local
from secki.portal.templatetags.portal import (
    DASH,
    _counts,
    _label,
    _number,
    _shown,
    _text,
    check_rows,
    hexgroups,
    line_rows,
    pct,
    public_path,
    turnout_rows,
)

#: the fixed texts of the page, by the name used below (translated once per language; marked
#: for makemessages, which finds them in the catalogues as the templates left them)
TEXTS = {
    "unit": gettext_noop("Unit"),
    "registered": gettext_noop("Registered voters"),
    "address": gettext_noop("Address"),
    "webcam": gettext_noop("Webcam"),
    "filmed": gettext_noop("yes: this station is filmed"),
    "no": gettext_noop("no"),
    "copies": gettext_noop("Observers' protocol copies"),
    "corroborated": gettext_noop("two organisations contradict"),
    "differs": gettext_noop("contradicted"),
    "agrees": gettext_noop("agrees"),
    "awaiting": gettext_noop("awaiting the official protocol"),
    "abroad": gettext_noop("Station abroad."),
    "temporary": gettext_noop("Temporary station."),
    "ocd": gettext_noop("Open Civic Data id:"),
    "checked": gettext_noop("Checked in your browser"),
    "check_intro": gettext_noop(
        "Your browser can check this page against the public log, signed by the election "
        "authority and cosigned by independent witnesses; the check needs JavaScript."
    ),
    "trust": gettext_noop("Trust the site's new keys"),
    "again": gettext_noop("Check again"),
    "proves": gettext_noop("What this check proves"),
    "verify_all": gettext_noop("Verify the whole election"),
    "updated": gettext_noop("Updated at"),
    "crumbs": gettext_noop("You are here"),
    "processing": gettext_noop(
        "A protocol has been received and is being processed; it is shown once published."
    ),
    "none": gettext_noop("No protocol has been received from this station yet."),
    "newer": gettext_noop("A newer version is being processed."),
    "turnout": gettext_noop("Turnout"),
    "leader": gettext_noop("Leader"),
    "lines": gettext_noop("Protocol lines"),
    "line": gettext_noop("Line"),
    "meaning": gettext_noop("Meaning"),
    "value": gettext_noop("Value"),
    "checks": gettext_noop("Checks"),
    "check": gettext_noop("Check"),
    "rule": gettext_noop("Rule"),
    "severity": gettext_noop("Severity"),
    "result": gettext_noop("Result"),
    "evaluated": gettext_noop(
        "Evaluated on the published values (the protocol came in a bulk file, which records no "
        "check results)."
    ),
    "no_checks": gettext_noop("No check results were recorded."),
    "scans": gettext_noop("Scans of the paper protocol"),
    "scans_intro": gettext_noop(
        "Each file's SHA-256 was computed when it arrived and published in the public ledger: "
        "compare it with the hash of your download (sha256sum)."
    ),
    "file": gettext_noop("File"),
    "version": gettext_noop("Version"),
    "size": gettext_noop("Size"),
    "uploaded": gettext_noop("Uploaded"),
    "no_scans": gettext_noop("No scan of the paper protocol has been published for this station."),
    "history": gettext_noop("Version history"),
    "superseded": gettext_noop("superseded"),
    "received": gettext_noop("received"),
    "reason": gettext_noop("Reason:"),
    "decision": gettext_noop("Decision:"),
    "reports": gettext_noop("Turnout reports"),
    "report_time": gettext_noop("Report time"),
    "voters": gettext_noop("Voters"),
    "no_reports": gettext_noop("No turnout report yet."),
    "corrected": gettext_noop("Corrected turnout reports:"),
    "figures_as_of": gettext_noop("Figures as of %(time)s."),
    "annulled": gettext_noop(
        "The results of this station were annulled by decision %(ref)s. Its numbers stay on "
        "record below but are not counted."
    ),
    "counted": gettext_noop("Protocol counted (version %(v)s)."),
    "n_voters": gettext_noop("%(n)s voters"),
    "base": gettext_noop("Base: %(base)s"),
    "leaf_annulled": gettext_noop(
        "SHA-256 of the public log's entry that annulled this protocol (the leaf hash of entry "
        "%(n)s):"
    ),
    "leaf": gettext_noop(
        "SHA-256 of these values as the public log records them (the leaf hash of entry %(n)s):"
    ),
    "scan_n": gettext_noop("Scan %(n)s"),
    "scan_kind": gettext_noop("(%(kind)s file)"),
    "version_n": gettext_noop("Version %(n)s"),
    "changed_from": gettext_noop("What version %(n)s changed from version %(p)s"),
    "was": gettext_noop("Was (version %(p)s)"),
    "now": gettext_noop("Now (version %(n)s)"),
    "version_lower": gettext_noop("version %(n)s"),
}

#: language → :data:`TEXTS` translated
_texts: dict[str, dict[str, str]] = {}

#: (script prefix, language, what, its arguments …) → a link or a piece made of fixed texts
_made: dict[tuple[Any, ...], str] = {}
MADE_KEPT = 4096


def texts() -> dict[str, str]:
    """:data:`TEXTS` in the active language."""
    language = get_language() or ""
    found = _texts.get(language)
    if found is None:
        found = _texts[language] = {key: gettext(text) for key, text in TEXTS.items()}
    return found


def _once(key: tuple[Any, ...], make: Callable[[], str]) -> str:
    full = (get_script_prefix(), get_language(), *key)
    found = _made.get(full)
    if found is None:
        if len(_made) >= MADE_KEPT:
            _made.clear()
        found = _made[full] = make()
    return found


def _url(name: str, *args: Any) -> str:
    """``{% url name args %}``: the link, escaped."""
    return _once(("url", name, *args), lambda: _text(reverse(name, args=list(args))))


def _static(path: str) -> str:
    """``{% static path %}``: the file's address, escaped."""
    return _once(("static", path), lambda: _text(static(path)))


#: where the layout's blocks and the page's own address go in the layout rendered once
MARKS = ("\x00secki-title\x00", "\x00secki-content\x00", "\x00secki-scripts\x00")
PATH_MARK = "secki0page0path0mark"
SKELETON = (
    '{% extends "portal/base.html" %}'
    f"{{% block title %}}{MARKS[0]}{{% endblock %}}"
    f"{{% block content %}}{MARKS[1]}{{% endblock %}}"
    f"{{% block scripts %}}{MARKS[2]}{{% endblock %}}"
)

#: (language, script prefix, election, simulated, public path) → the layout's four pieces
_layouts: dict[tuple[Any, ...], list[str]] = {}
LAYOUTS_KEPT = 256


class _Asked:
    """The request as the layout sees it: its path, and a marker for the full path (the
    language links' ``next``), which :func:`page` replaces by the page's own."""

    def __init__(self, path: str) -> None:
        self.path = path

    def get_full_path(self) -> str:
        return PATH_MARK


def _layout(request: HttpRequest, election: Any) -> list[str]:
    """``portal/base.html`` around the station page's blocks, in four pieces."""
    public = public_path(request.path)
    key = (get_language(), get_script_prefix(), election.slug, bool(election.simulated), public)
    found = _layouts.get(key)
    if found is None:
        shown = engines["django"].from_string(SKELETON)
        text = shown.render(
            {
                "election": election,
                "section": "results",
                "request": _Asked(request.path if public else "/staff/"),
            }
        )
        found = []
        for mark in MARKS:
            before, text = text.split(mark)
            found.append(before)
        found.append(text)
        if len(_layouts) >= LAYOUTS_KEPT:
            _layouts.clear()
        _layouts[key] = found
    return found


def page(request: HttpRequest, values: dict[str, Any]) -> str:
    """The whole page of the view's ``values``, as ``portal/station.html`` wrote it."""
    context = template.Context(values)
    head, middle, end, tail = _layout(request, values["election"])
    path = _text(urlencode(request.get_full_path()))
    return "".join(
        (
            head.replace(PATH_MARK, path),
            title(context),
            middle.replace(PATH_MARK, path),
            content(context),
            end.replace(PATH_MARK, path),
            scripts(context),
            tail.replace(PATH_MARK, path),
        )
    )


def part(values: dict[str, Any]) -> str:
    """The live part of the view's ``values``, as ``portal/parts/station_live.html`` wrote it."""
    return live(template.Context(values))


def title(context: template.Context) -> str:
    station, election = context["station"], context["election"]
    return f"{_text(local(station))} ({_text(station.code)}) — {_text(local(election))} — Secki"


def scripts(context: template.Context) -> str:
    log = bool(context.get("log"))

    def make() -> str:
        out = f'<script src="{_static("portal/live.js")}" defer></script>'
        if log:
            out += (
                f'\n<script src="{_static("portal/tlog.js")}" defer></script>'
                f'\n<script src="{_static("portal/verify.js")}" defer></script>'
            )
        return out

    return _once(("scripts", log), make)


def _crumbs(context: template.Context, t: dict[str, str]) -> str:
    slug = context["election"].slug
    items = []
    for u in context["crumbs"]:
        href = _url("portal:unit", slug, u.code) if u.parent_id else _url("portal:election", slug)
        items.append(f'<li><a href="{href}">{_text(local(u))}</a></li>')
    station = context.get("station")
    here = local(station) if station else local(context.get("unit"))
    return (
        f'<nav class="crumbs" aria-label="{t["crumbs"]}"><ol>\n{"".join(items)}\n'
        f'<li aria-current="page">{_text(here)}</li></ol></nav>\n'
    )


def _log_check(slug: str, t: dict[str, str]) -> str:
    return (
        f'<h2 id="log-check-heading">{t["checked"]}</h2>\n'
        f'<p class="log-verdict" role="status" aria-live="polite">{t["check_intro"]}</p>\n'
        '<ul class="log-details"></ul>\n'
        f'<p class="log-links"><button type="button" class="log-trust" hidden>{t["trust"]}'
        f'</button> <button type="button" class="log-again" hidden>{t["again"]}</button> '
        f'<a href="{_url("portal:verify_guide")}">{t["proves"]}</a> · '
        f'<a href="{_url("portal:verify", slug)}">{t["verify_all"]}</a></p>'
    )


def content(context: template.Context) -> str:
    """The page's ``content`` block (of ``portal/base.html``)."""
    t = texts()
    station, election, unit = context["station"], context["election"], context["unit"]
    slug = election.slug
    code = _text(station.code)
    count = _counts()
    out = ["\n", _crumbs(context, t)]
    number = f"{_number(unit.number, context)}. " if unit.number is not None else ""
    out.append(
        f'\n<h1>{_text(local(station))} <small class="muted">{code}</small></h1>\n'
        '<dl class="figures">\n'
        f'  <div><dt>{t["unit"]}</dt><dd><a href="{_url("portal:unit", slug, unit.code)}">'
        f"{number}{_text(local(unit))}</a></dd></div>\n"
        f"  <div><dt>{t['registered']}</dt><dd>{_text(count(station.registered))}</dd></div>\n"
        "  "
    )
    if station.address:
        out.append(f"<div><dt>{t['address']}</dt><dd>{_text(station.address)}</dd></div>")
    if station.webcam:
        webcam = t["filmed"]
        link = station.webcam_link
        if link:
            webcam += f' · <a href="{_text(link)}" rel="noopener" target="_blank">{t["webcam"]}</a>'
    else:
        webcam = t["no"]
    out.append(f'\n  <div><dt>{t["webcam"]}</dt><dd id="webcam">{webcam}</dd></div>\n  ')
    copies = context.get("copies")
    if copies:
        mark = copies.mark
        said = t[mark] if mark in ("corroborated", "differs", "agrees") else t["awaiting"]
        diffs = "".join(
            f' · <span data-line="{_text(d.code)}">{_text(d.code)}: {_text(count(d.official))}'
            f" − {_text(count(d.copy))} = {_number(d.delta, context)}</span>"
            for d in copies.diffs
        )
        out.append(
            f'<div><dt>{t["copies"]}</dt><dd id="observer-copies" '
            f'data-mark="{_shown(mark, context)}">'
            f'<a href="{_url("portal:observer_copies", slug)}">{said}</a>{diffs}</dd></div>'
        )
    out.append('\n</dl>\n<p class="muted">')
    if station.abroad:
        out.append(f"{t['abroad']} ")
    if station.temporary:
        out.append(f"{t['temporary']} ")
    if station.ocd_id:
        out.append(f"{t['ocd']} <code>{_text(station.ocd_id)}</code>")
    out.append("</p>\n")
    if context.get("log"):
        messages = context.get("log_messages")
        out.append(
            '<section id="log-check" class="log-check" aria-labelledby="log-check-heading" '
            f'data-state="off" data-site="{_shown(context.get("log_site"), context)}" '
            f'data-election="{_text(slug)}" data-station="{code}" '
            f'data-hint="{_text(urlencode(str(context.get("log_hint"))))}" '
            f'data-fallback="{_static("vendor/noble/noble.js")}">\n'
            f"{_once(('log-check', slug), lambda: _log_check(slug, t))}\n</section>\n"
            f"{_once(('log-messages',), lambda: json_script(messages, 'log-messages'))}"
        )
    out.append(
        f'\n<p id="live-status" class="live-status" aria-live="polite" '
        f'data-updated="{t["updated"]}"></p>\n'
        f'<div id="live" data-live-url="{_shown(context.get("live_url"), context)}" '
        f'data-etag="{_shown(context.get("live_etag"), context)}">\n'
    )
    out.append(live(context))
    out.append("\n</div>\n")
    return "".join(out)


def _as_of(context: template.Context, t: dict[str, str]) -> str:
    as_of, tz = context.get("as_of"), context["election"].timezone

    def make() -> str:
        time = _text(date_filter(do_timezone(as_of, tz), "j E Y, H:i:s"))
        return f'<p class="muted as-of" id="as-of">{t["figures_as_of"] % {"time": time}}</p>'

    return _once(("as-of", as_of, tz), make)


def live(context: template.Context) -> str:
    """The live part: the figures that move."""
    t = texts()
    detail = context["detail"]
    election, station = context["election"], context["station"]
    tz = election.timezone
    current = detail.current
    log = context.get("log")
    result = context.get("result")
    count = _counts()
    out = ["\n"]
    if context.get("as_of"):
        out.append(_as_of(context, t))
    annulled = current is not None and current.protocol.status == "annulled"
    out.append(f'\n<p id="protocol-status" class="outcome{" invalid" if annulled else ""}"')
    if log:
        state = "annulled" if annulled else "counted" if current else "none"
        out.append(f' data-log-size="{_text(unlocalize(log.size))}" data-log-state="{state}"')
    out.append(">\n")
    if annulled:
        protocol = current.protocol
        out.append(t["annulled"] % {"ref": _shown(protocol.decision_ref, context)})
        if protocol.reason:
            out.append(f" {_shown(protocol.reason, context)}")
    elif current:
        version = current.protocol.version
        out.append(t["counted"] % {"v": _number(version, context)})
        if current.diff:
            n = len(current.diff)
            amends = ngettext(
                "It amends an earlier version: %(n)s line changed.",
                "It amends an earlier version: %(n)s lines changed.",
                n,
            ) % {"n": _number(n, context)}
            out.append(f' <a href="#changes-v{_text(unlocalize(version))}">{amends}</a>')
    elif detail.hidden_current:
        out.append(t["processing"])
    elif context.get("withheld"):
        out.append(_shown(context.get("withheld"), context))
    else:
        out.append(t["none"])
    if annulled or current or detail.hidden_current or context.get("withheld"):
        out.append("\n")  # each branch but the last ended with its line
    out.append("\n")
    if detail.hidden_current and current:
        out.append(f" {t['newer']}")
    out.append("\n</p>\n")
    if result:
        voters = t["n_voters"] % {"n": _text(count(result.participants))}
        base = t["base"] % {"base": _shown(context.get("base_label"), context)}
        out.append(
            '\n<dl class="figures">\n'
            f"  <div><dt>{t['turnout']}</dt><dd>{_text(pct(result.turnout))}"
            f"<small>{voters}</small></dd></div>\n"
            f"  <div><dt>{base}</dt><dd>{_text(count(result.base))}</dd></div>\n  "
        )
        leader = result.leader
        if leader:
            out.append(
                f"<div><dt>{t['leader']}</dt><dd>{_text(local(leader.candidate))}"
                f"<small>{_text(pct(leader.share))}</small></dd></div>"
            )
        out.append("\n</dl>\n")
    out.append("\n")
    if current:
        out.append(_protocol(context, t, detail, result, log))
    out.append("\n")
    out.append(_scans(context, t, detail, election, station))
    out.append("\n")
    if detail.versions:
        out.append(_history(context, t, detail, tz, count))
    out.append("\n\n")
    out.append(_turnout(context, t, detail, station, count))
    return "".join(out)


PERCENT_HEAD = '<th scope="col">%</th>'


def _protocol(
    context: template.Context, t: dict[str, str], detail: Any, result: Any, log: Any
) -> str:
    head = _once(
        ("lines-head", bool(result)),
        lambda: (
            f'<thead><tr><th scope="col">{t["line"]}</th><th scope="col" class="text">'
            f'{t["meaning"]}</th><th scope="col">{t["value"]}</th>'
            f"{PERCENT_HEAD if result else ''}</tr></thead>"
        ),
    )
    out = [
        f'\n<h2 id="lines-heading">{t["lines"]}</h2>\n'
        '<div class="scroll" tabindex="0"><table id="protocol-lines" '
        f'aria-labelledby="lines-heading">\n{head}\n<tbody>\n'
        f"{line_rows(context, detail.lines, result, context['election'].timezone)}"
        "\n</tbody></table></div>\n"
    ]
    if log and log.index is not None:
        which = t["leaf_annulled"] if log.annulled else t["leaf"]
        out.append(
            f'<p id="log-entry">{which % {"n": _number(log.index, context)}}<br>'
            f'<span id="log-leaf" data-index="{_text(unlocalize(log.index))}" '
            f'data-leaf="{_shown(log.leaf_hash, context)}" class="hash">'
            f"{_text(hexgroups(log.leaf_hash))}</span></p>"
        )
    out.append(f'\n<h2 id="checks-heading">{t["checks"]}</h2>\n')
    if detail.checks:
        head = _once(
            ("checks-head",),
            lambda: (
                f'<thead><tr><th scope="col">{t["check"]}</th><th scope="col" class="text">'
                f'{t["rule"]}</th><th scope="col">{t["severity"]}</th><th scope="col">'
                f"{t['result']}</th></tr></thead>"
            ),
        )
        out.append(
            '<div class="scroll" tabindex="0"><table id="checks" aria-labelledby="checks-heading">'
            f"\n{head}\n<tbody>{check_rows(detail.checks)}</tbody></table></div>\n"
        )
        if not detail.checks_recorded:
            out.append(f'<p class="muted">{t["evaluated"]}</p>')
        out.append("\n")
    else:
        out.append(f'<p class="muted">{t["no_checks"]}</p>')
    out.append("\n")
    return "".join(out)


def _scans(
    context: template.Context, t: dict[str, str], detail: Any, election: Any, station: Any
) -> str:
    out = [f'<h2 id="scans-heading">{t["scans"]}</h2>\n']
    if not detail.scans:
        out.append(f'<p class="muted">{t["no_scans"]}</p>')
        return "".join(out)
    out.append(
        f'<p class="muted">{t["scans_intro"]}</p>\n'
        '<div class="scroll" tabindex="0"><table id="scans" aria-labelledby="scans-heading">\n'
        f'<thead><tr><th scope="col" class="text">{t["file"]}</th><th scope="col">'
        f'{t["version"]}</th><th scope="col" class="text">SHA-256</th><th scope="col">'
        f'{t["size"]}</th><th scope="col">{t["uploaded"]}</th></tr></thead>\n<tbody>'
    )
    tz = election.timezone
    for s in detail.scans:
        number = _number(s.number, context)
        href = _text(reverse("portal:scan", args=[election.slug, station.code, s.number]))
        out.append(
            f'<tr data-scan="{number}" data-version="{_text(unlocalize(s.version))}">'
            f'<th scope="row" class="text"><a href="{href}" '
            f'type="{_shown(s.content_type, context)}">'
            f"{t['scan_n'] % {'n': number}}</a> "
            f"<small>{t['scan_kind'] % {'kind': _shown(s.kind, context)}}</small></th>"
            f'<td>{_number(s.version, context)}</td><td class="text"><span class="hash" '
            f'data-sha256="{_shown(s.sha256, context)}">{_text(hexgroups(s.sha256))}</span></td>'
            f'<td data-size="{_number(s.size, context)}">{_text(filesizeformat(s.size))}</td>'
            f"<td>{_shown(do_timezone(s.uploaded_at, tz), context)}</td></tr>\n"
        )
    out.append("</tbody></table></div>\n")
    return "".join(out)


def _history(context: template.Context, t: dict[str, str], detail: Any, tz: Any, count: Any) -> str:
    protocol_labels = context.get("protocol_labels") or {}
    event_labels = context.get("event_labels") or {}
    language = get_language() or ""
    out = [
        f'\n<h2 id="history-heading">{t["history"]}</h2>\n'
        '<ol id="history" aria-labelledby="history-heading">\n'
    ]
    for v in detail.versions:
        p = v.protocol
        n = _number(p.version, context)
        status = protocol_labels.get(p.status) or p.status
        out.append(f"<li><strong>{t['version_n'] % {'n': n}}</strong> — {_shown(status, context)}")
        if not p.is_current:
            out.append(f" ({t['superseded']})")
        out.append(f" · {t['received']} {_shown(do_timezone(p.received_at, tz), context)}\n")
        if p.reason:
            out.append(f"<br>{t['reason']} {_shown(p.reason, context)}")
        out.append("\n")
        if p.decision_ref:
            out.append(f"<br>{t['decision']} {_shown(p.decision_ref, context)}")
        out.append("\n")
        if v.diff:
            ver = _text(unlocalize(p.version))
            previous = _number(v.previous, context)
            out.append(
                f'<div class="scroll" tabindex="0"><table class="changes" id="changes-v{ver}" '
                f'data-version="{ver}">\n'
                f"<caption>{t['changed_from'] % {'n': n, 'p': previous}}</caption>\n"
                f'<thead><tr><th scope="col">{t["line"]}</th><th scope="col" class="text">'
                f'{t["meaning"]}</th><th scope="col">{t["was"] % {"p": previous}}</th>'
                f'<th scope="col">{t["now"] % {"n": n}}</th></tr></thead>\n<tbody>'
            )
            for code, label, before, after in v.diff:
                c = _text(code)
                was = "" if before is None else _text(unlocalize(before))
                now = "" if after is None else _text(unlocalize(after))
                out.append(
                    f'<tr data-line="{c}" data-before="{was}" data-after="{now}">'
                    f'<th scope="row">{c}</th><td class="text">{_text(_label(language, label))}'
                    f"</td><td>{DASH if before is None else _text(count(before))}</td>"
                    f"<td>{DASH if after is None else _text(count(after))}</td></tr>"
                )
            out.append("</tbody></table></div>")
        out.append("\n")
        if v.events:
            out.append("<ul>")
            for e in v.events:
                kind = event_labels.get(e.kind) or e.kind
                reason = f": {_shown(e.reason, context)}" if e.reason else ""
                out.append(
                    f"<li>{_shown(do_timezone(e.at, tz), context)} — {_shown(kind, context)}"
                    f"{reason}</li>"
                )
            out.append("</ul>")
        out.append("\n</li>")
    out.append("\n</ol>\n")
    return "".join(out)


def _turnout(
    context: template.Context, t: dict[str, str], detail: Any, station: Any, count: Any
) -> str:
    out = [f'<h2 id="turnout-heading">{t["reports"]}</h2>\n']
    if detail.turnout:
        head = _once(
            ("turnout-head",),
            lambda: (
                f'<thead><tr><th scope="col">{t["report_time"]}</th><th scope="col">'
                f'{t["voters"]}</th><th scope="col">{t["turnout"]}</th><th scope="col">'
                f"{t['version']}</th></tr></thead>"
            ),
        )
        out.append(
            '<div class="scroll" tabindex="0"><table id="station-turnout" '
            f'aria-labelledby="turnout-heading">\n{head}\n<tbody>'
            f"{turnout_rows(context, detail.turnout, station.registered)}</tbody></table></div>\n"
        )
    else:
        out.append(f'<p class="muted">{t["no_reports"]}</p>')
    out.append("\n")
    if detail.corrections:
        out.append(f"<p>{t['corrected']}</p><ul>")
        for r in detail.corrections:
            version = t["version_lower"] % {"n": _number(r.version, context)}
            reason = f" — {_shown(r.reason, context)}" if r.reason else ""
            out.append(
                f"<li>{_shown(r.time, context)}: {_text(count(r.voters))} ({version}){reason}</li>"
            )
        out.append("</ul>")
    out.append("\n")
    return "".join(out)
