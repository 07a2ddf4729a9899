"""The integrity analyses' sentences in the reader's language.

``secki.stats`` (no Django) and the stored analyses (shared by every language) word their
reasons, exclusions, turnout-flag details and PVT notes in English. Each such sentence has a
template here, marked for the catalogue; :func:`translated` recognises a sentence by its
template and words it again in the active language with the same numbers. A sentence no
template knows is shown as it is.
"""

from __future__ import annotations

import re
from functools import cache

from django.utils.translation import gettext, gettext_noop

#: English templates of the sentences built outside the catalogue (secki.stats risk reasons,
#: integer-percentage exclusions, secki.results.anomalies flag details, PVT notes and verdicts)
TEMPLATES: tuple[str, ...] = (
    # secki.stats.risk
    gettext_noop("turnout %(turnout)s %% and leader share %(share)s %% both >= 95 %%"),
    gettext_noop("leader share is a whole percentage (%(share)s %%)"),
    gettext_noop("turnout is a whole percentage (%(turnout)s %%)"),
    gettext_noop("turnout %(z)s robust SDs above the median of %(unit)s"),
    gettext_noop("leader share %(z)s robust SDs above the median of %(unit)s"),
    gettext_noop(
        "protocol inconsistent: issued %(issued)s of %(registered)s registered, "
        "leader %(leader)s of %(boxes)s in boxes"
    ),
    # secki.stats.integer_percentages: why a station is left out
    gettext_noop("ballots in boxes = 0"),
    gettext_noop("registered voters < %(n)s"),
    gettext_noop("turnout > %(n)s %%"),
    gettext_noop("leader share > %(n)s %%"),
    # secki.results.anomalies: turnout-report flags
    gettext_noop("%(v)s voters at %(t)s of %(registered)s registered (%(share)s %%)"),
    gettext_noop("%(v)s at %(t)s is below the %(best)s reported at %(when)s"),
    gettext_noop("version %(v2)s at %(t)s lowered %(old)s (version %(v1)s) to %(new)s"),
    gettext_noop(
        "the final protocol's %(final)s participants are below the %(v)s reported at %(t)s"
    ),
    gettext_noop(
        "turnout %(a)s %% at %(t)s, %(b)s %% in the final protocol "
        "(+%(jump)s points, threshold %(threshold)s)"
    ),
    gettext_noop(
        "%(v)s at %(t)s is reported by %(count)s stations; about %(expected)s would by chance "
        "(p = %(p)s)"
    ),
    gettext_noop("the same series (%(series)s) at %(count)s stations: %(others)s"),
    gettext_noop(
        "turnout %(share)s %% at %(t)s against %(level)s %% in its constituency "
        "(SD %(sd)s points): %(z)s SD"
    ),
    # secki.integrity.pvt and secki.stats.pvt
    gettext_noop(
        "%(n)s constituencies with fewer than two reported stations (%(names)s) are estimated "
        "together as one stratum of %(size)s stations"
    ),
    gettext_noop(
        "%(n)s constituencies with fewer than two reported stations (%(names)s) are estimated "
        "with constituency %(target)s"
    ),
    gettext_noop("official %(name)s is %(direction)s than the PVT estimate (z = %(z)s)"),
    gettext_noop("official results consistent with the PVT (all |z| <= %(critical)s)"),
)

#: words that stand as a parameter in the sentences above
WORDS: tuple[str, ...] = (gettext_noop("higher"), gettext_noop("lower"))

_PARAM = re.compile(r"%\((\w+)\)s|%%")


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for template in TEMPLATES:
        parts: list[str] = []
        last = 0
        for m in _PARAM.finditer(template):
            parts.append(re.escape(template[last : m.start()]))
            parts.append("%" if m.group(0) == "%%" else f"(?P<{m.group(1)}>.+?)")
            last = m.end()
        parts.append(re.escape(template[last:]))
        out.append((re.compile("".join(parts), re.S), template))
    return tuple(out)


def translated(sentence: str) -> str:
    """``sentence`` (English, from a template above) in the active language."""
    for pattern, template in _patterns():
        m = pattern.fullmatch(sentence)
        if m:
            params = {k: gettext(v) if v in WORDS else v for k, v in m.groupdict().items()}
            return gettext(template) % params
    return sentence


def translated_list(text: str, separator: str = "; ") -> str:
    """Sentences joined by ``separator`` (a PVT verdict), each in the active language."""
    return separator.join(translated(part) for part in text.split(separator))


def translated_flag(text: str, labels: dict[str, str]) -> str:
    """A stored turnout flag, ``"<kind label>: <detail>"`` in English, in the active language
    (``labels``: English kind label → label in the active language)."""
    label, sep, detail = text.partition(": ")
    if not sep or label not in labels:
        return translated(text)
    return f"{labels[label]}: {translated(detail)}"
