"""What the pages give the in-browser check of the public log (secki.portal.verification; the
scripts themselves run in tests/browser/test_verify.py): the station page's log data, its
SHA-256 read from the log entry (not from the protocol's values), nothing of it for officials
who may see unpublished figures; the scripts' sentences in every language; the "verify the
whole election" page and the guide, linked from the site's navigation."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import pytest
from django.test import Client

from secki.elections.models import Election, Station
from secki.ledger.models import LedgerEntry
from secki.opendata import logfiles
from secki.portal import http
from secki.portal.verification import messages
from secki.protocols.actions import annul_protocol
from secki.protocols.models import ProtocolValue
from secki.results import tabulate

pytestmark = pytest.mark.django_db


def page(url: str, language: str = "en", client: Client | None = None) -> str:
    response = (client or Client(HTTP_ACCEPT_LANGUAGE=language)).get(url)
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


def attribute(html: str, element_id: str, name: str) -> str | None:
    """The attribute ``name`` of the element with ``id`` ``element_id`` (None if absent)."""
    tag = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', html)
    if tag is None:
        return None
    found = re.search(rf' {name}="([^"]*)"', tag.group(0))
    return unescape(found.group(1)) if found else None


def catalogue(html: str) -> dict[str, str]:
    found = re.search(r'<script id="log-messages" type="application/json">(.*?)</script>', html)
    assert found is not None
    value = json.loads(found.group(1))
    assert isinstance(value, dict)
    return value


def last_protocol_entry(election: Election, code: str) -> LedgerEntry:
    entry = (
        LedgerEntry.objects.filter(election=election, subject=f"protocol:{code}")
        .exclude(version=None)
        .order_by("-index")
        .first()
    )
    assert entry is not None
    return entry


def test_the_station_page_gives_the_script_the_log_and_the_log_entrys_hash(
    election: Election,
) -> None:
    html = page(f"/e/{election.slug}/s/1-1/")
    assert attribute(html, "log-check", "data-site") == "/log/"
    assert attribute(html, "log-check", "data-election") == election.slug
    assert attribute(html, "log-check", "data-station") == "1-1"
    assert attribute(html, "log-check", "data-hint") == f"hints/{election.slug}/1-1.json"
    assert attribute(html, "log-check", "data-fallback") == "/static/vendor/noble/noble.js"
    assert '<script src="/static/portal/tlog.js" defer></script>' in html
    assert '<script src="/static/portal/verify.js" defer></script>' in html
    entries = LedgerEntry.objects.filter(election=election).count()
    assert attribute(html, "protocol-status", "data-log-size") == str(entries)
    assert attribute(html, "protocol-status", "data-log-state") == "counted"
    entry = last_protocol_entry(election, "1-1")
    assert entry.kind == "protocol.accepted"
    assert attribute(html, "log-leaf", "data-index") == str(entry.index)
    assert attribute(html, "log-leaf", "data-leaf") == entry.leaf_hash
    shown = re.search(r'id="log-leaf"[^>]*>([0-9a-f ]+)<', html)
    assert shown is not None and shown.group(1).replace(" ", "") == entry.leaf_hash
    assert (
        f"SHA-256 of these values as the public log records them (the leaf hash of entry "
        f"{entry.index}):" in html
    )
    lines = json.loads(entry.body)["lines"]
    for code, value in lines.items():
        assert f'<tr data-line="{code}" data-value="{value}">' in html
    assert '<tr data-line="L17">' in html  # a time, not a count: not compared
    assert '<tr data-time="10:00" data-voters="150">' in html
    assert catalogue(html) == messages()


def test_the_pages_sha256_stays_the_logs_when_a_value_changes_in_the_database(
    election: Election,
) -> None:
    entry = last_protocol_entry(election, "1-1")
    before = page(f"/e/{election.slug}/s/1-1/")
    value = ProtocolValue.objects.get(
        protocol__station__code="1-1", protocol__is_current=True, code="C2"
    )
    value.value += 1
    value.save()
    http.pages.clear()
    tabulate._cache.clear()
    after = page(f"/e/{election.slug}/s/1-1/")
    assert f'<tr data-line="C2" data-value="{value.value}">' in after
    assert f'<tr data-line="C2" data-value="{value.value}">' not in before
    assert attribute(after, "log-leaf", "data-leaf") == entry.leaf_hash
    assert attribute(before, "log-leaf", "data-leaf") == entry.leaf_hash
    assert json.loads(entry.body)["lines"]["C2"] == value.value - 1


def test_an_annulled_protocol_shows_the_annulments_entry(election: Election, admin: Any) -> None:
    station = Station.objects.get(election=election, code="1-2")
    annul_protocol(station, actor=admin, decision_ref="ConEC decision 7/12")
    html = page(f"/e/{election.slug}/s/1-2/")
    entry = last_protocol_entry(election, "1-2")
    assert entry.kind == "protocol.annulled"
    assert attribute(html, "protocol-status", "data-log-state") == "annulled"
    assert attribute(html, "log-leaf", "data-index") == str(entry.index)
    assert attribute(html, "log-leaf", "data-leaf") == entry.leaf_hash
    assert "SHA-256 of the public log's entry that annulled this protocol" in html


def test_a_station_without_a_protocol(waiting: Election) -> None:
    html = page(f"/e/{waiting.slug}/s/1-1/")
    assert attribute(html, "protocol-status", "data-log-state") == "none"
    assert attribute(html, "log-leaf", "data-leaf") is None
    assert attribute(html, "log-check", "data-station") == "1-1"


def test_officials_who_see_unpublished_figures_get_no_log_check(
    election: Election, admin: Any, client: Client
) -> None:
    client.force_login(admin)
    html = page(f"/e/{election.slug}/s/1-1/", client=client)
    assert 'id="log-check"' not in html and 'id="log-leaf"' not in html
    assert "data-log-state" not in html and "verify.js" not in html


@pytest.mark.parametrize("language", ["az", "ru"])
def test_the_scripts_sentences_are_translated_with_their_placeholders(
    election: Election, language: str
) -> None:
    english = catalogue(page(f"/e/{election.slug}/s/1-1/"))
    translated = catalogue(page(f"/e/{election.slug}/s/1-1/", language))
    assert translated.keys() == english.keys()
    for code, sentence in english.items():
        assert sorted(re.findall(r"%\(\w+\)s", translated[code])) == sorted(
            re.findall(r"%\(\w+\)s", sentence)
        ), code
        if re.search(r"[a-z]{3}", sentence.replace("%(", "")):
            assert translated[code] != sentence, code
    verify = catalogue(page(f"/e/{election.slug}/verify/", language))
    assert verify == translated


def test_the_whole_election_page(election: Election) -> None:
    html = page(f"/e/{election.slug}/verify/")
    assert attribute(html, "election-check", "data-worker") == "/static/portal/verify-worker.js"
    assert attribute(html, "election-check", "data-tlog") == "/static/portal/tlog.js"
    assert attribute(html, "election-check", "data-site") == "/log/"
    assert attribute(html, "election-check", "data-election") == election.slug
    assert f'<a href="/e/{election.slug}/verify/" aria-current="page">Verify</a>' in html
    assert '<script src="/static/portal/verify-election.js" defer></script>' in html
    assert "<script>" not in html and "onclick" not in html  # the CSP allows no inline script
    results = page(f"/e/{election.slug}/")
    assert f'<a href="/e/{election.slug}/verify/">Verify</a>' in results
    assert Client().get("/e/no-such-election/verify/").status_code == 404


@pytest.mark.parametrize(
    ("language", "heading", "cannot"),
    [
        ("en", "How to verify", "That the paper count was honest."),
        ("az", "Necə yoxlamalı", "Kağız üzərində sayımın dürüst aparıldığını."),
        ("ru", "Как проверить", "Что подсчёт бюллетеней был честным."),
    ],
)
def test_the_guide_in_every_language(
    election: Election, language: str, heading: str, cannot: str
) -> None:
    html = page("/verify/", language)
    assert f"<h1>{heading}</h1>" in html
    assert cannot in html
    assert "python3 secki-verify.pyz http://testserver/log/" in html
    assert f"--election {election.slug} --station CODE" in html
    assert f'<a href="/e/{election.slug}/verify/">' in html
    home = page("/data/", language)
    assert f'<a href="/verify/">{heading}</a>' in home  # the site's navigation and footer


def test_a_published_scans_content_type_is_a_plain_string(settings: Any, tmp_path: Any) -> None:
    settings.VAR_DIR = tmp_path
    scans = tmp_path / "log" / "e" / "scans"
    scans.mkdir(parents=True)
    path = scans / ("a" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n rest")
    kind = logfiles.content_type(f"e/scans/{'a' * 64}", path)
    assert kind == "image/png" and type(kind) is str
