"""Import an election's hierarchy and candidates from NIST SP 1500-100 v2 JSON.

The file is first validated against the official schema (``jsonschema`` Draft 4; the schema
ships in ``secki/elections/nist_schema.json``). Reporting units form the tree through
``ComposingGpUnitIds``; units of ``Type`` ``polling-place`` or ``precinct`` become stations,
``country`` the root, ``other`` with ``OtherType: constituency`` constituencies, anything else
a region/other unit. ``VotersRegistered`` gives the register; ``ExternalIdentifier`` of type
``ocd-id`` the OCD id. Candidates come in the order of the contest's selections.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from django.db import transaction

from secki.bundle import NAME_LANGUAGES
from secki.elections.models import Candidate, Election, Station, Unit, install_schema
from secki.protocol_schema import ProtocolSchema
from secki.protocol_schema.schema import MAX_COUNT

SCHEMA_PATH = Path(__file__).resolve().parent / "nist_schema.json"
STATION_TYPES = {"polling-place", "precinct"}


class NistImportError(ValueError):
    pass


@cache
def nist_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def _text(value: Any) -> str:
    """The English Content of an InternationalizedText (else its first), or a plain string."""
    if isinstance(value, dict):
        texts = value.get("Text") or []
        english = [t for t in texts if str(t.get("Language", "")).lower().startswith("en")]
        return str((english or texts)[0]["Content"]) if texts else ""
    return str(value or "")


def _translations(value: Any, field: str = "name") -> dict[str, str]:
    """The LanguageStrings of an InternationalizedText in the languages names are translated
    into, as model fields (``Language: az`` → ``name_az``)."""
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for text in value.get("Text") or []:
            language = str(text.get("Language", "")).lower().split("-")[0]
            if language in NAME_LANGUAGES and f"{field}_{language}" not in found:
                found[f"{field}_{language}"] = str(text.get("Content", ""))
    return found


def _ocd(obj: dict[str, Any]) -> str:
    for ident in obj.get("ExternalIdentifier") or []:
        if ident.get("Type") == "ocd-id":
            return str(ident.get("Value", ""))
    return ""


def _number(obj: dict[str, Any], fallback: int) -> int:
    for source in (_ocd(obj).rsplit(":", 1)[-1], _text(obj.get("Name"))):
        match = re.search(r"(\d+)\s*$", source)
        if match:
            return int(match.group(1))
    return fallback


def _registered(unit: dict[str, Any], uid: str) -> int:
    """A polling place's ``VotersRegistered``: an integer from 0 below the count limit."""
    value = unit.get("VotersRegistered") or 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_COUNT:
        raise NistImportError(
            f"polling place {uid}: VotersRegistered must be an integer from 0 to "
            f"{MAX_COUNT - 1:,}, not {str(value)[:40]!r}"
        )
    return value


def import_nist(path: Path, *, slug: str, schema: ProtocolSchema) -> Election:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NistImportError(f"{path}: not a JSON file ({exc})") from None
    errors = sorted(nist_validator().iter_errors(report), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(root)"
        raise NistImportError(
            f"{path}: does not validate against NIST SP 1500-100 v2 ({len(errors)} errors); "
            f"first at {where}: {first.message}"
        )
    elections = report.get("Election") or []
    if len(elections) != 1:
        raise NistImportError(f"{path}: expected exactly one Election, found {len(elections)}")
    e = elections[0]
    units = {
        u["@id"]: u
        for u in report.get("GpUnit") or []
        if u.get("@type", "").endswith("ReportingUnit")
    }
    parent_of: dict[str, str] = {}
    for uid, unit in units.items():
        for child in unit.get("ComposingGpUnitIds") or []:
            if child not in units:
                raise NistImportError(
                    f"GpUnit {uid}: ComposingGpUnitIds names unknown unit {child}"
                )
            if child in parent_of:
                raise NistImportError(f"GpUnit {child} is composed into two units")
            parent_of[child] = uid
    roots = [uid for uid in units if uid not in parent_of]
    if len(roots) != 1:
        raise NistImportError(f"expected one root reporting unit, found {len(roots)}: {roots[:5]}")
    root_ocd = _ocd(units[roots[0]])
    match = re.match(r"ocd-division/country:([a-z]{2})", root_ocd)
    if not match:
        raise NistImportError(
            f"root unit {roots[0]}: needs an ocd-id ExternalIdentifier "
            "(ocd-division/country:xx) to know the country"
        )
    parties = {p["@id"]: _text(p.get("Name")) for p in report.get("Party") or []}
    party_names = {
        p["@id"]: _translations(p.get("Name"), "party") for p in report.get("Party") or []
    }
    candidates = {c["@id"]: c for c in e.get("Candidate") or []}
    order: list[str] = []
    for contest in e.get("Contest") or []:
        selections = sorted(
            contest.get("ContestSelection") or [], key=lambda s: s.get("SequenceOrder", 0)
        )
        for selection in selections:
            for cid in selection.get("CandidateIds") or []:
                if cid not in order:
                    order.append(cid)
    order += [cid for cid in candidates if cid not in order]
    if not order:
        raise NistImportError("the election has no candidates")

    with transaction.atomic():
        if Election.objects.filter(slug=slug).exists():
            raise NistImportError(f"an election {slug!r} already exists")
        start = e.get("StartDate") or report.get("GeneratedDate", "")[:10]
        election = Election.objects.create(
            slug=slug,
            name=_text(e.get("Name")) or slug,
            **_translations(e.get("Name")),
            kind="other",
            country=match.group(1),
            date=dt.date.fromisoformat(start[:10]),
        )
        install_schema(election, schema)
        created: dict[str, Unit] = {}
        stations: list[Station] = []
        counter: dict[int, int] = {}

        def visit(uid: str, parent: Unit | None, position: list[int]) -> None:
            unit = units[uid]
            kind_raw = unit.get("Type")
            if kind_raw in STATION_TYPES:
                if parent is None:
                    raise NistImportError(f"polling place {uid} has no parent unit")
                counter[parent.id] = counter.get(parent.id, 0) + 1
                stations.append(
                    Station(
                        election=election,
                        unit=parent,
                        code=uid,
                        number=_number(unit, counter[parent.id]),
                        name=_text(unit.get("Name")) or uid,
                        **_translations(unit.get("Name")),
                        registered=_registered(unit, uid),
                        ocd_id=_ocd(unit),
                        unit_path=parent.path,
                        position=len(stations),
                    )
                )
                return
            if parent is None:
                kind = "country"
            elif kind_raw == "other" and unit.get("OtherType") == "constituency":
                kind = "constituency"
            elif kind_raw in ("state", "province", "region", "territory"):
                kind = "region"
            else:
                kind = "other"
            node = Unit.objects.create(
                election=election,
                parent=parent,
                kind=kind,
                code=uid,
                number=_number(unit, position[0]) if parent else None,
                name=_text(unit.get("Name")) or uid,
                **_translations(unit.get("Name")),
                ocd_id=_ocd(unit),
                depth=parent.depth + 1 if parent else 0,
                position=position[0],
            )
            position[0] += 1
            node.path = f"{parent.path if parent else '/'}{node.id}/"
            node.save(update_fields=["path"])
            created[uid] = node
            for child in unit.get("ComposingGpUnitIds") or []:
                visit(child, node, position)

        visit(roots[0], None, [0])
        Station.objects.bulk_create(stations, batch_size=2000)
        Candidate.objects.bulk_create(
            Candidate(
                election=election,
                number=i,
                name=_text(candidates[cid].get("BallotName")) or cid,
                **_translations(candidates[cid].get("BallotName")),
                party=parties.get(candidates[cid].get("PartyId", ""), ""),
                **party_names.get(candidates[cid].get("PartyId", ""), {}),
            )
            for i, cid in enumerate(order, start=1)
        )
    return election
