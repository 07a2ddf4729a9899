"""The election bundle: a directory of CSV files plus ``election.json`` (docs/formats.md).

Pure Python (no Django): :mod:`secki.bundle.write` is used by the simulator and the exporter,
:mod:`secki.bundle.read` parses and validates a bundle before anything touches the database.
"""

from collections.abc import Sequence

FORMAT = "secki-bundle/1"
ELECTION_FILE = "election.json"

#: the languages of a name's optional translations (the site's languages besides English);
#: the English ``name`` stays the required one, and a page in a language without a
#: translation shows it
NAME_LANGUAGES = ("az", "ru")


def translated(column: str) -> list[str]:
    """The optional columns (or election.json keys) of ``column``'s translations:
    ``name`` → ``name_az``, ``name_ru``."""
    return [f"{column}_{language}" for language in NAME_LANGUAGES]


#: election.json's optional keys of the election's translated name
ELECTION_NAME_KEYS = translated("name")
UNIT_COLUMNS = ["code", "parent", "kind", "number", "name", "ocd_id"]
#: optional units.csv columns: the translated names, and the seats a district elects
#: (proportional, per district); written last and only when some unit fills them
UNIT_EXTRA_COLUMNS = [*translated("name"), "seats"]
STATION_COLUMNS = [
    "code",
    "unit",
    "number",
    "name",
    "address",
    "registered",
    "latitude",
    "longitude",
    "abroad",
    "temporary",
    "webcam",
    "ocd_id",
]
#: optional stations.csv columns added after the format's first version: a bundle without them
#: still imports, and the canonical writer puts them last, only when some station has a value
#: (so bundles without them round-trip byte for byte, and so do those with them)
STATION_EXTRA_COLUMNS = ["webcam_url", *translated("name")]
CANDIDATE_COLUMNS = ["number", "name", "party"]
#: optional candidates.csv column: the code of the protocol's contest the candidate stands in
#: (a protocol with more than one contest); written only when used
CANDIDATE_CONTEST_COLUMN = "contest"
#: optional candidates.csv columns: the translated names and parties, the official number
#: printed on the ballot when it is not the ballot order (3, 4, 5 … 41), and the contest; written
#: last and only when some candidate fills them
CANDIDATE_EXTRA_COLUMNS = [
    *translated("name"),
    *translated("party"),
    "ballot_number",
    CANDIDATE_CONTEST_COLUMN,
]
#: win rules and their settings (docs/formats.md, ``win_rule``)
WIN_RULES = ("absolute_majority", "plurality", "proportional", "referendum")
SEAT_METHODS = ("dhondt", "sainte_lague", "hare")
SEAT_SCOPES = ("national", "district")


def filled_columns(extra: list[str], records: Sequence[object]) -> list[str]:
    """The optional columns of ``extra`` that some record (an object with those attributes)
    fills, in ``extra``'s order: what the canonical writer puts after a file's own columns."""
    return [c for c in extra if any(getattr(r, c) not in (None, "") for r in records)]


TURNOUT_COLUMNS = ["station", "time", "voters"]
TRUTH_COLUMNS = [
    "station",
    "stuffing",
    "stuffing_x",
    "integer_rewrite",
    "turnout_before",
    "turnout_after",
    "leader_share_before",
    "leader_share_after",
]
ELECTION_KINDS = ("presidential", "parliamentary", "referendum", "other")
UNIT_KINDS = ("country", "region", "constituency", "other")
