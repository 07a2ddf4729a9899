"""The public transparency log verified in the visitor's browser (issue 14 item 6), in
Chromium against a real server: the log published by the real publisher with two real
witnesses (quorum 2), the station page's own check (verify.js) green for an honest station
and red after one byte of its bundle, its scan or its database values changes, the vendored
Ed25519 where WebCrypto has none, a page newer than the checkpoint checked again until the log
catches up, and the whole election recomputed in a Web Worker (verify-worker.js)."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from secki.elections.models import Election, Station
from secki.ledger.models import LedgerEntry
from secki.opendata import transparency
from secki.portal import http
from secki.protocols import scans
from secki.protocols.actions import publish_protocol
from secki.protocols.models import Protocol, ProtocolScan, ProtocolValue
from secki.results import tabulate
from secki.tlog import canonical
from secki.tlog.checkpoint import Checkpoint, Witness, WitnessPolicy
from secki.tlog.note import KeyType, Signer, add_signatures, cosign, sign_note, split_note
from secki.tlog.tiles import TILE_WIDTH, TileWriter, bundle_path
from secki.witness.server import Witness as WitnessServerLogic
from tests.browser.conftest import shot
from tests.portal.conftest import load, submit
from tests.protocols.test_scans import image
from tests.security.test_csp_browser import RECORDER
from tests.witness.conftest import serving, witness_key

pytestmark = pytest.mark.django_db(transaction=True)

LOG_NAME = "results.test/log"
SIGNER = Signer.from_seed(LOG_NAME, KeyType.ED25519, bytes(range(32)))
#: Playwright's wait for the verdict (the check itself takes milliseconds; the machine is busy)
VERDICT = 30_000


def expect() -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture
def log_settings(settings: Any, tmp_path: Path) -> Iterator[WitnessPolicy]:
    """The log's key in a file, and two witness servers (their own keys and state, the real
    clock) named by the policy with quorum 2."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SECKI_DEVELOPMENT = False
    settings.SECKI_LOG_NAME = LOG_NAME
    key = tmp_path / "log_key"
    key.write_text(SIGNER.format() + "\n")
    key.chmod(0o600)
    settings.SECKI_LOG_KEY_FILE = str(key)
    with contextlib.ExitStack() as stack:
        made = [
            WitnessServerLogic(witness_key(n), tmp_path / f"w{n}.sqlite", [SIGNER.verifier])
            for n in (1, 2)
        ]
        servers = [stack.enter_context(serving(w)) for w in made]
        policy = WitnessPolicy(
            tuple(Witness(w.signer.verifier, s.url) for w, s in zip(made, servers, strict=True)),
            2,
        )
        path = tmp_path / "witnesses.txt"
        path.write_text(policy.format())
        settings.SECKI_WITNESS_POLICY = str(path)
        yield policy


def publish() -> None:
    done = transparency.publish_all()
    assert all(p.status in ("published", "current") for p in done), done


def fresh_pages() -> None:
    """Forget the rendered pages and totals (after a change made behind the actions' back)."""
    http.pages.clear()
    tabulate._cache.clear()


@pytest.fixture
def election(tmp_path: Path, log_settings: WitnessPolicy) -> Election:
    """The small election (4 stations, every protocol published), its log published."""
    loaded = load(tmp_path / "bundle", simulated=True)
    publish()
    return loaded


def log_dir(election: Election) -> Path:
    return transparency.election_dir(election.slug)


def protocol_entry(election: Election, code: str) -> LedgerEntry:
    found = (
        LedgerEntry.objects.filter(election=election, subject=f"protocol:{code}")
        .exclude(version=None)
        .order_by("-index")
        .first()
    )
    assert found is not None
    return found


def checkpoint_size(election: Election) -> int:
    return int((log_dir(election) / "checkpoint").read_text().split("\n")[1])


def new_page(browser: Any, **options: Any) -> Any:
    """A page in a new context (an empty HTTP cache) whose Content-Security-Policy
    violations are recorded (``violations(page)``), the worker's included (the console)."""
    context = browser.new_context(**options)
    context.add_init_script(RECORDER)
    page = context.new_page()
    page.__csp_console = []
    page.on(
        "console",
        lambda m: (
            page.__csp_console.append(m.text) if "Content Security Policy" in m.text else None
        ),
    )
    return page


def violations(page: Any) -> list[str]:
    return [*page.evaluate("window.__cspViolations || []"), *page.__csp_console]


def station_page(browser: Any, url: str, **options: Any) -> Any:
    """A new page (new_page), the station's check done."""
    page = new_page(browser, **options)
    page.goto(url)
    box = page.locator("#log-check")
    expect()(box).to_have_attribute("data-state", re.compile("verified|failed"), timeout=VERDICT)
    return page


def test_an_honest_station_is_verified_and_one_changed_byte_of_its_bundle_is_not(
    live_server: Any, browser: Any, election: Election
) -> None:
    url = f"{live_server.url}/e/{election.slug}/s/1-1/"
    page = station_page(browser, url)
    box = page.locator("#log-check")
    size = checkpoint_size(election)
    expect()(box).to_have_attribute("data-state", "verified")
    expect()(box.locator(".log-verdict")).to_have_text(
        f"Verified against checkpoint {size}, signed by {LOG_NAME}, cosigned by "
        "w1.example.test, w2.example.test."
    )
    entry = protocol_entry(election, "1-1")
    details = box.locator(".log-details")
    expect()(details).to_contain_text(f"equal log entry {entry.index}, and so does the page")
    expect()(details).to_contain_text(f"proven included in checkpoint {size}")
    expect()(details).to_contain_text("cosignatures of 2 distinct witnesses (quorum: 2)")
    expect()(details).to_contain_text("Signatures checked with WebCrypto, hashes with WebCrypto")
    assert box.get_attribute("data-crypto") == "WebCrypto"
    expect()(details.locator("li.fail")).to_have_count(0)
    expect()(page.locator("#log-leaf")).to_have_attribute("data-leaf", entry.leaf_hash)
    assert violations(page) == []
    shot(page, "verify-1-station-verified")

    # one byte of the station's entry changed on disk, in the published bundle
    bundle = log_dir(election) / bundle_path(entry.index // TILE_WIDTH, size % TILE_WIDTH)
    data = bundle.read_bytes()
    body = entry.body.encode()
    at = data.index(body) + body.index(b'"C1":') + len(b'"C1":')
    changed = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]  # a digit, another digit
    bundle.write_bytes(changed)
    page = station_page(browser, url)
    box = page.locator("#log-check")
    expect()(box).to_have_attribute("data-state", "failed")
    expect()(box.locator(".log-verdict")).to_have_text("This page does not match the public log:")
    expect()(box.locator(".log-details li.fail").first).to_have_text(
        f"Inclusion: entry {entry.index} in {bundle.relative_to(log_dir(election))} does not "
        "hash to its tile: the published entry was changed after it was logged."
    )
    shot(page, "verify-2-station-bundle-changed")


def test_a_value_changed_in_the_database_is_shown_but_not_logged(
    live_server: Any, browser: Any, election: Election
) -> None:
    entry = protocol_entry(election, "1-1")
    logged = json.loads(entry.body)["lines"]["C2"]
    value = ProtocolValue.objects.get(
        protocol__station__code="1-1", protocol__is_current=True, code="C2"
    )
    value.value = logged + 1
    value.save()
    fresh_pages()
    page = station_page(browser, f"{live_server.url}/e/{election.slug}/s/1-1/")
    box = page.locator("#log-check")
    expect()(box).to_have_attribute("data-state", "failed")
    expect()(page.locator('#protocol-lines tr[data-line="C2"]')).to_have_attribute(
        "data-value", str(logged + 1)
    )
    # the page's SHA-256 is still the log entry's: it is read from the log, not the values
    expect()(page.locator("#log-leaf")).to_have_attribute("data-leaf", entry.leaf_hash)
    expect()(box.locator(".log-details li.fail")).to_have_text(
        [f"line C2: page {logged + 1}, log {logged}"]
    )
    shot(page, "verify-3-station-database-changed")


def test_without_webcrypto_ed25519_the_vendored_library_verifies(
    live_server: Any, browser: Any, election: Election
) -> None:
    context = browser.new_context()
    context.add_init_script(
        """(() => {
          const subtle = crypto.subtle, importKey = subtle.importKey.bind(subtle);
          subtle.importKey = (format, key, algorithm, ...rest) =>
            (algorithm && (algorithm.name || algorithm)) === "Ed25519"
              ? Promise.reject(new DOMException("no Ed25519 here", "NotSupportedError"))
              : importKey(format, key, algorithm, ...rest);
        })();"""
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/e/{election.slug}/s/2-1/")
    box = page.locator("#log-check")
    expect()(box).to_have_attribute("data-state", "verified", timeout=VERDICT)
    assert box.get_attribute("data-crypto") == "noble"
    expect()(box.locator(".log-details")).to_contain_text("Signatures checked with noble")


def test_a_signature_that_does_not_verify_is_named(
    live_server: Any, browser: Any, election: Election
) -> None:
    path = log_dir(election) / "checkpoint"
    lines = path.read_text().split("\n")
    lines[1] = str(int(lines[1]) - 1)  # the size the log signed, changed
    path.write_text("\n".join(lines))
    page = station_page(browser, f"{live_server.url}/e/{election.slug}/s/1-2/")
    expect()(page.locator("#log-check .log-details li.fail")).to_have_text(
        [f"Signature: the log's signature ({LOG_NAME}) on the checkpoint does not verify."]
    )


@pytest.fixture
def waiting(tmp_path: Path, log_settings: WitnessPolicy) -> Election:
    """The small register without results, protocols published only when asked."""
    loaded = load(tmp_path / "waiting", protocols=False, slug="waitland-2024", name="Waitland")
    loaded.auto_publish = False
    loaded.save()
    return loaded


def test_a_scan_named_by_the_log_is_linked_and_published_unchanged(
    live_server: Any, browser: Any, waiting: Election, admin: Any
) -> None:
    submit(waiting, "1-1", admin)  # accepted, not yet published
    station = Station.objects.get(election=waiting, code="1-1")
    raw = image("PNG")
    scan = scans.upload_scan(
        waiting, station, SimpleUploadedFile("scan.png", raw, "image/png"), actor=admin
    )
    publish_protocol(Protocol.objects.get(station=station, is_current=True), actor=admin)
    publish()
    url = f"{live_server.url}/e/{waiting.slug}/s/1-1/"
    page = station_page(browser, url)
    box = page.locator("#log-check")
    expect()(box).to_have_attribute("data-state", "verified")
    expect()(box.locator(".log-details")).to_contain_text(
        f"The scan the log names (SHA-256 {scan.sha256}) is linked on this page, and the "
        "published file has that hash."
    )
    published = log_dir(waiting) / "scans" / scan.sha256
    data = published.read_bytes()
    published.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    page = station_page(browser, url)
    expect()(page.locator("#log-check .log-details li.fail")).to_contain_text(
        [f"Scan: the published file scans/{scan.sha256} has SHA-256 "]
    )
    # the page's own scan link, shown with another hash than the log's
    ProtocolScan.objects.filter(pk=scan.pk).update(sha256="0" * 64)
    published.write_bytes(data)
    fresh_pages()
    page = station_page(browser, url)
    expect()(page.locator("#log-check .log-details li.fail")).to_have_text(
        [
            f"Scan: the log names a scan with SHA-256 {scan.sha256}, but no scan on this page "
            "has that hash."
        ]
    )


def test_a_page_newer_than_the_checkpoint_is_checked_again_until_the_log_has_it(
    live_server: Any, browser: Any, waiting: Election, admin: Any
) -> None:
    waiting.auto_publish = True
    waiting.save()
    submit(waiting, "1-1", admin)
    publish()
    submit(waiting, "2-1", admin)  # in the database's log, not yet in a checkpoint
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/e/{waiting.slug}/s/2-1/")
    box = page.locator("#log-check")
    expect()(box).to_have_attribute("data-state", "pending", timeout=VERDICT)
    expect()(box.locator(".log-verdict")).to_contain_text("checking again in a few seconds")
    shot(page, "verify-4-station-pending")
    publish()
    expect()(box).to_have_attribute("data-state", "verified", timeout=VERDICT)


def test_the_whole_election_is_recomputed_in_a_worker(
    live_server: Any, browser: Any, election: Election
) -> None:
    page = new_page(browser)
    page.goto(f"{live_server.url}/e/{election.slug}/")
    page.get_by_role("navigation", name="Election").get_by_role("link", name="Verify").click()
    expect()(page.locator("h1")).to_have_text("Verify the whole election")
    box = page.locator("#election-check")
    box.get_by_role("button", name="Verify the whole election").click()
    expect()(box).to_have_attribute("data-state", "verified", timeout=VERDICT)
    size = checkpoint_size(election)
    results = log_dir(election) / "results"
    document = canonical.decode((results / "latest.json").read_bytes())
    units = document["units"]
    assert isinstance(units, dict) and len(units) == 3  # Testland, North, South
    expect()(box.locator(".log-verdict")).to_have_text(
        f"Every number verified: the {size} entries of the log, signed by {LOG_NAME} and "
        "cosigned by w1.example.test, w2.example.test, add up exactly to "
        f"results/{size}.json: the national totals, 3 units and 4 stations counted."
    )
    expect()(box.locator("progress")).to_be_hidden()
    assert violations(page) == []
    shot(page, "verify-5-election-verified")

    # a published total off by one vote: the first difference is named
    totals = document["totals"]
    assert isinstance(totals, dict)
    totals["C1"] += 1
    data = canonical.encode(document)
    (results / "latest.json").write_bytes(data)
    (results / f"{size}.json").write_bytes(data)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/e/{election.slug}/verify/")
    box = page.locator("#election-check")
    box.get_by_role("button", name="Verify the whole election").click()
    expect()(box).to_have_attribute("data-state", "failed", timeout=VERDICT)
    expect()(box.locator(".log-first")).to_have_text(
        f"national line C1: published {totals['C1']}, the log adds up to {totals['C1'] - 1}"
    )
    shot(page, "verify-6-election-failed")


def test_the_pages_on_a_phone(live_server: Any, browser: Any, election: Election) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    for path in (f"e/{election.slug}/s/1-1/", f"e/{election.slug}/verify/", "verify/"):
        page.goto(f"{live_server.url}/{path}")
        if "/s/" in path:
            expect()(page.locator("#log-check")).to_have_attribute(
                "data-state", "verified", timeout=VERDICT
            )
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
    shot(page, "verify-7-guide-phone")


def test_a_rewritten_history_is_caught_by_the_checkpoint_this_browser_remembers(
    live_server: Any, browser: Any, election: Election
) -> None:
    """Verified once, the checkpoint is remembered; the operator then rewrites one entry of the
    history (the protocol of 1-1) and appends another, and gets the checkpoint cosigned by
    colluding witnesses: the signature and the quorum hold, consistency does not."""
    url = f"{live_server.url}/e/{election.slug}/s/1-1/"
    page = station_page(browser, url)
    expect()(page.locator("#log-check")).to_have_attribute("data-state", "verified")
    size = checkpoint_size(election)
    entry = protocol_entry(election, "1-1")
    bodies = [
        body.encode()
        for body in LedgerEntry.objects.filter(election=election)
        .order_by("index")
        .values_list("body", flat=True)
    ]
    value = json.loads(entry.body)
    value["lines"]["C1"] += 1
    bodies[entry.index] = canonical.encode(value)
    bodies.append(canonical.encode({"kind": "note", "election": election.slug}))
    directory = log_dir(election)
    shutil.rmtree(directory / "tile")
    new_size, root = TileWriter(directory, durable=False).append(bodies)
    text = Checkpoint(transparency.origin(election.slug), new_size, root).format()
    stamp = int(time.time())
    note = add_signatures(
        sign_note(text, SIGNER), [cosign(text, witness_key(n), stamp) for n in (1, 2)]
    )
    (directory / "checkpoint").write_text(note)

    page.reload()
    box = page.locator("#log-check")
    expect()(box).to_have_attribute("data-state", "failed", timeout=VERDICT)
    failures = box.locator(".log-details li.fail")
    expect()(failures.first).to_have_text(
        f"Consistency: checkpoint {new_size} does not extend checkpoint {size}, which this "
        "browser verified earlier: the history was rewritten."
    )
    expect()(failures).to_contain_text([f"line C1: page {value['lines']['C1'] - 1}, log "])
    expect()(box.locator(".log-details")).to_contain_text(
        "cosignatures of 2 distinct witnesses (quorum: 2)"
    )
    shot(page, "verify-8-station-history-rewritten")


def test_the_keys_this_browser_trusted_are_pinned(
    live_server: Any, browser: Any, election: Election
) -> None:
    """The site switches to another log key (same name) and re-signs its checkpoint: a browser
    that trusted the first key fails, until the visitor trusts the new one."""
    url = f"{live_server.url}/e/{election.slug}/s/2-2/"
    page = station_page(browser, url)
    box = page.locator("#log-check")
    expect()(box).to_have_attribute("data-state", "verified")
    other = Signer.from_seed(LOG_NAME, KeyType.ED25519, bytes(range(1, 33)))
    root = transparency.root_dir()
    (root / "log.vkey").write_text(other.verifier.format() + "\n")
    path = log_dir(election) / "checkpoint"
    note = split_note(path.read_text())
    cosignatures = [line.format() for line in note.signatures if line.name != LOG_NAME]
    path.write_text(add_signatures(sign_note(note.text, other), cosignatures))

    page.reload()
    expect()(box).to_have_attribute("data-state", "failed", timeout=VERDICT)
    failures = box.locator(".log-details li.fail")
    expect()(failures).to_have_text(
        [
            f"The site's log key is now {other.verifier.format()}, but this browser trusted "
            f"{SIGNER.verifier.format()} on an earlier visit: compare the new key with the one "
            "the election authority publishes elsewhere before you trust it.",
            f"Signature: the checkpoint carries no signature of the log key {LOG_NAME}.",
        ]
    )
    trust = box.get_by_role("button", name="Trust the site's new keys")
    expect()(trust).to_be_visible()
    trust.click()
    expect()(box).to_have_attribute("data-state", "verified", timeout=VERDICT)
    expect()(trust).to_be_hidden()
    expect()(box.locator(".log-details")).to_contain_text(f"Log key {other.verifier.format()}")
