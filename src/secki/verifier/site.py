"""A site's published files (the layout the publisher and the verifier agree on).

Under a site prefix ``<P>`` (a directory, or an ``http(s)://`` URL):

* ``<P>log.vkey`` — the site's log verifier key (type 0x01);
* ``<P>witnesses.txt`` — the witness policy (:class:`secki.tlog.checkpoint.WitnessPolicy`);
* ``<P>elections.json`` — canonical JSON ``{"logs": [{"election": slug, "origin": origin,
  "path": "<slug>/"}, …]}``;
* ``<P><path>`` — one election's log, laid out as spec §2.1: ``checkpoint``, tiles and
  bundles, ``results/<N>.json`` and ``results/latest.json``, ``scans/<sha256>``,
  ``hints/<slug>/<station>.json`` (canonical JSON ``{"election": slug, "station": code,
  "indexes": [ascending leaf indexes]}``, unauthenticated) and ``register/<sha256>``;
  ``opendata.json`` (canonical JSON ``{"election": slug, "manifest": sha256, "release":
  "v<seq>"}``) naming the newest open-data release linked beside the log, whose
  ``manifest.json`` and files (``stations.csv.gz``, ``turnout.csv.gz``, ``nist.json.gz``,
  ``election.json``, ``units.csv``, ``candidates.csv``) are at ``opendata/<sha256>``; the
  manifest's ``log_size`` is the log size the release reflects and ``ledger_hash`` the leaf
  hash (hex) of that size's last entry.

The site's log key signs every election's checkpoint under its own name (e.g.
``example.org/log``); each election's origin is ``<that name>/<slug>``.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from secki.tlog import canonical
from secki.tlog.tiles import MAX_FILE_SIZE, Source, directory_source, http_source

#: election slugs and station codes name files: letters, digits, '.', '_' and '-'
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_PATH = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,99}/){1,8}")
OPENDATA = "opendata.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"v[0-9]{1,18}")
#: the largest scan or register file the verifier downloads
MAX_SCAN_SIZE = 256 * 1024 * 1024


class SiteError(ValueError):
    """A published index file (elections.json, a hints file) that is malformed."""


@dataclass(frozen=True)
class ElectionLog:
    """One election's log on the site: its slug, origin and path under the prefix."""

    election: str
    origin: str
    path: str


@dataclass(frozen=True)
class Site:
    """Files under a site prefix: ``source`` for the log's files, ``large`` for scans and
    register files (a higher size limit over HTTP)."""

    location: str
    source: Source
    large: Source

    def fetch(self, path: str) -> bytes | None:
        return self.source(path)

    def under(self, path: str, *, large: bool = False) -> Source:
        """A source for the files under ``path`` (``<slug>/``)."""
        base = self.large if large else self.source

        def read(name: str) -> bytes | None:
            return base(path + name)

        return read


def open_site(location: str, *, timeout: float = 30.0) -> Site:
    """The site at a directory or an ``http://``/``https://`` prefix."""
    if location.startswith(("http://", "https://")):
        prefix = location if location.endswith("/") else location + "/"
        return Site(
            prefix,
            http_source(prefix, timeout=timeout, max_size=MAX_FILE_SIZE),
            http_source(prefix, timeout=timeout, max_size=MAX_SCAN_SIZE),
        )
    path = Path(location)
    if not path.is_dir():
        raise SiteError(f"{location} is neither a directory nor an http(s):// URL")
    source = directory_source(path)
    return Site(str(path), source, source)


def _object(data: bytes, what: str) -> dict[str, object]:
    try:
        return canonical.decode(data)
    except canonical.CanonicalError as exc:
        raise SiteError(f"{what} is not canonical JSON: {exc}") from None


def parse_elections(data: bytes) -> list[ElectionLog]:
    """The logs listed in ``elections.json``; :class:`SiteError` names what is malformed."""
    value = _object(data, "elections.json")
    logs = value.get("logs")
    if set(value) != {"logs"} or not isinstance(logs, list):
        raise SiteError('elections.json is not {"logs": [...]}')
    found: list[ElectionLog] = []
    for i, item in enumerate(logs):
        if not isinstance(item, dict) or set(item) != {"election", "origin", "path"}:
            raise SiteError(f"elections.json: logs[{i}] is not {{election, origin, path}}")
        election, origin, path = item["election"], item["origin"], item["path"]
        if not isinstance(election, str) or not NAME.fullmatch(election):
            raise SiteError(f"elections.json: logs[{i}].election {election!r} is not a slug")
        if not isinstance(origin, str) or not origin:
            raise SiteError(f"elections.json: logs[{i}].origin is not a non-empty string")
        if not isinstance(path, str) or not _PATH.fullmatch(path):
            raise SiteError(f"elections.json: logs[{i}].path {path!r} is not a relative directory")
        if any(log.election == election for log in found):
            raise SiteError(f"elections.json lists {election} twice")
        found.append(ElectionLog(election, origin, path))
    return found


def hints_path(election: str, station: str) -> str:
    return f"hints/{election}/{station}.json"


def parse_hints(data: bytes, election: str, station: str) -> list[int]:
    """The leaf indexes of a station's hints file (ascending, distinct)."""
    what = hints_path(election, station)
    value = _object(data, what)
    if set(value) != {"election", "station", "indexes"}:
        raise SiteError(f"{what} is not {{election, station, indexes}}")
    if value["election"] != election or value["station"] != station:
        raise SiteError(f"{what} is about {value['election']!r}/{value['station']!r}")
    indexes = value["indexes"]
    if not isinstance(indexes, list) or not all(_is_index(i) for i in indexes):
        raise SiteError(f"{what}: indexes is not a list of integers ≥ 0")
    checked: list[int] = [i for i in indexes if isinstance(i, int)]
    if any(a >= b for a, b in itertools.pairwise(checked)):
        raise SiteError(f"{what}: indexes are not ascending")
    return checked


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class OpenData:
    """``opendata.json``: the release and the SHA-256 of its ``manifest.json``."""

    release: str
    manifest: str


def parse_opendata(data: bytes, election: str) -> OpenData:
    value = _object(data, OPENDATA)
    if set(value) != {"election", "manifest", "release"}:
        raise SiteError(f"{OPENDATA} is not {{election, manifest, release}}")
    release, manifest = value["release"], value["manifest"]
    if value["election"] != election:
        raise SiteError(f"{OPENDATA} is about {value['election']!r}")
    if not isinstance(release, str) or not _VERSION.fullmatch(release):
        raise SiteError(f"{OPENDATA}: release {release!r} is not v<number>")
    if not isinstance(manifest, str) or not _SHA256.fullmatch(manifest):
        raise SiteError(f"{OPENDATA}: manifest is not 64 lowercase hex digits")
    return OpenData(release, manifest)


@dataclass(frozen=True)
class Manifest:
    """What the verifier reads of a release's ``manifest.json``."""

    version: str
    log_size: int
    ledger_hash: str
    #: file name → SHA-256
    files: dict[str, str]


def parse_manifest(data: bytes, election: str) -> Manifest:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SiteError(f"manifest.json is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SiteError("manifest.json is not an object")
    size, leaf, files = value.get("log_size"), value.get("ledger_hash"), value.get("files")
    if value.get("election") != election:
        raise SiteError(f"manifest.json is about {value.get('election')!r}")
    if not _is_index(size) or not isinstance(size, int) or size < 1:
        raise SiteError("manifest.json: log_size is not an integer ≥ 1")
    if not isinstance(leaf, str) or not _SHA256.fullmatch(leaf):
        raise SiteError("manifest.json: ledger_hash is not 64 lowercase hex digits")
    if not isinstance(files, list):
        raise SiteError("manifest.json: files is not a list")
    named: dict[str, str] = {}
    for item in files:
        if not isinstance(item, dict):
            raise SiteError("manifest.json: a file is not an object")
        name, digest = item.get("name"), item.get("sha256")
        if (
            not isinstance(name, str)
            or not isinstance(digest, str)
            or not _SHA256.fullmatch(digest)
        ):
            raise SiteError(f"manifest.json: file {name!r} has no SHA-256")
        named[name] = digest
    return Manifest(str(value.get("version", "")), size, leaf, named)
