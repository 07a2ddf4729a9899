"""The hash chain becomes the entries of the public Merkle log (issue 14), step 2 of 3: every
row of the old chain is rewritten in place, in its original order, as the entry the new code
would have written (spec/transparency.md §5.5, migration).

- Rows without an election are dropped: they were global facts (imports, deletions …), which
  the audit trail also holds, and a log belongs to one election.
- Per election, entry 0 is a new ``chain.anchor`` naming the old chain's last sequence number
  and hash (the whole chain's, dropped rows included), which binds both histories; the old
  rows follow in their order, as leaves 1, 2, … . ``seq`` is renumbered over all elections
  in the old order, each anchor just before its election's first row; the rows keep their
  ids, so scans still name their entry.
- A protocol row whose version was published (status ``published``) becomes
  ``protocol.accepted`` or ``protocol.amended`` with the line values of that station's
  Protocol/ProtocolValue rows of that version and the SHA-256 of its latest scan uploaded
  before it; an annulment of a published protocol ``protocol.annulled``; any other protocol
  row (accepted but not public, annulled before publication) ``protocol.status``, or a
  ``protocol.annulled`` when it replaced a published version (the public totals stopped
  counting the station: :class:`secki.ledger.drafts.ProtocolStatus`). Turnout
  rows become ``turnout.reported`` with the logged time, voters and reason; scan rows
  ``scan.uploaded``.
- Election rows (``election.status``, ``election.settings``), register amendments and
  integrity facts become generic entries with their logged fields. Status changes are not
  turned into ``election.published``: the settings and the register of that time were not
  kept, so nothing could say their SHA-256. The next opening of the election writes
  ``election.published`` and ``register.published``.
"""

import datetime as dt
import json

from django.db import migrations
from django.db.migrations.exceptions import IrreversibleError
from django.db.models import F

from secki.ledger import drafts
from secki.tlog import entries
from secki.tlog.merkle import leaf_hash

BATCH = 1000
FIELDS = ["seq", "index", "kind", "subject", "version", "body", "leaf_hash"]


class _Election:
    """One election's log while it is rebuilt: its next index, each subject's last entry,
    and the rows that the entries read (loaded once)."""

    def __init__(self, apps, election_id):
        Election = apps.get_model("elections", "Election")
        Station = apps.get_model("elections", "Station")
        Protocol = apps.get_model("protocols", "Protocol")
        ProtocolScan = apps.get_model("protocols", "ProtocolScan")
        self.apps = apps
        self.slug = Election.objects.get(pk=election_id).slug
        self.index = 0
        self.last = {}
        self.stations = dict(
            Station.objects.filter(election_id=election_id).values_list("code", "id")
        )
        self.protocols = {
            (station, version): pk
            for pk, station, version in Protocol.objects.filter(
                election_id=election_id
            ).values_list("id", "station_id", "version")
        }
        self.scans = {}
        for protocol, sha256, seq in (
            ProtocolScan.objects.filter(election_id=election_id)
            .order_by("ledger__seq")
            .values_list("protocol_id", "sha256", "ledger__seq")
        ):
            self.scans.setdefault(protocol, []).append((seq, sha256))

    def lines(self, station, version):
        pk = self.protocols.get((self.stations.get(station), version))
        if pk is None:
            return None, None
        ProtocolValue = self.apps.get_model("protocols", "ProtocolValue")
        values = dict(ProtocolValue.objects.filter(protocol_id=pk).values_list("code", "value"))
        return pk, values or None

    def scan_before(self, protocol, seq):
        latest = None
        for scan_seq, sha256 in self.scans.get(protocol, []):
            if scan_seq < seq:
                latest = sha256
        return latest


def _draft(log, row, payload):
    kind = row.kind
    at = row.at
    station = str(payload.get("station", ""))
    if kind in ("protocol.accepted", "protocol.resolved", "protocol.published", "protocol.amended"):
        status = payload.get("status")
        if status == "published":
            pk, lines = log.lines(station, payload.get("version"))
            if lines is not None:
                return drafts.ProtocolPublic(
                    log.slug,
                    at,
                    station,
                    lines,
                    scan_sha256=log.scan_before(pk, row.seq),
                    reason=payload.get("reason") if kind == "protocol.amended" else None,
                )
        return drafts.ProtocolStatus(log.slug, at, station, str(status), payload.get("version"))
    if kind == "protocol.annulled":
        return drafts.ProtocolAnnulled(
            log.slug,
            at,
            station,
            str(payload.get("reason") or ""),
            decision=payload.get("decision") or None,
        )
    if kind in ("turnout.reported", "turnout.corrected"):
        return drafts.TurnoutReported(
            log.slug,
            at,
            station,
            str(payload["time"]),
            int(payload["voters"]),
            reason=payload.get("reason") or None,
        )
    if kind == "scan.uploaded":
        return drafts.ScanUploaded(
            log.slug,
            at,
            station,
            int(payload["version"]),
            str(payload["sha256"]),
            int(payload["size"]),
            str(payload["content_type"]),
        )
    about = kind.split(".", 1)[0]
    fields = {k: v for k, v in payload.items() if k not in drafts.GENERIC_KEYS}
    return drafts.Generic(log.slug, at, kind, about, fields)


def convert(apps, schema_editor):
    LedgerEntry = apps.get_model("ledger", "LedgerEntry")
    head = LedgerEntry.objects.order_by("-seq").first()
    if head is None:
        return
    head_seq, head_hash = head.seq, head.hash
    LedgerEntry.objects.filter(election__isnull=True).delete()
    elections = LedgerEntry.objects.values("election_id").distinct().count()
    # out of the way of the new numbers (1 … rows + elections), which are all below it
    offset = head_seq + elections + 1
    LedgerEntry.objects.update(seq=F("seq") + offset)
    now = dt.datetime.now(dt.UTC)
    anchor = entries.chain_anchor(head_seq, head_hash, now)
    logs = {}
    seq = 0
    changed = []
    anchors = []
    # read whole before any row changes (SQLite does not isolate a read from its own writes)
    for row in list(LedgerEntry.objects.order_by("seq")):
        log = logs.get(row.election_id)
        if log is None:
            log = logs[row.election_id] = _Election(apps, row.election_id)
            seq += 1
            anchors.append(
                LedgerEntry(
                    seq=seq,
                    election_id=row.election_id,
                    index=0,
                    at=now,
                    kind=entries.CHAIN_ANCHOR,
                    subject=drafts.CHAIN,
                    version=None,
                    body=anchor.decode(),
                    leaf_hash=leaf_hash(anchor).hex(),
                )
            )
            log.index = 1
        body = json.loads(row.body)
        payload = body.get("payload") or {}
        draft = _draft(log, row, payload)
        last = log.last.get(draft.subject) if draft.chained else None
        built = draft.build(last)
        seq += 1
        row.seq = seq
        row.index = log.index
        row.kind = built.kind
        row.subject = draft.subject
        row.version = built.version
        row.body = built.body.decode()
        row.leaf_hash = leaf_hash(built.body).hex()
        if built.version is not None:
            log.last[draft.subject] = drafts.Last(
                row.index, row.leaf_hash, built.version, built.kind, row.body
            )
        log.index += 1
        changed.append(row)
        if len(changed) >= BATCH:
            LedgerEntry.objects.bulk_update(changed, FIELDS)
            changed = []
    LedgerEntry.objects.bulk_update(changed, FIELDS)
    LedgerEntry.objects.bulk_create(anchors)


def refuse(apps, schema_editor):
    if apps.get_model("ledger", "LedgerEntry").objects.exists():
        raise IrreversibleError("the log's entries cannot be turned back into a hash chain")


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_log_entries"),
        ("elections", "0004_registered_below_count_limit"),
        ("protocols", "0006_legal_record_foreign_keys"),
        ("turnout", "0002_drop_covered_fk_indexes"),
    ]

    operations = [migrations.RunPython(convert, refuse)]
