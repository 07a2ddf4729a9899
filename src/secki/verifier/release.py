"""An open-data release (``/data/<slug>/v<seq>/``) compared, station by station, with the
election's log: the publisher links the newest one beside the log (``<slug>/opendata.json``
names its ``manifest.json``, ``<slug>/opendata/<sha256>`` holds it and the files below), and
its manifest states the log's size it reflects (``log_size``) and the leaf hash of that size's
last entry (``ledger_hash``).

At that size, with the register the log had published by then:

* ``stations.csv.gz`` (the bulk CSV): every station of the register once, each register
  column equal to the register's ``stations.csv``, the protocol's status, version and every
  line equal to the station's effective protocol in the log (or nothing counted when the log
  counts nothing);
* ``turnout.csv.gz``: exactly the log's current turnout reports;
* ``nist.json.gz`` (NIST SP 1500-100 v2): every candidate's name, every station's registered
  voters, every station's and unit's vote count per candidate;
* ``candidates.csv``, ``units.csv``: the register's files byte for byte; ``election.json``: the
  file whose SHA-256 the last ``election.published`` or ``election.settings`` entry gives.

Each difference is one message naming the file, the line (or the JSON object), the station,
unit or candidate, and both numbers.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Mapping
from typing import Any

from secki.tlog.entries import Tally
from secki.verifier.register import (
    CANDIDATE_PREFIX,
    CANDIDATES_FILE,
    UNITS_FILE,
    Register,
    RegisterError,
    first_difference,
    read_table,
)

STATIONS_CSV = "stations.csv.gz"
TURNOUT_CSV = "turnout.csv.gz"
NIST = "nist.json.gz"
ELECTION_JSON = "election.json"
MANIFEST = "manifest.json"
#: the release files compared with the log (the publisher's ``RELEASE_FILES``)
FILES = (STATIONS_CSV, TURNOUT_CSV, NIST, ELECTION_JSON, UNITS_FILE, CANDIDATES_FILE)
#: the bulk CSV's columns before the protocol's lines (docs/formats.md)
STATUS_COLUMNS = ("status", "version", "annulment")
BULK_FIXED = ("station", "unit_name", *STATUS_COLUMNS)
#: bytes a release file may have once decompressed
MAX_UNPACKED = 1 << 30


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
            out = handle.read(MAX_UNPACKED + 1)
    except (OSError, EOFError) as exc:
        raise RegisterError(f"{name} is not gzip: {exc}") from None
    if len(out) > MAX_UNPACKED:
        raise RegisterError(f"{name} is larger than {MAX_UNPACKED} bytes unpacked")
    return out


def compare_release(
    files: Mapping[str, bytes],
    register: Register,
    register_files: Mapping[str, bytes],
    settings: bytes | None,
    tally: Tally,
    *,
    check_settings: bool = True,
) -> list[str]:
    """Every difference between the release's ``files`` and the log at ``tally``'s size
    (``election.json`` with ``settings``, the file the log names last, if ``check_settings``)."""
    problems: list[str] = []
    at = f"the log at size {tally.tree_size}"
    for name in (UNITS_FILE, CANDIDATES_FILE):
        found = first_difference(
            files[name], register_files[name], name, f"the register's {name} in {at}"
        )
        if found:
            problems.append(found)
    if not check_settings:
        pass
    elif settings is None:
        problems.append(f"{ELECTION_JSON}: {at} names no election.json (election.published)")
    else:
        found = first_difference(
            files[ELECTION_JSON], settings, ELECTION_JSON, "the election.json the log names"
        )
        if found:
            problems.append(found)
    try:
        problems += _stations(_gunzip(files[STATIONS_CSV], STATIONS_CSV), register, tally)
        problems += _turnout(_gunzip(files[TURNOUT_CSV], TURNOUT_CSV), tally)
        problems += _nist(_gunzip(files[NIST], NIST), register, tally)
    except RegisterError as exc:
        problems.append(str(exc))
    return problems


def _stations(data: bytes, register: Register, tally: Tally) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for row in read_table(data, STATIONS_CSV):
        code = row.cells.get("station", "")
        where = f"{STATIONS_CSV} line {row.line} (station {code})"
        listed = register.stations.get(code)
        if listed is None:
            problems.append(f"{where}: not a station of the register")
            continue
        if code in seen:
            problems.append(f"{where}: the station's second row")
            continue
        seen.add(code)
        for column, logged in listed.cells.items():
            if column == "code":
                continue
            published = row.cells.get(column)
            if published != logged:
                problems.append(
                    f"{where}: {column} is {_show(published)}, the register (stations.csv line "
                    f"{listed.line}) has {_show(logged)}"
                )
        effective = tally.protocols.get(code)
        status = row.cells.get("status", "")
        extra = [c for c in row.cells if c not in BULK_FIXED and c not in listed.cells]
        if effective is None:
            if status == "published":
                problems.append(
                    f"{where}: status published, the log counts no protocol of this station"
                )
            continue
        if status != "published":
            problems.append(
                f"{where}: status {_show(status)}, the log counts version {effective.version} "
                f"(entry {effective.index})"
            )
            continue
        if row.cells.get("version") != str(effective.version):
            problems.append(
                f"{where}: version {_show(row.cells.get('version'))}, the log's effective "
                f"protocol is version {effective.version} (entry {effective.index})"
            )
        lines = effective.entry.lines
        for column in extra:
            published = row.cells.get(column, "")
            logged_value = lines.get(column)
            if logged_value is None:
                if published.isdigit():
                    problems.append(
                        f"{where}: line {column} is {published}, entry {effective.index} has "
                        "no such line"
                    )
            elif published != str(logged_value):
                problems.append(
                    f"{where}: line {column} is {_show(published)}, the log has {logged_value} "
                    f"(entry {effective.index})"
                )
        for column in sorted(set(lines) - set(row.cells)):
            problems.append(f"{where}: no column {column}, entry {effective.index} has it")
    for code, listed in register.stations.items():
        if code not in seen:
            problems.append(
                f"{STATIONS_CSV}: no row of station {code} (register stations.csv line "
                f"{listed.line})"
            )
    return problems


def _turnout(data: bytes, tally: Tally) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for row in read_table(data, TURNOUT_CSV):
        station, time, voters = (row.cells.get(k, "") for k in ("station", "time", "voters"))
        where = f"{TURNOUT_CSV} line {row.line} (station {station}, {time})"
        logged = tally.turnout.get(station, {}).get(time)
        seen.add((station, time))
        if logged is None:
            problems.append(f"{where}: voters {voters}, the log has no such report")
        elif voters != str(logged):
            problems.append(f"{where}: voters {_show(voters)}, the log has {logged}")
    for station, reports in sorted(tally.turnout.items()):
        for time, count in sorted(reports.items()):
            if (station, time) not in seen:
                problems.append(
                    f"{TURNOUT_CSV}: no row of station {station} at {time}, the log has "
                    f"{count} voters"
                )
    return problems


def _nist(data: bytes, register: Register, tally: Tally) -> list[str]:
    try:
        report = json.loads(data)
        election = report["Election"][0]
        candidates: list[dict[str, Any]] = election["Candidate"]
        contest = election["Contest"][0]
        units: list[dict[str, Any]] = report["GpUnit"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return [f"{NIST}: not a NIST SP 1500-100 election report ({exc!r})"]
    problems: list[str] = []
    names = {}
    for item in candidates:
        ident = str(item.get("@id", ""))
        number = ident.removeprefix("cand-")
        try:
            name = item["BallotName"]["Text"][0]["Content"]
        except (KeyError, IndexError, TypeError):
            name = None
        names[number] = name
        listed = register.candidates.get(number)
        if listed is None:
            problems.append(f"{NIST} Candidate {ident}: not a candidate of the register")
        elif name != listed.cells.get("name"):
            problems.append(
                f"{NIST} Candidate {ident}: BallotName {_show(name)}, the register "
                f"(candidates.csv line {listed.line}) has {_show(listed.cells.get('name'))}"
            )
    for number, listed in register.candidates.items():
        if number not in names:
            problems.append(
                f"{NIST}: no Candidate cand-{number} ({listed.cells.get('name')}, "
                f"candidates.csv line {listed.line})"
            )
    for unit in units:
        ident = str(unit.get("@id", ""))
        if not ident.startswith("gpu-ps-"):
            continue
        code = ident.removeprefix("gpu-ps-")
        listed = register.stations.get(code)
        if listed is None:
            problems.append(f"{NIST} GpUnit {ident}: not a station of the register")
        elif str(unit.get("VotersRegistered")) != listed.cells.get("registered"):
            problems.append(
                f"{NIST} GpUnit {ident} (station {code}): VotersRegistered "
                f"{unit.get('VotersRegistered')}, the register (stations.csv line {listed.line}) "
                f"has {listed.cells.get('registered')}"
            )
    by_unit = {code: u.totals for code, u in tally.by_unit(register.units_of()).items()}
    for selection in contest.get("ContestSelection", []):
        ident = str(selection.get("@id", ""))
        line = CANDIDATE_PREFIX + ident.removeprefix("sel-")
        counted: set[str] = set()
        for i, count in enumerate(selection.get("VoteCounts", [])):
            gpu = str(count.get("GpUnitId", ""))
            where = f"{NIST} ContestSelection {ident} VoteCounts[{i}] ({gpu})"
            if gpu.startswith("gpu-ps-"):
                code = gpu.removeprefix("gpu-ps-")
                counted.add(code)
                effective = tally.protocols.get(code)
                if effective is None:
                    problems.append(
                        f"{where}: a count, the log counts no protocol of station {code}"
                    )
                    continue
                logged = effective.entry.lines.get(line, 0)
                about = f"station {code} line {line} (entry {effective.index})"
            else:
                code = gpu.removeprefix("gpu-")
                logged = by_unit.get(code, {}).get(line, 0)
                about = f"unit {code} line {line}"
            if count.get("Count") != logged:
                problems.append(
                    f"{where}: Count {count.get('Count')}, the log has {logged} for {about}"
                )
        for code in sorted(set(tally.protocols) - counted):
            problems.append(
                f"{NIST} ContestSelection {ident}: no count of station {code}, which the log "
                f"counts (entry {tally.protocols[code].index})"
            )
    return problems


def _show(value: object) -> str:
    return "empty" if value in (None, "") else repr(value) if isinstance(value, str) else str(value)
