"""Every URL pattern of the site (public pages, the API's GET operations, staff, turnout,
integrity, open data, the log), as the anonymous visitor and as each role of
``tests/personas.py``: no server error; ``HEAD`` answered as ``GET`` is (same status, same
type and length, no body); text answers compressed when the client asks; and no asset
(script, style sheet, icon, image, frame) of any page loaded from another host."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from secki.compression import MIN_SIZE, compressible
from secki.elections.models import Election
from tests.personas import make_personas
from tests.portal.conftest import load

pytestmark = pytest.mark.django_db

#: patterns not walked, with the reason
SKIPPED = {
    "admin/": "Django's admin (its own pages, its own assets; covered by tests/staff)",
}
#: a value for each URL parameter (``code`` depends on the segment before it)
UNIT, STATION = "1", "1-1"


def routes() -> list[str]:
    """Every pattern's route, its parameters filled in."""

    def walk(patterns: list[Any], prefix: str) -> list[str]:
        out: list[str] = []
        for p in patterns:
            if isinstance(p, URLResolver):
                out += walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                out.append(prefix + str(p.pattern))
        return out

    return sorted(set(walk(get_resolver().url_patterns, "")))


def fill(route: str, slug: str) -> str:
    path = route.lstrip("^").rstrip("$")
    path = re.sub(r"\(\?P<version>[^)]*\)/\(\?P<name>[^)]*\)", "live/index.json", path)
    path = re.sub(r"\(\?P<slug>[^)]*\)", slug, path)
    path = re.sub(r"<(?:slug:)?slug>", slug, path)
    path = re.sub(r"(u|units)/<(?:str:)?code>", rf"\1/{UNIT}", path)
    path = re.sub(r"<(?:str:)?(?:code|station)>", STATION, path)
    path = path.replace("lang/" + STATION, "lang/az")
    path = re.sub(r"<int:\w+>|<sample_id>", "1", path)
    path = re.sub(r"<(?:str:)?number>", "OBS-000001", path)  # an accreditation's number
    path = path.replace("<str:name>.png", "turnout.png").replace("<path:name>", "checkpoint")
    assert "<" not in path and "(?" not in path, f"no value for a parameter of {route}"
    return "/" + path


class Assets(HTMLParser):
    """The addresses a page loads by itself (not the links a visitor may follow)."""

    LOADS: ClassVar[dict[str, str]] = {
        "script": "src",
        "img": "src",
        "iframe": "src",
        "source": "src",
        "audio": "src",
        "video": "src",
        "embed": "src",
        "object": "data",
        "track": "src",
        "input": "src",
    }

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and values.get("rel", "") not in ("", "canonical", "alternate"):
            self.found.append(values.get("href") or "")
        elif tag in self.LOADS and values.get(self.LOADS[tag]):
            self.found.append(values[self.LOADS[tag]] or "")
        for name in ("srcset", "poster"):
            if values.get(name):
                self.found.append(values[name] or "")


def outside(address: str) -> bool:
    parts = urlsplit(address.strip())
    return bool(parts.netloc) or parts.scheme not in ("", "data")


def body(response: Any) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return bytes(response.content)


@pytest.fixture(autouse=True)
def quick_integrity(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path / "var"
    settings.SECKI_SNAPSHOT_AUTO = False
    settings.SECKI_INTEGRITY_BACKGROUND = False
    settings.SECKI_INTEGRITY_REPLICATES = 50
    settings.SECKI_INTEGRITY_FIT_BOOTSTRAP = 2
    settings.SECKI_INTEGRITY_DIGIT_BOOTSTRAP = 50


def test_every_url_answers_head_compresses_and_loads_nothing_from_outside(
    tmp_path: Path,
) -> None:
    election: Election = load(tmp_path / "bundle", simulated=True)
    personas = make_personas(election)
    clients: dict[str, Client] = {"anonymous": Client()}
    for name, persona in personas.items():
        clients[name] = Client()
        clients[name].force_login(persona.user)
    paths = [fill(r, election.slug) for r in routes() if not any(r.startswith(s) for s in SKIPPED)]
    assert "/search/" in paths and f"/staff/e/{election.slug}/protocol/" in paths
    problems: list[str] = []
    answered: dict[str, int] = {}
    for who, client in clients.items():
        for path in paths:
            get = client.get(path, headers={"Accept-Encoding": "gzip, br"})
            head = client.head(path, headers={"Accept-Encoding": "gzip, br"})
            where = f"{who} {path}"
            content = body(get)
            if get.status_code >= 500:
                problems.append(f"{where}: GET {get.status_code}")
            if head.status_code != get.status_code:
                problems.append(f"{where}: HEAD {head.status_code}, GET {get.status_code}")
            if body(head):
                problems.append(f"{where}: HEAD sent a body")
            if get.status_code != 200:
                continue
            answered[path] = answered.get(path, 0) + 1
            kind = get.get("Content-Type", "")
            if head.get("Content-Type") != kind:
                problems.append(f"{where}: HEAD's type {head.get('Content-Type')} vs {kind}")
            # (the length itself may differ: a page's CSRF token is masked anew each time)
            if not get.streaming and not head.get("Content-Length"):
                problems.append(f"{where}: HEAD without Content-Length")
            if compressible(kind) and (get.streaming or len(content) >= MIN_SIZE):
                if get.get("Content-Encoding") != "br":
                    problems.append(f"{where}: {kind} not compressed")
                if "Accept-Encoding" not in get.get("Vary", ""):
                    problems.append(f"{where}: no Vary: Accept-Encoding")
            if kind.startswith("text/html"):
                plain = client.get(path)
                parser = Assets()
                parser.feed(body(plain).decode())
                far = [a for a in parser.found if outside(a)]
                if far:
                    problems.append(f"{where}: assets from another host {far}")
    assert problems == [], "\n".join(problems)
    # the walk reached the pages it is about, the staff ones as the staff
    for path in (
        "/search/",
        f"/e/{election.slug}/s/{STATION}/",
        "/api/v1/docs",
        f"/api/v1/elections/{election.slug}/results",
        f"/staff/e/{election.slug}/protocol/",
        f"/staff/turnout/{election.slug}/",
        f"/integrity/e/{election.slug}/",
    ):
        assert answered.get(path), path
