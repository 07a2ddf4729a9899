"""Turn a bulk download back into an election bundle that ``secki import`` loads.

Pure Python (no Django). The download's ``stations.csv.gz`` holds the bundle's
``stations.csv`` columns (``code`` named ``station``) and its ``protocols.csv`` columns side by
side; this splits them again, keeps the protocols that are published (counted), and copies
``election.json``, ``units.csv``, ``candidates.csv`` and the unzipped ``turnout.csv``::

    secki bundle-from-bulk DOWNLOAD_DIR BUNDLE_DIR [--slug NEW]
    secki import BUNDLE_DIR

Annulled stations keep their register row and lose their protocol (it is not counted), so
the imported election has the same totals as the published one.
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

from secki.bundle import ELECTION_FILE, STATION_COLUMNS, STATION_EXTRA_COLUMNS, TURNOUT_COLUMNS

BULK_FILE = "stations.csv.gz"
TURNOUT_FILE = "turnout.csv.gz"
REGISTRY_FILES = ("units.csv", "candidates.csv")
LAST_STATUS_FIELD = "annulment"


class RoundTripError(ValueError):
    pass


def _filled_columns(bulk: Path, index: dict[str, int]) -> list[str]:
    """The optional station columns that some row fills (the canonical bundle writer leaves
    out the others), found in a first pass over the file."""
    wanted = {c: index[c] for c in STATION_EXTRA_COLUMNS if c in index}
    filled: set[str] = set()
    with gzip.open(bulk, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            filled.update(c for c, i in wanted.items() if row[i])
            if len(filled) == len(wanted):
                break
    return [c for c in STATION_EXTRA_COLUMNS if c in filled]


def bundle_from_bulk(source: Path, target: Path, *, slug: str | None = None) -> dict[str, int]:
    """Write a bundle directory ``target`` from the downloaded files in ``source``."""
    missing = [
        name
        for name in (ELECTION_FILE, *REGISTRY_FILES, BULK_FILE)
        if not (source / name).is_file()
    ]
    if missing:
        raise RoundTripError(f"{source}: missing {', '.join(missing)}")
    target.mkdir(parents=True, exist_ok=True)
    settings = json.loads((source / ELECTION_FILE).read_text(encoding="utf-8"))
    if slug:
        settings["slug"] = slug
    (target / ELECTION_FILE).write_text(
        json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    for name in REGISTRY_FILES:
        shutil.copyfile(source / name, target / name)
    written = {"stations.csv": 0, "protocols.csv": 0, "turnout.csv": 0}
    with gzip.open(source / BULK_FILE, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if "station" not in header or LAST_STATUS_FIELD not in header:
            raise RoundTripError(f"{BULK_FILE}: not a Secki bulk file (header {header[:4]} …)")
        index = {name: i for i, name in enumerate(header)}
        lines = header[index[LAST_STATUS_FIELD] + 1 :]
        extra = _filled_columns(source / BULK_FILE, index)
        columns = [*STATION_COLUMNS, *extra]
        station_cols = ["station" if c == "code" else c for c in columns]
        with (
            (target / "stations.csv").open("w", encoding="utf-8", newline="") as st,
            (target / "protocols.csv").open("w", encoding="utf-8", newline="") as pr,
        ):
            stations = csv.writer(st, lineterminator="\n")
            protocols = csv.writer(pr, lineterminator="\n")
            stations.writerow(columns)
            protocols.writerow(["station", *lines])
            for row in reader:
                stations.writerow([row[index[c]] for c in station_cols])
                written["stations.csv"] += 1
                if row[index["status"]] == "published":
                    protocols.writerow([row[index["station"]], *(row[index[c]] for c in lines)])
                    written["protocols.csv"] += 1
    turnout = source / TURNOUT_FILE
    with (target / "turnout.csv").open("w", encoding="utf-8", newline="") as out:
        if turnout.is_file():
            with gzip.open(turnout, "rt", encoding="utf-8", newline="") as handle:
                for i, line in enumerate(handle):
                    out.write(line)
                    written["turnout.csv"] += 1 if i else 0
        else:
            out.write(",".join(TURNOUT_COLUMNS) + "\n")
    return written
