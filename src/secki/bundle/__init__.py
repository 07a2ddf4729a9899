"""The election bundle: a directory of CSV files plus ``election.json`` (docs/formats.md).

Pure Python (no Django): :mod:`secki.bundle.write` is used by the simulator and the exporter,
:mod:`secki.bundle.read` parses and validates a bundle before anything touches the database.
"""

FORMAT = "secki-bundle/1"
ELECTION_FILE = "election.json"

UNIT_COLUMNS = ["code", "parent", "kind", "number", "name", "ocd_id"]
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
STATION_EXTRA_COLUMNS = ["webcam_url"]
#: optional units.csv column: the seats a district elects (proportional, per district); written
#: last and only when some unit has seats, like the optional station columns
UNIT_EXTRA_COLUMNS = ["seats"]
CANDIDATE_COLUMNS = ["number", "name", "party"]
#: optional candidates.csv column: the official number printed on the ballot, when it is not
#: the ballot order (3, 4, 5 … 41); written last and only when some candidate has one
CANDIDATE_EXTRA_COLUMNS = ["ballot_number"]
#: optional candidates.csv column: the code of the protocol's contest the candidate stands in
#: (a protocol with more than one contest); written after ``ballot_number``, only when used
CANDIDATE_CONTEST_COLUMN = "contest"
#: win rules and their settings (docs/formats.md, ``win_rule``)
WIN_RULES = ("absolute_majority", "plurality", "proportional", "referendum")
SEAT_METHODS = ("dhondt", "sainte_lague", "hare")
SEAT_SCOPES = ("national", "district")
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
