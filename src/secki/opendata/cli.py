"""``secki snapshot``, ``secki bundle-from-bulk``, ``secki publish`` and ``secki log keygen``
(registered in ``secki.cli``'s ``COMMANDS``: run them as ``secki snapshot …``)."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from secki.cli import setup_django

if TYPE_CHECKING:
    from secki.elections.models import Election
    from secki.opendata.transparency import Published


@click.command("snapshot")
@click.option("--election", "slug", help="Election slug (default: every election).")
@click.option("--release", is_flag=True, help="Also write a permanent release now.")
@click.option("--watch", is_flag=True, help="Keep the snapshots current until interrupted.")
@click.option(
    "--interval",
    default=0.5,
    show_default=True,
    type=float,
    help="Seconds between checks of the ledger head (--watch).",
)
@click.option(
    "--release-every",
    default=None,
    type=float,
    help="Seconds between releases while results change (default SECKI_RELEASE_EVERY, 600).",
)
def snapshot(
    slug: str | None, release: bool, watch: bool, interval: float, release_every: float | None
) -> None:
    """Write the static snapshot files (JSON per unit, bulk CSV) into $SECKI_VAR_DIR/opendata."""
    setup_django()
    from secki.elections.models import Election
    from secki.ledger.chain import ledger_head
    from secki.opendata import snapshots

    def elections() -> list[Election]:
        found = list(Election.objects.filter(slug=slug) if slug else Election.objects.all())
        if slug and not found:
            raise click.ClickException(f"no election {slug!r}")
        return found

    for election in elections():
        done = snapshots.refresh(election, every=release_every, keep=True)
        if release:
            try:
                path = snapshots.make_release(election)
            except snapshots.ReleaseWithheld as exc:
                click.echo(str(exc), err=True)
            else:
                click.echo(f"{election.slug}: release {path.name}")
        click.echo(
            f"{election.slug}: live snapshot at ledger entry {done.seq} "
            f"({'rewritten' if done.live else 'current'}, {done.seconds:.2f} s) in "
            f"{snapshots.election_dir(election)}"
        )
    if not watch:
        return
    click.echo("watching the ledger; Ctrl-C stops", err=True)
    seen = ledger_head()
    checked = time.monotonic()
    try:
        while True:
            time.sleep(interval)
            head = ledger_head()
            # a due release is cut even when nothing changes any more (every 30 s check)
            if head == seen and time.monotonic() - checked < 30:
                continue
            seen, checked = head, time.monotonic()
            for election in elections():
                done = snapshots.refresh(election, every=release_every, keep=True)
                if done.live or done.release:
                    click.echo(
                        f"{election.slug}: entry {done.seq} in {done.seconds:.2f} s"
                        + (f", release {done.release}" if done.release else ""),
                        err=True,
                    )
    except KeyboardInterrupt:
        return


@click.command("bundle-from-bulk")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--slug", help="Give the election another slug (to import beside the original).")
def bundle_from_bulk_cmd(source: Path, target: Path, slug: str | None) -> None:
    """Turn a downloaded release SOURCE into a bundle TARGET for `secki import`."""
    from secki.opendata.roundtrip import RoundTripError, bundle_from_bulk

    try:
        written = bundle_from_bulk(source, target, slug=slug)
    except RoundTripError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo(", ".join(f"{name}: {rows:,} rows" for name, rows in written.items()))


# -- the transparency log ---------------------------------------------------------------------

#: a publication of more entries than this shows a progress bar
PROGRESS_FROM = 16384
#: while nothing moves, a round every this many seconds anyway (cut scans that became public,
#: retry a log whose witnesses did not answer)
IDLE_ROUND = 30.0
#: seconds the log waits for the public state to reach new entries before it tabulates them
#: itself (a public-state thread that fails or lags)
STATE_WAIT = 10.0


@click.group("log")
def log_group() -> None:
    """The transparency log's key (spec/transparency.md §3)."""


@log_group.command("keygen")
@click.option("--name", required=True, help="The log's name: SECKI_LOG_NAME, e.g. example.org/log.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The private key file to write (mode 0600; never overwritten).",
)
def log_keygen(name: str, out: Path) -> None:
    """Make the log's signing key: write it to OUT for the publisher (SECKI_LOG_KEY_FILE), and
    print its verifier key, which the site, the README of a release and every verifier pin."""
    from secki.tlog.note import NoteError, generate_key

    try:
        signer = generate_key(name)
    except NoteError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise click.ClickException(f"{out}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(signer.format() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    click.echo(signer.verifier.format())


class _Bar:
    """A progress bar on stderr for a big publication, opened on its first report."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.done = 0

    def update(self, slug: str, done: int, total: int) -> None:
        if self.bar is None:
            if total < PROGRESS_FROM:
                return
            self.bar = click.progressbar(length=total, label=f"{slug}: entries", file=sys.stderr)
            self.bar.__enter__()
            self.done = 0
        self.bar.update(done - self.done)
        self.done = done
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _report(done: Sequence[Published], *, quiet: bool, silent: bool = False) -> None:
    for item in done:
        if item.status == "published" and not silent:
            click.echo(
                f"{item.election}: checkpoint {item.size} (+{item.appended} entries)", err=True
            )
        elif item.status == "current" and not quiet:
            click.echo(f"{item.election}: checkpoint {item.size}, nothing new", err=True)
        elif item.status in ("no-quorum", "failed"):
            click.echo(f"{item.election}: not published ({item.status}): {item.detail}", err=True)


@click.command("publish")
@click.option("--election", "slug", help="Election slug (default: every election with a log).")
@click.option("--watch", is_flag=True, help="Keep publishing until interrupted.")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between publications while entries arrive (--watch).",
)
@click.option(
    "--state-interval",
    default=0.5,  # opendata.published.INTERVAL (Django is not set up yet)
    show_default=True,
    type=click.FloatRange(min=0.1, max=1.0),
    help="Seconds between publications of the public state while facts arrive (--watch).",
)
@click.option("--quiet", is_flag=True, help="Say only what could not be published.")
def publish_cmd(
    slug: str | None, watch: bool, interval: float, state_interval: float, quiet: bool
) -> None:
    """Publish the transparency log as static files in $SECKI_VAR_DIR/log: tiles, the signed
    and witnessed checkpoint, the totals at its size, hints, scans and register files; and
    the public state every public page is served from, with the open-data live files
    ($SECKI_VAR_DIR/state, $SECKI_VAR_DIR/opendata)."""
    setup_django()
    import gc
    import threading

    from django.db import DatabaseError, connection

    from secki.elections.models import Election
    from secki.ledger.chain import ledger_head
    from secki.opendata import published, snapshots, transparency

    # with --watch the open-data releases are cut in a thread of their own (below)
    publisher = published.Publisher(slug, interval=state_interval, releases_apart=watch)
    # alive while this process runs, however long a round takes (the first one of a
    # national election takes minutes)
    heartbeat = snapshots.Heartbeat().start()
    publisher.step()
    stop = threading.Event()
    if watch:  # the public state in its own thread, so that a slow witness never delays it
        threading.Thread(
            target=publisher.run, args=(stop,), name="public-state", daemon=True
        ).start()
        # and the releases in theirs, so that a release (seconds) never delays a state
        threading.Thread(
            target=publisher.run_releases, args=(stop,), name="open-data-releases", daemon=True
        ).start()

    def elections() -> list[Election] | None:
        if not slug:
            return None
        found = list(Election.objects.filter(slug=slug))
        if not found:
            raise click.ClickException(f"no election {slug!r}")
        return found

    bar = _Bar()
    waiting: list[float] = []  # since when a log waits for the public state (--watch)

    def one_round(first: bool) -> bool:
        """Publish; True when every log is up to date."""
        # with --watch, the log takes its totals from the public state the thread above keeps
        # current (no tabulation of the whole election at every round), and waits for that
        # state to reach new entries, STATE_WAIT seconds at most
        wait = watch and (not waiting or time.monotonic() - waiting[0] < STATE_WAIT)
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            done = transparency.publish_all(elections(), progress=bar.update, wait_for_state=wait)
        except transparency.PublishError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            bar.close()
        logging.getLogger(__name__).debug(  # what the log's round cost beside the states
            "log round",
            extra={
                "log_ms": round(1000 * (time.perf_counter() - began), 1),
                "log_cpu_ms": round(1000 * (time.thread_time() - cpu), 1),
            },
        )
        if any(item.status == "waiting" for item in done):
            waiting[:] = waiting or [time.monotonic()]
        else:
            waiting.clear()
        _report(done, quiet=quiet or not first, silent=quiet)
        return (
            _mirrored(quiet)
            and all(item.status in ("published", "current") for item in done)
            and not any(item.behind for item in done)
        )

    head = ledger_head()
    try:
        current = one_round(first=True)
    finally:
        if not watch:
            heartbeat.close()
    if not watch:
        if not current:
            sys.exit(1)
        return
    # what the first round loaded lives as long as this process (the register, the election's
    # data, the log's tree): out of the garbage collector's way, so that a full collection
    # during a state walks only what changed since (at 6,537 stations a state's collection
    # went from p99 103 to 4 ms: docs/operations.md)
    gc.collect()
    gc.freeze()
    if not quiet:
        click.echo(
            f"publishing the log every {interval:g} s while entries arrive; Ctrl-C stops",
            err=True,
        )
    started = time.monotonic()
    try:
        while True:
            time.sleep(max(0.0, started + interval - time.monotonic()))
            try:
                now = ledger_head()
                if now == head and current and time.monotonic() - started < IDLE_ROUND:
                    time.sleep(interval / 4)  # nothing new: look again soon
                    continue
                started, head = time.monotonic(), now
                current = one_round(first=False)
            except DatabaseError as exc:  # the database went away: try again next round
                click.echo(f"database unavailable ({exc}); retrying", err=True)
                connection.close()
                started, current = time.monotonic(), False
            except OSError as exc:  # a full or failing disk: nothing was published
                click.echo(f"cannot write the log's files ({exc}); retrying", err=True)
                started, current = time.monotonic(), False
    except KeyboardInterrupt:
        return
    finally:
        stop.set()
        heartbeat.close()


def _mirrored(quiet: bool) -> bool:
    """Copy what changed to the static hosting of SECKI_MIRROR_URLS; False when a target
    failed (said on stderr; the next round tries again)."""
    from secki.opendata import mirror

    ok = True
    for url in mirror.targets():
        try:
            report = mirror.sync(url)
        except Exception as exc:
            click.echo(f"cannot copy to {url}: {exc}", err=True)
            ok = False
            continue
        if not quiet and (report.copied or report.removed):
            click.echo(
                f"{url}: {len(report.copied)} files copied, {len(report.removed)} removed",
                err=True,
            )
    return ok


def _progress_of(bar: Any) -> Callable[[int, int], None]:
    """A mirror round's progress (files done, files in all) on a click progress bar."""
    seen = [0]

    def progress(done: int, total: int) -> None:
        bar.length = total
        bar.update(done - seen[0])
        seen[0] = done

    return progress


@click.command("refresh")
@click.option(
    "--every",
    default=0.25,  # opendata.refresh.EVERY (Django is not set up yet)
    show_default=True,
    type=click.FloatRange(min=0.05, max=10.0),
    help="Seconds between two looks at the published states.",
)
@click.option("--once", is_flag=True, help="Look once, write what is stale, and stop.")
@click.option(
    "--fill",
    is_flag=True,
    help="With --once: then write every station page no reader has asked for yet, in every "
    "language, with a progress bar (before the polls close).",
)
def refresh_cmd(every: float, once: bool, fill: bool) -> None:
    """Write again the station pages and results answers that new public states made stale,
    in this process of its own instead of the web server's workers (which then run none:
    SECKI_PAGE_REFRESH=0 in their environment), so that it can run at a priority of its own
    (a service of its own with its own Nice=, as deploy/systemd's). Between two states it
    also writes the pages no reader has asked for yet, a little at a time. Runs while a
    publisher runs, until interrupted."""
    setup_django()
    import contextlib
    import signal
    import threading

    from secki.opendata import refresh, snapshots, wsgi

    # --once: the pages no one asked for only with --fill, then all at once
    refresher = refresh.Refresher(
        wsgi.render_station_page, wsgi.ask_public_answer, fill=0.0 if once else refresh.FILL
    )
    if once:
        if not snapshots.publisher_alive():  # pages are kept only from a publisher's states
            raise click.ClickException(
                "no publisher is running (secki publish --watch): no page would be kept"
            )
        click.echo(f"{refresher.once()} pages and answers written again", err=True)
        if fill:
            bars: dict[str, Any] = {}  # election → its progress bar

            def progress(slug: str, done: int, total: int) -> None:
                bar = bars.get(slug)
                if bar is None:
                    label = f"{slug}: station pages"
                    bar = bars[slug] = click.progressbar(length=total, label=label, file=sys.stderr)
                    bar.__enter__()
                bar.update(done - bar.pos)

            try:
                filled = refresher.fill(progress=progress)
            finally:
                for bar in bars.values():
                    bar.__exit__(None, None, None)
            answers = refresher.answers_filled
            click.echo(
                f"{filled - answers} station pages and {answers} results answers written for "
                "the first time",
                err=True,
            )
        return
    if fill:
        raise click.UsageError("--fill goes with --once (without it, a page at a time)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signo, _frame: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        refresher.run(stop, every=every)


@click.command("mirror")
@click.argument("urls", nargs=-1)
def mirror_cmd(urls: tuple[str, ...]) -> None:
    """Copy the published open data and log files to static hosting: URLS (file:///path,
    s3://bucket/prefix), default SECKI_MIRROR_URLS. Only what changed since the last copy is
    copied; files that never change first, then the ones that point to them."""
    setup_django()
    from secki.opendata import mirror

    chosen = list(urls) or mirror.targets()
    if not chosen:
        raise click.ClickException("no target: name one, or set SECKI_MIRROR_URLS")
    for url in chosen:
        with click.progressbar(length=1, label=url, file=sys.stderr) as bar:
            report = mirror.sync(url, progress=_progress_of(bar))
        click.echo(
            f"{url}: {len(report.copied)} copied, {report.unchanged} unchanged, "
            f"{len(report.removed)} removed"
        )


@click.group()
def main() -> None:
    """Open-data commands."""


main.add_command(snapshot)
main.add_command(bundle_from_bulk_cmd)
main.add_command(publish_cmd)
main.add_command(log_group)

if __name__ == "__main__":
    main()
