"""Template filters of the public portal: numbers and percentages in the visitor's locale.

Django formats numbers per active language (``en`` 1,234.5; ``az`` and ``ru`` 1 234,5 with a
non-breaking space); these filters always group thousands and print a dash for "no figure".
"""

from __future__ import annotations

import html
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import template
from django.conf import settings
from django.template.base import render_value_in_context
from django.template.defaultfilters import urlencode
from django.templatetags.l10n import unlocalize
from django.templatetags.tz import do_timezone
from django.urls import get_script_prefix, reverse
from django.utils import numberformat
from django.utils.formats import get_format, number_format
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, get_language_info, gettext

register = template.Library()

DASH = "—"


@register.filter
def num(value: Any) -> str:
    """An integer with the locale's thousands separator (``6,537`` / ``6 537``)."""
    if value is None or value == "":
        return DASH
    return number_format(value, use_l10n=True, force_grouping=True)


@register.filter
def dec(value: Any, places: int = 2) -> str:
    """A decimal with ``places`` decimals in the locale's notation (``92.12`` / ``92,12``)."""
    if value is None or value == "":
        return DASH
    return number_format(Decimal(value), int(places), use_l10n=True, force_grouping=True)


@register.filter
def pct(value: Any, places: int = 2) -> str:
    """A percentage (``92.12 %`` / ``92,12 %``), or a dash when there is no base yet."""
    if value is None or value == "":
        return DASH
    return f"{dec(value, places)}\u00a0%"


@register.filter
def hexgroups(value: str) -> str:
    """A SHA-256 as 16 groups of four hex digits, for comparing by eye."""
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


@register.filter
def line_label(label: str) -> str:
    """A protocol line label, translated when the catalogue knows it (secki.portal.labels)."""
    return gettext(label) if label else label


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """``mapping[key]`` or None (for dicts keyed by line code in templates)."""
    try:
        return mapping[key]
    except (KeyError, IndexError, TypeError):
        return None


@register.filter
def turnout_of(voters: Any, registered: Any) -> str:
    """``voters`` as a percentage of ``registered`` (a station's turnout at a report time)."""
    from secki.results.tabulate import percent

    try:
        return pct(percent(int(voters), int(registered)))
    except (TypeError, ValueError):
        return DASH


#: where the officials' pages live (they keep the layout but not the public search box)
OFFICIAL_PREFIXES = ("/staff/", "/integrity/", "/admin/")


@register.filter
def public_path(path: str) -> bool:
    """Whether ``path`` is a public page's (the layout's "Find my station" box goes there)."""
    return not str(path).startswith(OFFICIAL_PREFIXES)


# -- a station page's tables -----------------------------------------------------------------
# Their rows are written here rather than by template tags: a station page is rendered
# whenever a write removes its file (issue 15), and a row of a few tags costs more in
# Django's template engine than the whole row here. Each writes exactly what the template
# wrote (the same escaping, localisation and translations).


def _shown(value: Any, context: template.Context) -> str:
    """``{{ value }}`` as a template prints it (localised, escaped)."""
    return str(render_value_in_context(value, context))


def _number(value: Any, context: template.Context) -> str:
    """``{{ value }}`` of a whole number as a template prints it: its digits, unless the
    settings group thousands in every number (:func:`_shown` otherwise)."""
    if type(value) is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)
    return _shown(value, context)


def _text(value: str) -> str:
    """``{{ value }}`` of a text as a template prints it (escaped unless marked safe)."""
    return html.escape(value) if type(value) is str else str(conditional_escape(value))


def _counts() -> Callable[[Any], str]:
    """:func:`num` with the active language's separators looked up once."""
    language = get_language()
    decimal = get_format("DECIMAL_SEPARATOR", language, use_l10n=True)
    grouping = get_format("NUMBER_GROUPING", language, use_l10n=True)
    thousands = get_format("THOUSAND_SEPARATOR", language, use_l10n=True)

    def count(value: Any) -> str:
        if value is None or value == "":
            return DASH
        if type(value) is int and value >= 0 and grouping == 3:  # numberformat's result
            return f"{value:,}".replace(",", thousands)
        return numberformat.format(
            value, decimal, None, grouping, thousands, force_grouping=True, use_l10n=True
        )

    return count


def _percents() -> Callable[[Any], str]:
    """:func:`pct` with the active language's separators looked up once."""
    language = get_language()
    decimal = get_format("DECIMAL_SEPARATOR", language, use_l10n=True)
    grouping = get_format("NUMBER_GROUPING", language, use_l10n=True)
    thousands = get_format("THOUSAND_SEPARATOR", language, use_l10n=True)

    def share(value: Any) -> str:
        if value is None or value == "":
            return DASH
        figure = numberformat.format(
            Decimal(value), decimal, 2, grouping, thousands, force_grouping=True, use_l10n=True
        )
        return f"{figure}\u00a0%"

    return share


#: (language, line label) → :func:`line_label`'s text (bounded: labels are a schema's lines
#: and an election's candidates)
_labels: dict[tuple[str, str], str] = {}
LABELS_KEPT = 10_000


def _label(language: str, label: str) -> str:
    found = _labels.get((language, label))
    if found is None:
        if len(_labels) >= LABELS_KEPT:
            _labels.clear()
        found = _labels[(language, label)] = line_label(label)
    return found


@register.simple_tag(takes_context=True)
def line_rows(context: template.Context, lines: Any, result: Any, tz: Any) -> SafeString:
    """The rows of a station's protocol lines: (code, label, value, kind, share) each."""
    out = []
    span = "2" if result else "1"
    count = _counts()
    language = get_language() or ""
    for code, label, value, kind, share in lines:
        c = _text(code)
        meaning = _text(_label(language, label))
        if kind == "datetime":
            when = _shown(do_timezone(value, tz), context) if value else DASH
            out.append(
                f'<tr data-line="{c}"><th scope="row">{c}</th><td class="text">{meaning}</td>'
                f'<td colspan="{span}">{when}</td></tr>\n'
            )
            continue
        raw = "" if value is None else _text(unlocalize(value))
        tail = f"<td>{_text(share)}</td>" if result else ""
        out.append(
            f'<tr data-line="{c}" data-value="{raw}"><th scope="row">{c}</th>'
            f'<td class="text">{meaning}</td><td>{_text(count(value))}</td>{tail}</tr>\n'
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


@register.simple_tag
def check_rows(checks: Any) -> SafeString:
    """The rows of a station's checks (dicts of code, expression, message, severity, passed)."""
    if not checks:
        return mark_safe("")
    language = get_language() or ""
    words = {w: _text(gettext(w)) for w in ("hard", "soft", "not applicable", "passed", "failed")}
    verdicts = {
        None: f'<span class="muted">{words["not applicable"]}</span>',
        True: f'<span class="pass">{words["passed"]}</span>',
        False: f'<span class="fail">{words["failed"]}</span>',
    }
    out = []
    for check in checks:
        severity = words["hard"] if check["severity"] == "hard" else words["soft"]
        passed = check["passed"]
        verdict = verdicts[None if passed is None else bool(passed)]
        out.append(
            f'<tr><th scope="row">{_text(str(check["code"]))}</th><td class="text"><code>'
            f"{_text(check['expression'])}</code><small>"
            f"{_text(_label(language, check['message']))}</small></td>"
            f"<td>{severity}</td><td>{verdict}</td></tr>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


@register.simple_tag(takes_context=True)
def turnout_rows(context: template.Context, reports: Any, registered: Any) -> SafeString:
    """The rows of a station's current turnout reports."""
    from secki.results.tabulate import percent

    out = []
    count, share = _counts(), _percents()
    late = f" · {_text(gettext('late'))}"
    for r in reports:
        try:  # as turnout_of
            turnout = share(percent(int(r.voters), int(registered)))
        except (TypeError, ValueError):
            turnout = DASH
        time = _text(r.time)
        reason = f"<small>{_text(r.reason)}</small>" if r.reason else ""
        out.append(
            f'<tr data-time="{time}" data-voters="{_text(unlocalize(r.voters))}">'
            f'<th scope="row">{time}</th><td>{_text(count(r.voters))}</td>'
            f"<td>{_text(turnout)}</td>"
            f"<td>{_number(r.version, context)}{late if r.late else ''}{reason}</td></tr>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


# -- fragments made once ---------------------------------------------------------------------

#: (name, language, script prefix, the fragment's arguments…) → its text
_fragments: dict[tuple[Any, ...], str] = {}
FRAGMENTS_KEPT = 4096


class FragmentNode(template.Node):
    def __init__(self, name: str, args: list[Any], nodelist: template.NodeList) -> None:
        self.name = name
        self.args = args
        self.nodelist = nodelist

    def render(self, context: template.Context) -> str:
        key = (
            self.name,
            get_language(),
            get_script_prefix(),
            *(arg.resolve(context) for arg in self.args),
        )
        found = _fragments.get(key)
        if found is None:
            found = self.nodelist.render(context)
            if len(_fragments) >= FRAGMENTS_KEPT:
                _fragments.clear()
            _fragments[key] = found
        return found


@register.tag
def fragment(parser: Any, token: Any) -> FragmentNode:
    """``{% fragment "name" arg … %}…{% endfragment %}``: the enclosed text rendered once per
    process, language and arguments, then repeated (translations and links of the layout that
    every page renders alike). Whatever the text depends on besides the language must be among
    the arguments; no figure belongs in one."""
    bits = token.split_contents()
    if len(bits) < 2:
        raise template.TemplateSyntaxError("fragment needs a name")
    nodelist = parser.parse(("endfragment",))
    parser.delete_first_token()
    name = bits[1].strip("\"'")
    return FragmentNode(name, [parser.compile_filter(bit) for bit in bits[2:]], nodelist)


#: (language code, script prefix) → the link that switches to it
_language_urls: dict[tuple[str, str], str] = {}


@register.simple_tag(takes_context=True)
def language_links(context: template.Context) -> SafeString:
    """The layout's links to every language (``next``: this page), as a loop over
    ``get_language_info_list`` wrote them, with the links reversed once per process."""
    request = context.get("request")
    following = _text(urlencode(request.get_full_path())) if request is not None else ""
    current = get_language()
    prefix = get_script_prefix()
    out = []
    for code, _name in settings.LANGUAGES:
        url = _language_urls.get((code, prefix))
        if url is None:
            url = _language_urls[(code, prefix)] = reverse("portal:language", args=[code])
        info = get_language_info(code)
        mark = ' aria-current="true"' if info["code"] == current else ""
        c = _text(info["code"])
        out.append(
            f'<a href="{_text(url)}?next={following}" lang="{c}" hreflang="{c}"{mark}>'
            f"{_text(info['name_local'])}</a>"
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped
