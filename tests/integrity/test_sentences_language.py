"""The integrity overview and risk table of an election WITH protocols, in az and ru: the
sentences computed in Python (risk reasons, left-out reasons, turnout-flag kinds and details)
come in the page's language, and no sentence or label of the English catalogue shows."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from secki.elections.models import Station
from secki.integrity.sentences import TEMPLATES, _patterns, translated, translated_list
from secki.simulator import SimulationConfig, parse_fraud
from tests.integrity.conftest import Imported, import_simulated, module_transaction
from tests.staff.test_browser import english_ui

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def fraud(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any
) -> Iterator[Imported]:
    with module_transaction(django_db_blocker):
        yield import_simulated(
            tmp_path_factory.mktemp("fraud"),
            SimulationConfig(
                stations=800,
                seed=11,
                fraud=parse_fraud("stuffing:fi=0.1,fe=0.03;integer:share=0.1"),
            ),
        )


def text_of(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def page_text(imported: Imported, path: str, language: str) -> str:
    client = Client()
    client.force_login(imported.people["observer"].user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(path)
    assert response.status_code == 200
    text = text_of(response.content.decode())
    # the stations' names are data of the bundle (English in the simulator's), not UI text
    for name in Station.objects.filter(election=imported.election).values_list("name", flat=True):
        text = text.replace(name, " ")
    return text


def computed_sentences(text: str, language: str) -> list[str]:
    """The computed sentences in ``text`` worded as the catalogue words them in ``language``."""
    found = []
    with translation.override(language):
        for template in TEMPLATES:
            worded = re.escape(translation.gettext(template).replace("%%", "%"))
            pattern = re.sub(r"%\\\(\w+\\\)s", ".+?", worded)
            found += [m.group(0) for m in re.finditer(pattern, text)]
    return found


@pytest.mark.parametrize("path", ["/integrity/e/{slug}/", "/integrity/e/{slug}/risk/"])
@pytest.mark.parametrize("language", ["az", "ru"])
def test_the_integrity_pages_with_protocols_show_no_english(
    fraud: Imported, language: str, path: str
) -> None:
    url = path.format(slug=fraud.election.slug)
    english_page = page_text(fraud, url, "en")
    page = page_text(fraud, url, language)
    # the English page, as a control, shows the computed sentences in English
    assert computed_sentences(english_page, "en")
    assert computed_sentences(page, language)
    left = [pattern.pattern for pattern, _ in _patterns() if pattern.search(page)]
    assert left == [], (language, left)
    shown = sorted(m for m in english_ui() if m in page)
    assert shown == [], (
        language,
        [(m, page[page.index(m) - 80 : page.index(m) + 80]) for m in shown],
    )


def test_a_sentence_is_reworded_with_its_numbers_and_unknown_text_stays() -> None:
    with translation.override("az"):
        assert translated("leader share is a whole percentage (55.00 %)") == (
            "liderin payı tam faizdir (55.00 %)"
        )
        assert translated("registered voters < 100") == "qeydiyyatdakı seçicilər < 100"
        assert translated("something else") == "something else"
    with translation.override("ru"):
        assert translated_list(
            "official C1 is higher than the PVT estimate (z = +3.10); "
            "official C2 is lower than the PVT estimate (z = -2.90)"
        ) == (
            "официальный результат C1 выше оценки PVT (z = +3.10); "
            "официальный результат C2 ниже оценки PVT (z = -2.90)"
        )
