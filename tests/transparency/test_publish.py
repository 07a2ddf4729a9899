"""Publishing an election's log as static files (issue 14): what ``publish()`` writes is a log
that the tlog readers accept, whose results file states the server's own tabulation and
equals the tally of the entries, which a later publication extends consistently, with hints,
scans and register files that hash right; without the quorum of witnesses nothing is
published, with it the checkpoint carries their cosignatures; the key stays out of the
database, the logs and every error message."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from secki.cli import cli
from secki.elections.models import Election, Station, Unit
from secki.ledger.models import LedgerEntry
from secki.opendata import transparency
from secki.opendata.transparency import PublishError, publish, publish_all
from secki.protocols.actions import amend_protocol, publish_protocol, submit_protocol
from secki.protocols.models import Protocol
from secki.protocols.scans import upload_scan
from secki.results.tabulate import Tabulation
from secki.server import free_port
from secki.tlog import canonical
from secki.tlog.checkpoint import Witness as PolicyWitness
from secki.tlog.checkpoint import WitnessPolicy
from secki.tlog.entries import tally
from secki.tlog.merkle import verify_consistency
from secki.tlog.note import KeyType, Signer
from secki.tlog.results import check_results, parse_results
from secki.turnout.actions import report_turnout
from tests.portal.conftest import protocol_data, submit
from tests.transparency.conftest import LOG_NAME, SIGNER, entries_of, log_dir, opened, reader
from tests.witness.conftest import NOW, make_witness, serving

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"


def units_of(election: Election) -> dict[str, list[str]]:
    """Every station's units, from its own up to the root (the register's tree)."""
    parents = {u.id: (u.code, u.parent_id) for u in Unit.objects.filter(election=election)}
    found: dict[str, list[str]] = {}
    for code, unit_id in Station.objects.filter(election=election).values_list("code", "unit_id"):
        chain: list[str] = []
        current: int | None = unit_id
        while current is not None:
            unit_code, current = parents[current]
            chain.append(unit_code)
        found[code] = chain
    return found


def results_at(election: Election, size: int) -> bytes:
    return (log_dir(election) / f"results/{size}.json").read_bytes()


# -- a first publication --------------------------------------------------------------------


def test_a_publication_is_a_log_the_readers_accept(election: Election) -> None:
    entries = entries_of(election)
    assert entries, "the import logs the election's facts"
    done = publish(election)
    assert (done.status, done.previous, done.size) == ("published", 0, len(entries))
    assert done.appended == len(entries)

    checkpoint = opened(election).checkpoint
    assert checkpoint.origin == f"{LOG_NAME}/{election.slug}" and checkpoint.size == len(entries)
    log = reader(election)
    log.check_root()
    assert log.all_entries() == entries
    assert log.verified_entry(len(entries) - 1) == entries[-1]
    directory = log_dir(election)
    note = (directory / "checkpoint").read_bytes()
    assert (directory / f"checkpoints/{len(entries)}").read_bytes() == note
    assert not list(directory.rglob(".*.tmp"))  # no temporary file left behind


def test_the_results_file_states_the_tabulation_which_the_entries_add_up_to(
    election: Election,
) -> None:
    publish(election)
    entries = entries_of(election)
    data = results_at(election, len(entries))
    assert (log_dir(election) / "results/latest.json").read_bytes() == data
    document = parse_results(data)
    tabulation = Tabulation(election, public=True)
    national = tabulation.result().totals
    assert document.totals == dict(sorted(national.lines.items())) != {}
    assert document.stations_counted == national.stations_reported == 4
    tallied = tally(entries, election.slug)
    assert document.totals == tallied.totals
    assert document.stations_counted == tallied.stations_counted
    # every unit of the tree, as the tabulation has it and as the entries add up
    assert document.units is not None
    assert set(document.units) == {u.code for u in tabulation.units.values()}
    for unit in tabulation.units.values():
        assert document.units[unit.code] == dict(sorted(tabulation.totals[unit.id].lines.items()))
    # and a verifier's full check passes: signature, root, validity, every total and unit
    check_results(
        data,
        entries,
        SIGNER.verifier,
        WitnessPolicy((), 0),
        transparency.origin(election.slug),
        int(dt.datetime.now(dt.UTC).timestamp()),
        units_of=units_of(election),
    )


def test_hints_and_register_files_are_published(election: Election) -> None:
    publish(election)
    directory = log_dir(election)
    stations: dict[str, list[int]] = {}
    register: set[str] = set()
    for index, entry in enumerate(entries_of(election)):
        fields = json.loads(entry)
        if "station" in fields:
            stations.setdefault(fields["station"], []).append(index)
        if fields["kind"] == "register.published":
            register.update(fields["files"].values())
        if fields["kind"] == "election.published":
            register.add(fields["settings_sha256"])
    assert set(stations) == {"1-1", "1-2", "2-1", "2-2"}
    for code, indexes in stations.items():
        hint = canonical.decode((directory / f"hints/{election.slug}/{code}.json").read_bytes())
        assert hint == {"election": election.slug, "station": code, "indexes": indexes}
    assert register, "the register's files are named by the log"
    published = {p.name for p in (directory / "register").iterdir()}
    assert published == register
    for sha in register:
        assert hashlib.sha256((directory / "register" / sha).read_bytes()).hexdigest() == sha
    assert canonical.decode((directory / ".pending").read_bytes()) == {"register": [], "scans": []}


def test_the_site_files_name_the_key_the_policy_and_the_logs(
    election: Election, waiting: Election
) -> None:
    done = publish_all()
    assert {d.election: d.status for d in done} == {
        election.slug: "published",
        waiting.slug: "published",
    }
    root = transparency.root_dir()
    assert (root / "log.vkey").read_text() == SIGNER.verifier.format() + "\n"
    assert (root / "witnesses.txt").read_text() == "quorum 0\n"
    assert canonical.decode((root / "elections.json").read_bytes()) == {
        "logs": [
            {"election": e.slug, "origin": f"{LOG_NAME}/{e.slug}", "path": f"{e.slug}/"}
            for e in sorted((election, waiting), key=lambda e: e.slug)
        ]
    }
    assert [d.status for d in publish_all()] == ["current", "current"]


# -- a later publication --------------------------------------------------------------------


def test_a_later_publication_is_consistent_with_the_first(waiting: Election, admin: Any) -> None:
    for code in ("1-1", "1-2"):
        submit(waiting, code, admin)
    first = publish(waiting)
    old = opened(waiting).checkpoint
    old_results = results_at(waiting, old.size)
    assert parse_results(old_results).stations_counted == 2

    submit(waiting, "2-1", admin)
    station = Station.objects.get(election=waiting, code="1-1")
    report_turnout(waiting, station, "15:00", 520, actor=admin)
    data = protocol_data("1-1")
    changed = type(data)(
        {**data.counts, "L2": data.counts["L2"] + 1}, data.instants, data.candidates
    )
    amend_protocol(station, changed, actor=admin, reason="a recount")
    second = publish(waiting)
    assert (second.status, second.previous) == ("published", first.size)
    new = opened(waiting).checkpoint
    assert new.size == len(entries_of(waiting)) > old.size
    proof = reader(waiting).consistency_proof(old.size)
    verify_consistency(old.size, new.size, old.root, new.root, proof)
    # the earlier size's files are still there, unchanged
    assert results_at(waiting, old.size) == old_results
    document = parse_results(results_at(waiting, new.size))
    assert document.totals == tally(entries_of(waiting), waiting.slug).totals
    assert document.stations_counted == 3
    hint = canonical.decode((log_dir(waiting) / f"hints/{waiting.slug}/1-1.json").read_bytes())
    assert isinstance(hint, dict)
    indexes = [
        i for i, e in enumerate(entries_of(waiting)) if json.loads(e).get("station") == "1-1"
    ]
    assert hint["indexes"] == indexes and len(indexes) >= 3  # accepted, turnout, amended
    assert publish(waiting).status == "current"


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_snapshot_is_its_own(tmp_path: Path) -> None:
    """publish() as the command runs it, with no transaction around it (on PostgreSQL its
    reads then run in a REPEATABLE READ transaction of their own)."""
    from tests.portal.conftest import load

    election = load(tmp_path / "own", simulated=True, slug="ownland-2024")
    done = publish(election)
    assert done.status == "published" and done.size == len(entries_of(election))
    assert parse_results(results_at(election, done.size)).stations_counted == 4


def test_a_big_publication_goes_by_steps_and_reports_them(
    election: Election, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transparency, "CHUNK", 4)
    seen: list[tuple[str, int, int]] = []
    done = publish(election, progress=lambda *report: seen.append(report))
    total = done.size
    assert total > 8
    steps = [4 * k for k in range(1, (total + 3) // 4)] + [total]
    assert seen == [(election.slug, step, total) for step in steps]
    assert reader(election).all_entries() == entries_of(election)


# -- scans ----------------------------------------------------------------------------------


def test_a_scan_is_published_once_its_protocol_is_public(waiting: Election, admin: Any) -> None:
    Election.objects.filter(pk=waiting.pk).update(auto_publish=False)
    waiting.refresh_from_db()
    station = Station.objects.get(election=waiting, code="1-1")
    submit_protocol(waiting, station, protocol_data("1-1"), actor=admin, source="api")
    upload_scan(waiting, station, SimpleUploadedFile("scan.pdf", PDF), actor=admin)
    sha = hashlib.sha256(PDF).hexdigest()
    publish(waiting)
    directory = log_dir(waiting)
    assert not (directory / "scans" / sha).exists()  # named by the log, not public yet
    assert canonical.decode((directory / ".pending").read_bytes())["scans"] == [sha]

    publish_protocol(Protocol.objects.get(station=station, is_current=True), actor=admin)
    assert publish(waiting).status == "published"
    assert (directory / "scans" / sha).read_bytes() == PDF
    assert canonical.decode((directory / ".pending").read_bytes())["scans"] == []


# -- witnesses ------------------------------------------------------------------------------


def policy_of(*servers: Any, quorum: int) -> WitnessPolicy:
    return WitnessPolicy(
        tuple(PolicyWitness(s.witness.signer.verifier, s.url) for s in servers), quorum
    )


def write_policy(settings: Any, tmp_path: Path, policy: WitnessPolicy) -> None:
    path = tmp_path / "witnesses.txt"
    path.write_text(policy.format())
    settings.SECKI_WITNESS_POLICY = str(path)


def test_without_the_quorum_nothing_is_published(
    election: Election, settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nobody = make_witness(tmp_path, 1, logs=[SIGNER])
    policy = WitnessPolicy(
        (PolicyWitness(nobody.signer.verifier, f"http://127.0.0.1:{free_port()}/"),), 1
    )
    write_policy(settings, tmp_path, policy)
    with caplog.at_level(logging.WARNING):
        done = publish(election)
    assert done.status == "no-quorum" and done.size == 0
    assert "the quorum is 1" in done.detail and "not published" in caplog.text
    directory = log_dir(election)
    assert not (directory / "checkpoint").exists()
    assert not (directory / "results").exists() and not (directory / "hints").exists()
    assert not (directory / "checkpoints").exists()


def test_with_witnesses_the_checkpoint_carries_their_cosignatures(
    waiting: Election, admin: Any, settings: Any, tmp_path: Path
) -> None:
    witnesses = [make_witness(tmp_path, n, logs=[SIGNER]) for n in (1, 2)]
    with serving(witnesses[0]) as w1, serving(witnesses[1]) as w2:
        policy = policy_of(w1, w2, quorum=2)
        write_policy(settings, tmp_path, policy)
        submit(waiting, "1-1", admin)
        assert publish(waiting).status == "published"
        first = opened(waiting, policy, now=NOW)
        assert {c.witness.name for c in first.cosignatures} == {
            "w1.example.test",
            "w2.example.test",
        }
        assert all(c.timestamp == NOW for c in first.cosignatures)
        submit(waiting, "1-2", admin)
        assert publish(waiting).status == "published"  # each witness checked consistency
        second = opened(waiting, policy, now=NOW)
        assert second.checkpoint.size > first.checkpoint.size
        document = parse_results(results_at(waiting, second.checkpoint.size))
        assert document.checkpoint == (log_dir(waiting) / "checkpoint").read_text()
    publish_all()
    assert (transparency.root_dir() / "witnesses.txt").read_text() == policy.format()


def test_a_witness_that_saw_a_larger_size_is_asked_from_it(
    waiting: Election,
    admin: Any,
    settings: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The publisher stopped after the witnesses cosigned and before the checkpoint was
    replaced: the next round's witnesses answer 409 with that size, and are asked again."""
    witness = make_witness(tmp_path, 1, logs=[SIGNER])
    with serving(witness) as w1:
        policy = policy_of(w1, quorum=1)
        write_policy(settings, tmp_path, policy)
        submit(waiting, "1-1", admin)
        publish(waiting)
        published = (log_dir(waiting) / "checkpoint").read_bytes()
        submit(waiting, "1-2", admin)
        original = transparency.replace_durably
        stopped: list[Path] = []

        def crash(path: Path, data: bytes) -> None:
            if path.name == "checkpoint":
                stopped.append(path)
                raise OSError("the disk went away")
            original(path, data)

        monkeypatch.setattr(transparency, "replace_durably", crash)
        with pytest.raises(OSError, match="the disk went away"):
            publish(waiting)
        monkeypatch.setattr(transparency, "replace_durably", original)
        assert stopped and (log_dir(waiting) / "checkpoint").read_bytes() == published
        submit(waiting, "2-1", admin)
        assert publish(waiting).status == "published"
        assert opened(waiting, policy, now=NOW).checkpoint.size == len(entries_of(waiting))


# -- what the published log does not follow -------------------------------------------------


def test_a_database_that_does_not_continue_the_log_is_refused(
    election: Election, tmp_path: Path
) -> None:
    from secki.accounts import actions
    from tests.portal.conftest import load

    publish(election)
    published = (log_dir(election) / "checkpoint").read_bytes()
    actions.delete_election(None, election)
    again = load(tmp_path / "again", simulated=True, protocols=False)
    assert again.slug == election.slug
    with pytest.raises(PublishError, match=r"does not continue the published log|were removed"):
        publish(again)
    assert (log_dir(election) / "checkpoint").read_bytes() == published


def test_an_altered_entry_is_refused(waiting: Election, admin: Any) -> None:
    submit(waiting, "1-1", admin)
    publish(waiting)
    submit(waiting, "1-2", admin)
    last = LedgerEntry.objects.filter(election=waiting).order_by("-index").first()
    assert last is not None
    LedgerEntry.objects.filter(pk=last.pk).update(body=last.body.replace('"1-2"', '"1-3"'))
    with pytest.raises(PublishError, match=f"entry {last.index} of waitland-2024: its stored"):
        publish(waiting)


def test_another_log_name_does_not_take_over_a_published_log(
    election: Election, settings: Any, tmp_path: Path
) -> None:
    publish(election)
    other = Signer.from_seed("elsewhere.test/log", KeyType.ED25519, bytes(32))
    (tmp_path / "other_key").write_text(other.format())
    settings.SECKI_LOG_NAME = "elsewhere.test/log"
    settings.SECKI_LOG_KEY_FILE = str(tmp_path / "other_key")
    with pytest.raises(
        PublishError, match=r"has origin .results.test/log/.*SECKI_LOG_NAME changed"
    ):
        publish(election)


# -- the key --------------------------------------------------------------------------------


def test_the_key_is_never_in_the_database_the_log_or_an_error(
    election: Election,
    settings: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = SIGNER.format()
    encoded_seed = secret.rsplit("+", 1)[1]
    with caplog.at_level(logging.DEBUG):
        publish_all()
    call_command("dumpdata", stdout=(dump := _Buffer()))
    published = b"".join(p.read_bytes() for p in transparency.root_dir().rglob("*") if p.is_file())
    for text in (dump.text, caplog.text, capsys.readouterr().err, published.decode("latin-1")):
        assert secret not in text and encoded_seed not in text

    messages = []
    for content in (
        secret.replace("PRIVATE+KEY+", ""),  # no prefix
        secret[:-4] + "AAA=",  # another key under the same key ID
        "PRIVATE+KEY+" + secret.split("+", 2)[2].replace(LOG_NAME, "other.test/log"),
    ):
        bad = tmp_path / "bad_key"
        bad.write_text(content)
        settings.SECKI_LOG_KEY_FILE = str(bad)
        with pytest.raises(PublishError) as refused:
            transparency.log_signer()
        messages.append(str(refused.value))
    settings.SECKI_LOG_KEY_FILE = str(tmp_path / "missing")
    with pytest.raises(PublishError) as missing:
        transparency.log_signer()
    messages.append(str(missing.value))
    assert "does not hold a log private key" in messages[0]
    assert "cannot be read" in messages[-1]
    for message in messages:
        assert encoded_seed not in message and secret not in message


def test_development_generates_a_key_in_the_var_directory(settings: Any) -> None:
    settings.SECKI_LOG_KEY_FILE = ""
    with pytest.raises(PublishError, match="no log key: set SECKI_LOG_KEY_FILE"):
        transparency.log_signer()
    settings.SECKI_DEVELOPMENT = True
    first = transparency.log_signer()
    path = Path(settings.VAR_DIR) / "log_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.name == LOG_NAME and transparency.log_signer().seed == first.seed
    settings.SECKI_LOG_NAME = "127.0.0.1:8123/log"  # the demo on another port: the same key
    renamed = transparency.log_signer()
    assert renamed.name == "127.0.0.1:8123/log" and renamed.seed == first.seed


@pytest.mark.parametrize("name", ["results.test/log/", "results test/log", "a+b/log"])
def test_a_log_name_that_cannot_be_an_origin_stops_the_start(name: str) -> None:
    from tests.test_settings import start_refused

    stderr = start_refused(SECKI_LOG_NAME=name)
    assert "SECKI_LOG_NAME" in stderr and "is not a log name" in stderr


def test_keygen_writes_a_private_file_and_prints_the_verifier_key(tmp_path: Path) -> None:
    out = tmp_path / "key"
    runner = CliRunner()
    done = runner.invoke(cli, ["log", "keygen", "--name", "example.org/log", "--out", str(out)])
    assert done.exit_code == 0, done.output
    signer = Signer.parse(out.read_text().strip())
    assert done.output == signer.verifier.format() + "\n"
    assert signer.name == "example.org/log" and stat.S_IMODE(out.stat().st_mode) == 0o600
    again = runner.invoke(cli, ["log", "keygen", "--name", "example.org/log", "--out", str(out)])
    assert again.exit_code != 0 and "exists" in again.output
    assert Signer.parse(out.read_text().strip()).seed == signer.seed  # never overwritten


def test_the_publish_command_does_one_round(election: Election) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["publish", "--election", election.slug])
    assert done.exit_code == 0, done.output
    size = len(entries_of(election))
    assert f"{election.slug}: checkpoint {size} (+{size} entries)" in done.output
    again = runner.invoke(cli, ["publish"])
    assert again.exit_code == 0 and "nothing new" in again.output
    missing = runner.invoke(cli, ["publish", "--election", "nowhere"])
    assert missing.exit_code != 0 and "no election 'nowhere'" in missing.output


class _Buffer:
    """A text stream that keeps what was written."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    @property
    def text(self) -> str:
        return "".join(self.parts)


def test_the_log_holds_protocol_entries_back_until_the_results_are_public(
    waiting: Election, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the publication setting withholds the results, the log is published up to its
    first protocol entry (turnout reports before it included), witnessed, with a results file
    of nothing counted that a verifier accepts; at the publication time, without a new entry,
    the next round publishes the rest, consistent with the earlier checkpoint."""
    from django.utils import timezone

    from secki.accounts.actions import change_election

    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    change_election(admin, waiting, publication="time", publication_at=at.isoformat())
    first, second = (Station.objects.get(election=waiting, code=c) for c in ("1-1", "2-1"))
    report_turnout(waiting, first, "15:00", 520, actor=admin)
    submit(waiting, "1-1", admin)
    report_turnout(waiting, second, "15:00", 300, actor=admin)  # after the protocol
    entries = entries_of(waiting)
    kinds = [json.loads(e)["kind"] for e in entries]
    held = kinds.index("protocol.accepted")
    assert 0 < held < len(entries) - 1

    done = publish(waiting)
    assert (done.status, done.size) == ("published", held)
    log = reader(waiting)
    assert log.all_entries() == entries[:held]
    files = [p for p in log_dir(waiting).rglob("*") if p.is_file()]
    published = b"".join(p.read_bytes() for p in files)
    assert b"protocol.accepted" not in published
    bundles = b"".join(p.read_bytes() for p in files if "entries" in p.parts)
    assert bundles and b'"lines"' not in bundles
    data = results_at(waiting, held)
    document = parse_results(data)
    assert document.totals == {} and document.stations_counted == 0
    assert document.units is not None and all(v == {} for v in document.units.values())
    now = int(dt.datetime.now(dt.UTC).timestamp())
    policy = WitnessPolicy((), 0)
    origin = transparency.origin(waiting.slug)
    check_results(
        data, entries[:held], SIGNER.verifier, policy, origin, now, units_of=units_of(waiting)
    )
    assert publish(waiting).status == "current"  # still held back

    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + dt.timedelta(hours=3))
    done = publish(waiting)
    assert (done.status, done.previous, done.size) == ("published", held, len(entries))
    new = opened(waiting).checkpoint
    proof = reader(waiting).consistency_proof(held)
    old_root = parse_results(data).root_hash
    verify_consistency(held, new.size, old_root, new.root, proof)
    released = results_at(waiting, len(entries))
    document = parse_results(released)
    assert document.totals == tally(entries, waiting.slug).totals != {}
    assert document.stations_counted == 1
    later = now + 3 * 3600
    check_results(
        released, entries, SIGNER.verifier, policy, origin, later, units_of=units_of(waiting)
    )
