"""``secki demo``, ``secki serve`` and ``secki replay``."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from secki.cli import setup_django
from secki.observability import multiprocess_env
from secki.server import DEFAULT_THREADS, DEFAULT_WORKERS, server_command

DEMO_USERS = [
    # username, role, scope (None: whole election; "unit": first constituency; "station")
    ("cec", "cec_admin", None),
    ("supervisor", "supervisor", None),
    ("observer", "observer", None),
    ("constituency1", "constituency_operator", "unit"),
    ("station1", "station_operator", "station"),
]


def wait_until_serving(
    url: str,
    server: subprocess.Popen[Any],
    *,
    attempts: int = 600,
    pause: float = 0.25,
    opener: Any = None,
) -> bool:
    """Ask ``url`` until it answers 200 (True), the server exits, or ``attempts`` run out
    (False): the demo says "ready" only once the site answers, not when the process starts."""
    import urllib.error
    import urllib.request

    fetch = opener or (lambda u: urllib.request.urlopen(u, timeout=10))  # noqa: S310 - our own
    for attempt in range(attempts):
        if server.poll() is not None:
            return False
        try:
            with fetch(url) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        if attempt + 1 < attempts:
            time.sleep(pause)
    return False


def _var_dir() -> Path:
    from django.conf import settings

    path = Path(settings.VAR_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def prepare_demo(
    fresh: bool, seed: int, stations: int | None, list_seats: int = 0
) -> tuple[Path, str]:
    """Migrate, simulate and load the registry; return (bundle dir, election slug). The last
    demo's election goes, and so does its published log (a new election starts a new log).
    ``list_seats`` above 0: a second contest on the protocol, party lists sharing that many
    seats (always simulated afresh)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from secki.accounts import actions
    from secki.bundle.read import read_bundle
    from secki.elections.models import Election
    from secki.intake.bundle_io import import_bundle
    from secki.simulator import SimulationConfig, simulate, write_bundle

    var = _var_dir()
    click.echo("· migrating the embedded database …", err=True)
    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    bundle_dir = var / "demo-bundle"
    if (fresh or list_seats) and bundle_dir.exists():
        shutil.rmtree(bundle_dir)
    if not (bundle_dir / "election.json").exists():
        click.echo("· simulating a national election …", err=True)
        config = SimulationConfig(seed=seed)
        if stations:
            config = dataclasses.replace(config, stations=stations)
        if list_seats:
            config = dataclasses.replace(config, list_seats=list_seats)
        write_bundle(simulate(config), bundle_dir)
    bundle = read_bundle(bundle_dir)
    click.echo(f"· loading the register: {len(bundle.stations):,} stations …", err=True)
    registry = dataclasses.replace(bundle, turnout=[], protocols=[])
    previous = Election.objects.filter(slug=bundle.slug).first()
    if previous is not None:  # the last demo's simulated election, with its results: audited
        actions.delete_election(None, previous)
    shutil.rmtree(var / "log" / bundle.slug, ignore_errors=True)
    election = import_bundle(registry)
    user_model = get_user_model()
    first_unit = election.units.filter(kind="constituency").order_by("number").first()
    first_station = election.stations.order_by("position").first()
    for username, role, scope in DEMO_USERS:
        user, _ = user_model.objects.get_or_create(username=username)
        user.set_password(f"demo-{username}")
        user.is_staff = role == "cec_admin"
        user.save()
        actions.grant(  # audited as cli:<os user>
            None,
            user,
            election,
            role,
            unit=first_unit if scope == "unit" else None,
            station=first_station if scope == "station" else None,
        )
    from secki.observers import field

    field.install_checklists(election, actor=None)  # opening, voting, counting (issue 17)
    return bundle_dir, Election.objects.get(pk=election.pk).slug


#: the demo's witnesses (spec §4): own keys and state in the var directory, loopback ports
DEMO_WITNESSES = ("witness-1.demo.secki", "witness-2.demo.secki")


def start_witnesses(
    var: Path, log_vkey: str, env: dict[str, str]
) -> tuple[list[subprocess.Popen[str]], Path]:
    """Start the demo's witnesses (``secki witness serve``, a free port each, a fresh state:
    the demo's election and log are new) and write the witness policy naming them, quorum 2.
    Returns the processes and the policy file."""
    from secki.tlog.checkpoint import Witness, WitnessPolicy
    from secki.tlog.note import KeyType, Signer, generate_key

    directory = var / "witnesses"
    directory.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[str]] = []
    witnesses = []
    for name in DEMO_WITNESSES:
        key = directory / f"{name}.key"
        if not key.exists():
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_key(name, KeyType.COSIGNATURE).format() + "\n")
        state = directory / f"{name}.sqlite"
        for leftover in directory.glob(f"{name}.sqlite*"):
            leftover.unlink()
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "secki.cli",
                "witness",
                "serve",
                *("--key", str(key), "--state", str(state), "--log-key", log_vkey),
                *("--host", "127.0.0.1", "--port", "0", "--quiet"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        url = ""
        assert process.stdout is not None
        for line in process.stdout:  # "witness <vkey>", then "listening on <url>"
            if line.startswith("listening on "):
                url = line.removeprefix("listening on ").strip()
                break
        if not url:
            for started in processes:
                started.kill()
            raise click.ClickException(f"the demo's witness {name} did not start")
        signer = Signer.parse(key.read_text().strip())
        witnesses.append(Witness(signer.verifier, url))
    policy = directory / "policy.txt"
    policy.write_text(WitnessPolicy(tuple(witnesses), len(witnesses)).format())
    return processes, policy


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--speed",
    default=360.0,
    show_default=True,
    help="Simulated seconds per real second for the replay (360: an hour in 10 s).",
)
@click.option("--seed", default=20240207, show_default=True, type=int)
@click.option("--stations", type=int, default=None, help="Stations to simulate (default 6,537).")
@click.option("--fresh", is_flag=True, help="Simulate a new election instead of reusing var/.")
@click.option("--workers", default=2, show_default=True, type=int)
@click.option(
    "--list-seats",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="Above 0: two contests on the protocol, the presidential vote and party lists "
    "sharing this many seats (simulates afresh).",
)
def demo(
    host: str,
    port: int,
    speed: float,
    seed: int,
    stations: int | None,
    fresh: bool,
    workers: int,
    list_seats: int,
) -> None:
    """Simulate, load and serve a national election; replay election day live."""
    started = time.monotonic()
    # The demo's users log in with their printed passwords alone (no authenticator app);
    # SECKI_REQUIRE_2FA=1 makes them set up two-factor log-in as production does.
    os.environ.setdefault("SECKI_REQUIRE_2FA", "0")
    # The demo is development: without SECKI_SECRET_KEY it uses a random key generated once
    # into $SECKI_VAR_DIR/secret_key (the server and the replay inherit the switch), and so
    # is its transparency log: a key generated into $SECKI_VAR_DIR/log_key, named after the
    # address it is served at, and two witnesses of its own.
    os.environ.setdefault("SECKI_DEVELOPMENT", "1")
    os.environ.setdefault("SECKI_LOG_NAME", f"{host}:{port}/log")
    # plain log lines in the terminal (production logs one JSON object per line)
    os.environ.setdefault("SECKI_LOG_FORMAT", "text")
    setup_django()
    from django.conf import settings as django_settings

    from secki.opendata.transparency import log_signer

    bundle_dir, slug = prepare_demo(fresh, seed, stations, list_seats)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "secki.settings",
        **multiprocess_env(_var_dir()),
    }
    log_key = log_signer().verifier.format()
    witnesses, policy = start_witnesses(_var_dir(), log_key, env)
    env["SECKI_WITNESS_POLICY"] = str(policy)
    server = subprocess.Popen(  # noqa: S603
        server_command(host, port, workers=workers, app="secki.opendata.wsgi:application"),
        env=env,
    )
    # One round of the publisher before the replay: the log's first checkpoint (the election
    # and its register) is public, and cosigned, before election day's first fact, so anyone
    # can save it and check later that every checkpoint of the night extends it.
    subprocess.run([sys.executable, "-m", "secki.cli", "publish", "--quiet"], env=env, check=False)
    publisher = subprocess.Popen(
        [sys.executable, "-m", "secki.cli", "publish", "--watch", "--interval", "1", "--quiet"],
        env=env,
    )
    replayer = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "secki.cli", "replay", str(bundle_dir), "--speed", str(speed)],
        env=env,
    )
    url = f"http://{host}:{port}/"
    if not wait_until_serving(url, server):
        click.echo(f"\nSecki demo: the server at {url} did not answer; stopping.", err=True)
        started_procs: list[subprocess.Popen[Any]] = [replayer, publisher, server, *witnesses]
        for proc in started_procs:
            if proc.poll() is None:
                proc.terminate()
        sys.exit(1)
    click.echo(
        f"\nSecki demo (simulated data) is serving at {url}  "
        f"[ready in {time.monotonic() - started:.0f} s]"
    )
    # the officials' pages, not Django's admin: the demo's CEC administrator holds a role,
    # not the admin's model permissions, so /admin/ would show them nothing
    click.echo(
        f"  results: {url}e/{slug}/   officials: {url}staff/   "
        f"election settings (cec): {url}staff/e/{slug}/settings/"
    )
    click.echo(
        f"  transparency log: {url}log/  (key {log_key}; {len(witnesses)} witnesses, quorum "
        f"{len(witnesses)}; check it with: secki verify {url}log/)"
    )
    click.echo("  log-ins: " + ", ".join(f"{u} / demo-{u}" for u, _, _ in DEMO_USERS))
    if not django_settings.SECKI_REQUIRE_2FA:
        click.echo("  two-factor log-in is off in the demo (SECKI_REQUIRE_2FA=1 turns it on)")
    click.echo("  election day is being replayed; press Ctrl-C to stop.\n")

    def interrupt(*_: object) -> None:
        # Only unwind here: waiting for the children inside the handler would block on the
        # lock that the interrupted server.wait() still holds (the wait then always timed out).
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        server.wait()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopping already
    children: list[subprocess.Popen[Any]] = [replayer, publisher, server, *witnesses]
    for proc in children:
        if proc.poll() is None:
            proc.terminate()
    for proc in children:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    sys.exit(0)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=DEFAULT_WORKERS,
    show_default=True,
    type=int,
    help="Processes (one per core).",
)
@click.option(
    "--threads",
    default=DEFAULT_THREADS,
    show_default=True,
    type=int,
    help="Threads per process for the application (fewer suit a CPU-bound intake server).",
)
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the site with Granian (production server) on the configured database."""
    # Fail closed before serving: a configuration that the settings or the system checks
    # refuse (no secret key, secki.E001 …) stops here with its message, once, rather than in
    # every Granian worker as it is respawned.
    setup_django()
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    try:
        call_command("check")
    except SystemCheckError as exc:
        raise click.ClickException(str(exc)) from None
    os.environ.update(multiprocess_env(_var_dir()))
    os.execv(sys.executable, server_command(host, port, workers=workers, threads=threads))  # noqa: S606


@click.command("replay")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--speed",
    default=360.0,
    show_default=True,
    help="Simulated seconds per real second; 0 submits everything at once.",
)
@click.option(
    "--user",
    "username",
    default="cec",
    show_default=True,
    help="The official whose account submits (needs a CEC role).",
)
def replay_cmd(directory: Path, speed: float, username: str) -> None:
    """Replay a bundle's turnout reports and protocols against its election in the database."""
    setup_django()
    from django.contrib.auth import get_user_model

    from secki.bundle.read import read_bundle
    from secki.demo.replay import replay
    from secki.elections.models import Election

    bundle = read_bundle(directory)
    election = Election.objects.get(slug=bundle.slug)
    actor = get_user_model().objects.get(username=username)
    last_print = [0.0]

    def progress(event, stats):  # type: ignore[no-untyped-def]
        now = time.monotonic()
        if now - last_print[0] > 5:
            last_print[0] = now
            click.echo(
                f"  [replay] simulated {event.at:%H:%M}: {stats.turnout:,} turnout "
                f"reports, {stats.protocols:,} protocols",
                err=True,
            )

    stats = replay(bundle, election, actor, speed=speed, on_event=progress)
    click.echo(
        f"  [replay] done: {stats.turnout:,} turnout reports, {stats.protocols:,} "
        f"protocols, {stats.refused:,} refused",
        err=True,
    )
