"""Verification of the public transparency log in the visitor's browser (issue 14, items 6–7).

The station page checks its own protocol against the log (``static/portal/verify.js``), the
election's "verify" page recomputes every total in a Web Worker (``verify-election.js``,
``verify-worker.js``), both on ``static/portal/tlog.js`` (the checks of :mod:`secki.tlog` and
:mod:`secki.verifier` again, in JavaScript) and, where the browser's WebCrypto lacks Ed25519
or SHA-256, the vendored ``static/vendor/noble/noble.js``. The scripts fetch the log's static
files under ``/log/`` (:mod:`secki.opendata.transparency`), never a page's figures from the
server, and compare what they verified with what the page shows.

Here: where the log is served, the station's hints file, what the station page tells the
script about the log (:func:`station_log`), and the scripts' translated sentences
(:func:`messages`), rendered into the pages as a JSON script element (the site's
Content-Security-Policy allows no inline script; a JSON data block is not one).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import get_script_prefix, reverse
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from secki.elections.models import Election, Station
from secki.ledger import store
from secki.ledger.drafts import protocol_subject
from secki.opendata.transparency import hint_path

VKEY = "log.vkey"


#: script prefix → :func:`log_prefix` (reversed once per process)
_prefixes: dict[str, str] = {}


def log_prefix() -> str:
    """The URL path the site's log is served under (``/log/``)."""
    script = get_script_prefix()
    found = _prefixes.get(script)
    if found is None:
        found = _prefixes[script] = reverse("log:file", kwargs={"name": VKEY})[: -len(VKEY)]
    return found


@dataclass(frozen=True)
class StationLog:
    """What the station page says about the log, read from the database's log entries (never
    from the protocol's values): the log's size when the page was made, and the leaf index,
    leaf hash and kind of the station's last protocol entry (accepted, amended or annulled)."""

    size: int
    index: int | None = None
    leaf_hash: str = ""
    kind: str = ""

    @property
    def annulled(self) -> bool:
        return self.kind == "protocol.annulled"


def station_log(election: Election, station: Station) -> StationLog:
    _seq, size, last = store.head(election.id, protocol_subject(station.code))
    if last is None:
        return StationLog(size)
    return StationLog(size, last.index, last.leaf_hash, last.kind)


def station_hint(election: Election, station: Station) -> str:
    """The station's hints file under its election's log directory."""
    return hint_path(election.slug, station.code)


#: language → the scripts' sentences (the catalogues do not change while a process runs)
_messages: dict[str, dict[str, str]] = {}


def messages() -> dict[str, str]:
    """The scripts' sentences in the visitor's language, by code (tlog.js's VerifyError codes,
    the pages' own); ``%(name)s`` is filled in by the script. Made once per language."""
    language = get_language() or ""
    found = _messages.get(language)
    if found is None:
        found = _messages[language] = _sentences()
    return found


def _sentences() -> dict[str, str]:
    return {
        "nothing": pgettext("a missing value", "nothing"),
        "unexpected": _("The check stopped: %(detail)s"),
        "checking": _("Checking this page against the public log…"),
        "verified": _(
            "Verified against checkpoint %(size)s, signed by %(log)s, cosigned by %(witnesses)s."
        ),
        "verified_alone": _(
            "Verified against checkpoint %(size)s, signed by %(log)s (the site's witness policy "
            "asks for no cosignature)."
        ),
        "failed": _("This page does not match the public log:"),
        "pending": _(
            "This page was made from %(page)s log entries, the latest published checkpoint has "
            "%(size)s: checking again in a few seconds…"
        ),
        "stale": _(
            "The published log has not caught up with this page (the page: %(page)s entries, "
            "the checkpoint: %(size)s)."
        ),
        "empty": _(
            "The public log (checkpoint %(size)s, signed by %(log)s) holds no entry of this "
            "station yet, and this page shows none."
        ),
        # what passed
        "ok_key": _(
            "Log key %(key)s: compare it with the key the election authority publishes elsewhere."
        ),
        "ok_checkpoint": _(
            "Checkpoint %(size)s: the log's Ed25519 signature verifies, and so do the "
            "cosignatures of %(count)s distinct witnesses (quorum: %(quorum)s)."
        ),
        "ok_key_pinned": _("Log key %(key)s, the one this browser trusted on an earlier visit."),
        "ok_consistent": _(
            "It extends checkpoint %(old)s, which this browser verified on an earlier visit: "
            "no history was rewritten in between."
        ),
        "ok_same": _("It is the checkpoint this browser verified on an earlier visit."),
        "ok_included": _(
            "%(count)s entries of this station are in the log, each checked against its tile "
            "and proven included in checkpoint %(size)s."
        ),
        "ok_lines": _(
            "The %(count)s protocol lines on this page equal log entry %(index)s, and so does "
            "the page's SHA-256."
        ),
        "ok_annulled": _(
            "The log records the annulment too (entry %(index)s): this station's numbers are "
            "not counted."
        ),
        "ok_none": _("Neither this page nor the log counts a protocol of this station yet."),
        "ok_scan": _(
            "The scan the log names (SHA-256 %(sha)s) is linked on this page, and the published "
            "file has that hash."
        ),
        "ok_turnout": _("The %(count)s turnout reports on this page equal the log's."),
        "ok_crypto": _("Signatures checked with %(ed25519)s, hashes with %(sha256)s."),
        # what failed: the files
        "fetch": _("%(file)s could not be downloaded (%(status)s)."),
        "missing": _("%(file)s is missing from the published log."),
        "key": _("The site's log key (log.vkey) is malformed."),
        "policy": _("The site's witness policy (witnesses.txt) is malformed."),
        "note": _("The checkpoint is not a well-formed signed note."),
        "checkpoint": _("The checkpoint's text is malformed."),
        "tile": _("%(file)s is malformed."),
        "bundle": _("%(file)s is malformed."),
        "tile_range": _("The tiles do not fit a log of %(size)s entries."),
        "hints": _("The station's hints file is malformed."),
        "results": _("%(file)s is malformed."),
        # the signature, the quorum, the history
        "signature": _(
            "Signature: the log's signature (%(log)s) on the checkpoint does not verify."
        ),
        "unsigned": _("Signature: the checkpoint carries no signature of the log key %(log)s."),
        "cosignature": _("Quorum: the cosignature of %(witness)s does not verify."),
        "future": _(
            "Quorum: the cosignature of %(witness)s is dated more than 10 minutes in the future."
        ),
        "quorum": _(
            "Quorum: %(count)s distinct witnesses of the policy cosigned the checkpoint, "
            "%(quorum)s are required."
        ),
        "key_changed": _(
            "The site's log key is now %(new)s, but this browser trusted %(old)s on an earlier "
            "visit: compare the new key with the one the election authority publishes "
            "elsewhere before you trust it."
        ),
        "policy_changed": _(
            "The site's witness policy is not the one this browser trusted on an earlier visit "
            "(other witnesses or another quorum): compare it with the witnesses' own "
            "publications before you trust it."
        ),
        "origin": _("The checkpoint is of the log %(origin)s, not %(expected)s."),
        "consistency": _(
            "Consistency: checkpoint %(size)s does not extend checkpoint %(old)s, which this "
            "browser verified earlier: the history was rewritten."
        ),
        "shrunk": _(
            "Consistency: the log now has %(size)s entries, fewer than the %(old)s this browser "
            "verified earlier."
        ),
        "fork": _(
            "Consistency: checkpoint %(size)s has another root than the checkpoint of the same "
            "size this browser verified earlier: two different logs were shown."
        ),
        "crypto": _(
            "This browser cannot check Ed25519 signatures: its WebCrypto lacks them and the "
            "fallback library could not be loaded."
        ),
        # the entries
        "entry_hash": _(
            "Inclusion: entry %(index)s in %(file)s does not hash to its tile: the published "
            "entry was changed after it was logged."
        ),
        "entry_changed": _(
            "Log entry %(index)s, a %(kind)s of station %(station)s, was changed after it was "
            "logged: it does not hash to its tile (%(file)s)."
        ),
        "inclusion": _(
            "Inclusion: entry %(index)s is not in the tree of checkpoint %(size)s: its path "
            "from the tiles does not lead to the signed root."
        ),
        "not_station": _("The hints name entry %(index)s, which is not an entry of this station."),
        "invalid": _("Entry %(index)s breaks the log's rules: %(rule)s."),
        "chain": _(
            "Entry %(index)s does not follow the station's previous protocol entry (its prev or "
            "version): entries of this station are missing from the hints, or the log is "
            "invalid."
        ),
        "rule_canonical": _("it is not canonical JSON"),
        "rule_fields": _("a field is missing, unknown or malformed"),
        "rule_prev": _("its prev does not name the entry it supersedes"),
        "rule_version": _("its version does not follow the one before"),
        "rule_already-accepted": _("a second acceptance while a protocol counts"),
        "rule_nothing-effective": _("an amendment or annulment with no protocol counted"),
        "rule_election-state": _("the election opens or closes out of turn"),
        "rule_anchor": _("a chain anchor that is not the first entry"),
        # the page against the log
        "line": _("line %(line)s: page %(page)s, log %(log)s"),
        "turnout": _("turnout at %(time)s: page %(page)s, log %(log)s"),
        "page_none_log_counted": _(
            "The page shows no counted protocol, but the log counts entry %(index)s."
        ),
        "page_annulled_log_counted": _(
            "The page says the protocol was annulled, but the log still counts entry %(index)s."
        ),
        "page_counted_log_annulled": _(
            "The page shows a counted protocol, but the log annulled it (entry %(index)s)."
        ),
        "page_counted_log_none": _(
            "The page shows a counted protocol, but the log counts none for this station."
        ),
        "page_annulled_log_none": _(
            "The page says the protocol was annulled, but the log holds no such annulment."
        ),
        "page_index": _(
            "The page names log entry %(page)s, but the log's entry for this protocol is %(log)s."
        ),
        "page_hash": _("The page's SHA-256 %(page)s is not the log entry's %(log)s."),
        "scan_page": _(
            "Scan: the log names a scan with SHA-256 %(sha)s, but no scan on this page has that "
            "hash."
        ),
        "scan_missing": _("Scan: scans/%(sha)s, named by the log, is not published."),
        "scan_file": _(
            "Scan: the published file scans/%(sha)s has SHA-256 %(got)s: it was altered."
        ),
        # the whole election
        "e_worker": _("This browser cannot run the check (it has no Web Worker)."),
        "e_phase_checkpoint": _("Opening the checkpoint…"),
        "e_phase_root": _("Checking the entries against the signed root…"),
        "e_phase_results": _("Comparing the totals…"),
        "e_phase_register": _("Checking the register files…"),
        "e_progress": _("%(done)s of %(total)s entries downloaded and replayed"),
        "e_verified": _(
            "Every number verified: the %(size)s entries of the log, signed by %(log)s and "
            "cosigned by %(witnesses)s, add up exactly to results/%(results)s.json: the "
            "national totals, %(units)s units and %(stations)s stations counted."
        ),
        "e_verified_alone": _(
            "Every number verified: the %(size)s entries of the log, signed by %(log)s, add up "
            "exactly to results/%(results)s.json: the national totals, %(units)s units and "
            "%(stations)s stations counted."
        ),
        "e_failed": _("The published results do not match the log. The first difference:"),
        "e_more": _("… and %(count)s more."),
        "root": _(
            "The %(size)s entries do not hash to the checkpoint's root: the published files are "
            "not the signed log."
        ),
        "results_copy": _(
            "results/%(size)s.json differs from results/latest.json, which claims to copy it."
        ),
        "results_checkpoint": _(
            "The checkpoint inside results/%(size)s.json is not of its size and root."
        ),
        "results_root": _(
            "results/%(size)s.json states a root that is not the root of the log's first "
            "%(size)s entries."
        ),
        "r_election": _("The results file is of election %(published)s, not %(log)s."),
        "r_stations": _("stations counted: published %(published)s, the log has %(log)s"),
        "r_line": _("national line %(line)s: published %(published)s, the log adds up to %(log)s"),
        "r_unit_line": _(
            "unit %(unit)s, line %(line)s: published %(published)s, the log adds up to %(log)s"
        ),
        "r_unit_missing": _(
            "unit %(unit)s: missing from the results file, though the log counts stations in it"
        ),
        "r_unregistered": _(
            "Station %(station)s is counted in the log but is not in the published register."
        ),
        "no_register": _(
            "The log has no register files before entry %(size)s: the units cannot be checked."
        ),
        "register_missing": _(
            "register/%(sha)s (%(file)s of entry %(index)s) is missing from the published log."
        ),
        "register_altered": _(
            "register/%(sha)s (%(file)s of entry %(index)s) does not have that SHA-256: it was "
            "altered."
        ),
    }
