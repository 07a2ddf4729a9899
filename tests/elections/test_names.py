"""Names in every language (issue 16): a bundle's optional translated names (``name_az``,
``name_ru``, a candidate's ``party_az``, ``party_ru``, election.json's ``name_az``,
``name_ru``) are validated, stored, exported byte for byte, shown by the page's language with
the English name as the fallback, given beside ``name`` by the API, and exported to NIST
SP 1500-100 as one ``LanguageString`` per language."""

from __future__ import annotations

import csv
import filecmp
import gzip
import json
from pathlib import Path

import jsonschema
import pytest
from django.test import Client
from django.utils import translation

from secki.bundle import CANDIDATE_COLUMNS, STATION_COLUMNS, UNIT_COLUMNS, translated
from secki.bundle.read import BundleError, read_bundle
from secki.bundle.write import write_election, write_table
from secki.elections.models import Candidate, Election, Station, Unit
from secki.elections.names import local
from secki.intake.bundle_io import export_bundle, import_bundle
from secki.opendata import snapshots
from secki.opendata.collect import collect
from secki.opendata.nist_export import export_nist
from secki.opendata.roundtrip import bundle_from_bulk
from secki.portal import http
from secki.results import tabulate
from secki.simulator import SimulationConfig, simulate, write_bundle
from tests import factories
from tests.factories import CANDIDATES, STATIONS, UNITS, write_small_bundle

pytestmark = pytest.mark.django_db

NAMES = translated("name")
OFFICIAL = (
    Path(__file__).resolve().parents[3] / "shared/schemas/NIST_V2_election_results_reporting.json"
)
FILES = ["election.json", "units.csv", "stations.csv", "candidates.csv", "protocols.csv"]

# Testland in three languages; unit 2 ("South") and station 2-2 have no translation
UNIT_NAMES = {"XX": ("Testland", "Testlandiya"), "1": ("Şimal", "Север")}
STATION_NAMES = {"1-1": ("1 saylı məntəqə", "Участок № 1"), "1-2": ("", "Участок № 2")}
CANDIDATE_NAMES = [
    ("Namizəd A", "Кандидат А", "Birinci Partiya", "Партия один"),
    ("Namizəd B", "Кандидат Б", "İkinci Partiya", "Партия два"),
    ("", "", "", ""),
]


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings.VAR_DIR = tmp_path / "var"
    settings.SECKI_SNAPSHOT_AUTO = False
    monkeypatch.setattr(http, "ROW_SECONDS", 0.0)
    http.pages.clear()
    tabulate._cache.clear()
    yield
    http.pages.clear()
    tabulate._cache.clear()


def write_named_bundle(directory: Path) -> Path:
    """The small test bundle with translated names in every file (some rows left empty)."""
    write_small_bundle(directory)
    plain = factories.settings()
    ordered = {}  # the translations right after "name", where the exporter writes them
    for key, value in plain.items():
        ordered[key] = value
        if key == "name":
            ordered["name_az"] = "Testlandiya prezident seçkisi"
            ordered["name_ru"] = "Президентские выборы в Тестландии"
    write_election(directory, ordered)
    units = [[*row, *UNIT_NAMES.get(str(row[0]), ("", ""))] for row in UNITS]
    write_table(directory / "units.csv", [*UNIT_COLUMNS, *NAMES], units)
    stations = [[*row, *STATION_NAMES.get(str(row[0]), ("", ""))] for row in STATIONS]
    write_table(directory / "stations.csv", [*STATION_COLUMNS, *NAMES], stations)
    candidates = [[*row, *names] for row, names in zip(CANDIDATES, CANDIDATE_NAMES, strict=True)]
    header = [*CANDIDATE_COLUMNS, *NAMES, *translated("party")]
    write_table(directory / "candidates.csv", header, candidates)
    return directory


@pytest.fixture
def named(tmp_path: Path) -> Election:
    return import_bundle(read_bundle(write_named_bundle(tmp_path / "named")))


def test_translated_names_are_stored_and_round_trip_byte_for_byte(
    named: Election, tmp_path: Path
) -> None:
    assert (named.name_az, named.name_ru) == (
        "Testlandiya prezident seçkisi",
        "Президентские выборы в Тестландии",
    )
    north = Unit.objects.get(election=named, code="1")
    assert (north.name, north.name_az, north.name_ru) == ("North", "Şimal", "Север")
    assert Unit.objects.get(election=named, code="2").name_az == ""
    second = Station.objects.get(election=named, code="1-2")
    assert (second.name_az, second.name_ru) == ("", "Участок № 2")
    first = Candidate.objects.get(election=named, number=1)
    assert (first.name_ru, first.party_az) == ("Кандидат А", "Birinci Partiya")
    export_bundle(named, tmp_path / "out")
    for name in FILES:
        assert filecmp.cmp(tmp_path / "named" / name, tmp_path / "out" / name, shallow=False), name


def test_a_bundle_without_translations_keeps_its_columns(tmp_path: Path) -> None:
    election = import_bundle(read_bundle(write_small_bundle(tmp_path / "plain")))
    export_bundle(election, tmp_path / "out")
    for name, columns in (
        ("units.csv", UNIT_COLUMNS),
        ("stations.csv", STATION_COLUMNS),
        ("candidates.csv", CANDIDATE_COLUMNS),
    ):
        header = (tmp_path / "out" / name).read_text(encoding="utf-8").split("\n", 1)[0]
        assert header == ",".join(columns), name
    assert "name_az" not in (tmp_path / "out" / "election.json").read_text(encoding="utf-8")


def test_a_simulated_election_round_trips_with_its_names(tmp_path: Path) -> None:
    source = tmp_path / "sim"
    write_bundle(simulate(SimulationConfig(stations=40, constituencies=11)), source)
    election = import_bundle(read_bundle(source))
    assert Unit.objects.get(election=election, code="NAX").name_ru == (
        "Нахичеванская Автономная Республика"
    )
    export_bundle(election, tmp_path / "out")
    for name in FILES:
        assert filecmp.cmp(source / name, tmp_path / "out" / name, shallow=False), name


def test_bad_translated_names_are_refused_naming_file_line_and_column(tmp_path: Path) -> None:
    source = write_named_bundle(tmp_path / "bad")
    rows = list(csv.reader((source / "stations.csv").open(encoding="utf-8", newline="")))
    rows[2][rows[0].index("name_ru")] = "Я" * 201
    write_table(source / "stations.csv", rows[0], rows[1:])
    settings = json.loads((source / "election.json").read_text(encoding="utf-8"))
    settings["name_az"] = 7
    (source / "election.json").write_text(json.dumps(settings), encoding="utf-8")
    with pytest.raises(BundleError) as caught:
        read_bundle(source)
    text = str(caught.value)
    assert "election.json, column name_az: 7 has the wrong type" in text
    settings["name_az"] = "fine"
    (source / "election.json").write_text(json.dumps(settings), encoding="utf-8")
    with pytest.raises(BundleError) as caught:
        read_bundle(source)
    assert str(caught.value) == "stations.csv line 3, column name_ru: is longer than 200 characters"
    assert not Election.objects.exists()


def test_local_picks_the_language_and_falls_back_to_english(named: Election) -> None:
    north = Unit.objects.get(election=named, code="1")
    south = Unit.objects.get(election=named, code="2")
    third = Candidate.objects.get(election=named, number=3)
    assert local(north, language="az") == "Şimal"
    assert local(north, language="ru-ru") == "Север"
    assert local(north, language="en") == "North"
    assert local(south, language="az") == "South"  # no translation: the English name
    assert local(third, "party", language="ru") == ""  # no party at all
    with translation.override("ru"):
        assert local(north) == "Север"
    assert local(None) == ""
    # a JSON answer's unit (the staff turnout overview shows those)
    assert local({"name": "North", "name_az": "Şimal", "name_ru": None}, language="az") == "Şimal"
    assert local({"name": "North", "name_az": "Şimal", "name_ru": None}, language="ru") == "North"


def text_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_pages_show_the_names_in_the_visitors_language(named: Election) -> None:
    slug = named.slug
    azeri = text_of(Client(HTTP_ACCEPT_LANGUAGE="az").get(f"/e/{slug}/"))
    assert "Testlandiya prezident seçkisi" in azeri
    assert "Namizəd A" in azeri and "Birinci Partiya" in azeri
    assert "1. Şimal" in azeri
    assert "2. South" in azeri  # no Azerbaijani name: the English one
    assert "Candidate C" in azeri  # likewise
    assert "Candidate A" not in azeri and "North" not in azeri
    russian = text_of(Client(HTTP_ACCEPT_LANGUAGE="ru").get(f"/e/{slug}/u/1/"))
    assert "Север" in russian and "Кандидат А" in russian and "Партия один" in russian
    assert "Участок № 1" in russian and "Участок № 2" in russian
    assert "North" not in russian
    station = text_of(Client(HTTP_ACCEPT_LANGUAGE="az").get(f"/e/{slug}/s/1-2/"))
    assert "Station 2" in station  # no Azerbaijani name for 1-2
    assert "Şimal" in station  # its unit, in the breadcrumbs
    english = text_of(Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/e/{slug}/u/1/"))
    assert "North" in english and "Candidate A" in english and "Север" not in english
    found = text_of(Client(HTTP_ACCEPT_LANGUAGE="ru").get("/search/", {"q": "участок 2"}))
    assert "Участок № 2" in found


def test_the_api_gives_every_translation_beside_the_name(named: Election) -> None:
    national = Client().get(f"/api/v1/elections/{named.slug}/results").json()
    assert national["name"] == "Testland"
    assert (national["name_az"], national["name_ru"]) == ("Testland", "Testlandiya")
    first = national["candidates"][0]
    assert (first["name"], first["name_az"], first["name_ru"]) == (
        "Candidate A",
        "Namizəd A",
        "Кандидат А",
    )
    assert (first["party_az"], first["party_ru"]) == ("Birinci Partiya", "Партия один")
    assert national["candidates"][2]["name_az"] is None
    south = next(c for c in national["children"] if c["unit"] == "2")
    assert (south["name"], south["name_az"]) == ("South", None)
    station = Client().get(f"/api/v1/elections/{named.slug}/results/stations/1-1").json()
    assert (station["name"], station["name_ru"]) == ("Station 1", "Участок № 1")
    listed = Client().get("/api/v1/elections").json()
    assert listed[0]["name_ru"] == "Президентские выборы в Тестландии"
    turnout = Client().get(f"/api/v1/elections/{named.slug}/turnout-summary").json()
    assert turnout["unit"]["name_ru"] == "Testlandiya"
    children = {c["unit"]["code"]: c["unit"] for c in turnout["children"]}
    assert (children["1"]["name_az"], children["2"]["name_az"]) == ("Şimal", None)


def test_nist_export_has_a_language_string_per_language_and_validates(named: Election) -> None:
    report = export_nist(collect(named))
    jsonschema.validate(report, json.loads(OFFICIAL.read_text(encoding="utf-8")))

    def strings(text: dict[str, object]) -> dict[str, str]:
        return {s["Language"]: s["Content"] for s in text["Text"]}  # type: ignore[index, union-attr]

    units = {u["@id"]: u for u in report["GpUnit"]}
    assert strings(units["gpu-1"]["Name"]) == {"en": "North", "az": "Şimal", "ru": "Север"}
    assert strings(units["gpu-2"]["Name"]) == {"en": "South"}
    assert units["gpu-ps-1-1"]["Name"]["Text"][0]["Language"] == "en"  # English first
    assert strings(units["gpu-ps-1-2"]["Name"]) == {"en": "Station 2", "ru": "Участок № 2"}
    election = report["Election"][0]
    assert strings(election["Name"])["ru"] == "Президентские выборы в Тестландии"
    assert strings(election["Candidate"][0]["BallotName"]) == {
        "en": "Candidate A",
        "az": "Namizəd A",
        "ru": "Кандидат А",
    }
    assert strings(report["Party"][1]["Name"]) == {
        "en": "Party Two",
        "az": "İkinci Partiya",
        "ru": "Партия два",
    }


def test_the_open_data_release_keeps_the_names_and_loads_back(
    named: Election, tmp_path: Path
) -> None:
    release = snapshots.make_release(named)
    with gzip.open(release / "stations.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        rows = {r["station"]: r for r in csv.DictReader(handle)}
    assert (rows["1-1"]["name_az"], rows["1-1"]["name_ru"]) == ("1 saylı məntəqə", "Участок № 1")
    assert rows["2-1"]["name_az"] == ""
    units = (release / "units.csv").read_text(encoding="utf-8")
    assert units.split("\n", 1)[0].endswith("name_az,name_ru") and "Север" in units
    bundle_from_bulk(release, tmp_path / "back", slug="testland-again")
    again = import_bundle(read_bundle(tmp_path / "back"))
    assert Station.objects.get(election=again, code="1-1").name_ru == "Участок № 1"
    assert Candidate.objects.get(election=again, number=2).party_ru == "Партия два"
    assert again.name_az == "Testlandiya prezident seçkisi"


def test_a_translation_is_amended_like_the_name_and_published(named: Election) -> None:
    """An open election's station gets its Azerbaijani name through the audited amendment:
    the register the log publishes holds it, and the Azerbaijani page shows it."""
    from secki.accounts.actions import amend_register
    from secki.accounts.models import AuditRecord
    from secki.ledger.models import LogFile

    station = Station.objects.get(election=named, code="2-1")
    record = amend_register(None, named, station, reason="translation added", name_az="Cənub 1")
    assert record.action == "register.amended" and record.after["name_az"] == "Cənub 1"
    assert AuditRecord.objects.filter(action="register.amended").count() == 1
    published = [bytes(f.content).decode() for f in LogFile.objects.filter(name="stations.csv")]
    assert any("Cənub 1" in text for text in published)
    page = text_of(Client(HTTP_ACCEPT_LANGUAGE="az").get(f"/e/{named.slug}/s/2-1/"))
    assert "Cənub 1" in page
    with pytest.raises(Exception, match="name_az"):
        amend_register(None, named, station, reason="too long", name_az="x" * 201)
    assert Station.objects.get(pk=station.pk).name_az == "Cənub 1"


def test_a_nist_file_brings_its_language_strings_in(named: Election, tmp_path: Path) -> None:
    """The NIST export, imported again (``secki import-nist``): the English strings are the
    names, the Azerbaijani and Russian ones their translations."""
    from secki.elections.nist import import_nist
    from secki.protocol_schema import ProtocolSchema

    path = tmp_path / "nist.json"
    path.write_text(json.dumps(export_nist(collect(named))), encoding="utf-8")
    again = import_nist(path, slug="testland-nist", schema=ProtocolSchema.builtin())
    assert (again.name, again.name_ru) == (named.name, named.name_ru)
    north = Unit.objects.get(election=again, code="gpu-1")
    assert (north.name, north.name_az, north.name_ru) == ("North", "Şimal", "Север")
    assert Unit.objects.get(election=again, code="gpu-2").name_az == ""
    station = Station.objects.get(election=again, code="gpu-ps-1-2")
    assert (station.name, station.name_az, station.name_ru) == ("Station 2", "", "Участок № 2")
    first = Candidate.objects.get(election=again, number=1)
    assert (first.name, first.name_az, first.party, first.party_ru) == (
        "Candidate A",
        "Namizəd A",
        "Party One",
        "Партия один",
    )
