"""No template shows text outside translation markup.

Every template under ``src/secki`` is read with Django's template lexer: the text between the
template tags is parsed as HTML, and any text node or user-visible attribute (``title``,
``alt``, ``aria-label``, ``placeholder``, a submit input's ``value`` …) holding a letter outside
``{% translate %}`` / ``{% blocktranslate %}`` is reported with its template and line.
Variables, tag names, other attributes, scripts and styles are not user-visible text, nor is
what ``<code>``, ``<kbd>``, ``<samp>`` and ``<pre>`` show (commands, file and column names).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

SRC = Path(__file__).resolve().parents[1] / "src" / "secki"
HOLE = "\x00"  # where a variable or a translated text stands
# tags that put text or a value where they stand
FILLING_TAGS = {"translate", "trans", "url", "static", "csrf_token", "now", "cycle", "firstof"}
LETTER = re.compile(r"[^\W\d_]")
VISIBLE_ATTRIBUTES = {"title", "alt", "aria-label", "placeholder", "label", "aria-description"}
BUTTON_INPUTS = {"submit", "button", "reset"}
HIDDEN = {"script", "style", "code", "kbd", "samp", "pre"}
# Words the same in every language: the product's name, formats, unit symbols, and codes or file
# names (a digit and no lower-case letter: L12, SHA-256, OBS-000001; name.csv).
UNTRANSLATED = {"Secki", "PNG", "SVG", "CSV", "JSON", "PDF", "API", "OpenAPI", "TOTP", "p", "s"}
# and the symbols of statistics: α, θ, ρ, z, SE, deff, C05s, P05s
UNTRANSLATED |= {"α", "θ", "ρ", "z", "SE", "deff", "C05s", "P05s"}
UNTRANSLATED_PATTERN = re.compile(
    r"[A-Z0-9-]*[0-9][A-Z0-9-]*|[A-Z0-9]+SUMS|[\w-]+\.(csv|json|txt|zip|pdf|png|sig)"
)


def _untranslated(word: str) -> bool:
    return word in UNTRANSLATED or UNTRANSLATED_PATTERN.fullmatch(word) is not None


def _template_source(source: str) -> list[tuple[str, int]]:
    """The template as HTML with holes for what a template tag fills in: (text, line) pieces."""
    pieces: list[tuple[str, int]] = []
    skip_until: str | None = None
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.COMMENT:
            continue
        if token.token_type == TokenType.BLOCK:
            bits = token.contents.split()
            name = bits[0] if bits else ""
            if skip_until is not None:
                if name == skip_until:
                    if skip_until != "endcomment":  # a translated text stands here
                        pieces.append((HOLE, token.lineno or 0))
                    skip_until = None
                continue
            if name in ("blocktranslate", "blocktrans"):
                skip_until = "end" + name
            elif name == "comment":
                skip_until = "endcomment"
            elif name in FILLING_TAGS and "as" not in bits:  # "as" stores, shows nothing
                pieces.append((HOLE, token.lineno or 0))
            continue
        if skip_until is not None:
            continue
        if token.token_type == TokenType.VAR:
            pieces.append((HOLE, token.lineno or 0))
        else:
            pieces.append((token.contents, token.lineno or 0))
    return pieces


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.hidden = 0  # inside <script> or <style>
        self.line_of = lambda line: line

    def _text(self, text: str, lead: int = 0) -> None:
        words = [w for w in re.split(r"[\s" + HOLE + r"]+", text) if w]
        shown = [
            w for w in words if LETTER.search(w) and not _untranslated(w.strip(".,:;()[]·—–!?/"))
        ]
        if shown:
            line = self.line_of(self.getpos()[0] + lead)
            self.found.append((line, " ".join(text.replace(HOLE, " … ").split())))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN:
            self.hidden += 1
        values = dict(attrs)
        for name, value in attrs:
            if value is None:
                continue
            # an <input type=submit>'s value is its label; a <button>'s value is never shown
            if name in VISIBLE_ATTRIBUTES or (
                name == "value" and tag == "input" and (values.get("type") or "") in BUTTON_INPUTS
            ):
                self._text(value)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in HIDDEN:
            self.hidden -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self._text(data, data[: len(data) - len(data.lstrip())].count("\n"))


def untranslated_text(source: str) -> list[tuple[int, str]]:
    """(line, text) of every user-visible text of a template outside translation markup."""
    pieces = _template_source(source)
    html = "".join(text for text, _ in pieces)
    lines: list[int] = []  # template line of each line of ``html``
    for text, line in pieces:
        if not lines:
            lines.append(line)
        for offset in range(text.count("\n")):
            lines.append(line + offset + 1)
    parser = _Visible()
    parser.line_of = lambda n: lines[n - 1] if 0 < n <= len(lines) else n
    parser.feed(html)
    parser.close()
    return parser.found


def templates() -> list[Path]:
    return sorted(SRC.glob("*/templates/**/*.html"))


def test_every_template_is_checked() -> None:
    names = {p.relative_to(SRC).as_posix() for p in templates()}
    assert "staff/templates/staff/enter.html" in names
    assert "portal/templates/portal/base.html" in names


@pytest.mark.parametrize("path", templates(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_no_text_outside_translation_markup(path: Path) -> None:
    assert untranslated_text(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_text_and_visible_attributes() -> None:
    bad = (
        '{% load i18n %}<h1>{% translate "Results" %}</h1>\n'
        "<p>Stations counted: {{ n }}</p>\n"
        '<img src="{% static "a.png" %}" alt="A map of the stations">\n'
        '<input type="submit" value="Send">\n'
        '<a href="/x/" title="{{ t }} more" class="big">{{ label }}</a>'
    )
    assert untranslated_text(bad) == [
        (2, "Stations counted: …"),
        (3, "A map of the stations"),
        (4, "Send"),
        (5, "… more"),
    ]


def test_the_check_lets_markup_numbers_and_translated_text_pass() -> None:
    good = (
        '{% load i18n %}<h1 class="title" id="x-{{ s }}">{% translate "Results" %}</h1>\n'
        "<p>{{ n }} / {{ m }} · 95 % — {{ x|date:'j M' }}</p>\n"
        '<p title="{% translate "Counted" %}">{% blocktranslate with n=n %}{{ n }} stations'
        " counted{% endblocktranslate %}</p>\n"
        "{% comment %}English notes{% endcomment %}{# a note #}"
        "<script>const a = 'English';</script><style>.a::after{content:'x'}</style>"
        '<input type="text" name="code" value="{{ v }}">'
        '<button type="submit" name="kind" value="arrival">{% translate "Arrived" %}</button>'
        "{% translate 'Counted' as counted %}<b>{{ counted }}</b> Secki"
    )
    assert untranslated_text(good) == []
