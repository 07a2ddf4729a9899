"""The ``secki`` console command.

Subcommands are loaded lazily (``module:attribute``) so that ``secki simulate`` or
``secki forensics`` start without importing Django, and each lives next to its domain code.
"""

from __future__ import annotations

import importlib
import os

import click

COMMANDS: dict[str, str] = {
    "simulate": "secki.simulator.cli:simulate",
    "forensics": "secki.forensics.cli:forensics",
    "import": "secki.intake.cli:import_cmd",
    "export": "secki.intake.cli:export_cmd",
    "import-nist": "secki.intake.cli:import_nist_cmd",
    "upload-protocols": "secki.intake.cli:upload_protocols_cmd",
    "schema": "secki.intake.cli:schema_cmd",
    "election-status": "secki.accounts.cli:election_status_cmd",
    "election-set": "secki.accounts.cli:election_set_cmd",
    "amend-register": "secki.accounts.cli:amend_register_cmd",
    "grant": "secki.accounts.cli:grant_cmd",
    "revoke": "secki.accounts.cli:revoke_cmd",
    "reset-2fa": "secki.accounts.cli:reset_two_factor_cmd",
    "demo": "secki.demo.cli:demo",
    "serve": "secki.demo.cli:serve",
    "replay": "secki.demo.cli:replay_cmd",
    "verify-log": "secki.ledger.cli:verify_log",
    "verify-scans": "secki.protocols.cli:verify_scans_cmd",
    "webcams-check": "secki.observers.cli:webcams_check_cmd",
    "audit-sample": "secki.audits.cli:audit_sample",
    "snapshot": "secki.opendata.cli:snapshot",
    "bundle-from-bulk": "secki.opendata.cli:bundle_from_bulk_cmd",
    "publish": "secki.opendata.cli:publish_cmd",
    "refresh": "secki.opendata.cli:refresh_cmd",
    "mirror": "secki.opendata.cli:mirror_cmd",
    "log": "secki.opendata.cli:log_group",
    "manage": "secki.cli:manage",
    "witness": "secki.cli:witness",
    "verify": "secki.cli:verify",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="secki")
def cli() -> None:
    """Secki: run the results side of a paper-ballot election, verifiably."""


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def manage(args: tuple[str, ...]) -> None:
    """Run a Django management command (migrate, createsuperuser, …)."""
    from django.core.management import execute_from_command_line

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
    execute_from_command_line(["secki manage", *args])


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def witness(args: tuple[str, ...]) -> None:
    """Run a transparency-log witness, or make its key (secki witness --help)."""
    from secki.witness.cli import main as witness_main

    raise SystemExit(witness_main(args))


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def verify(args: tuple[str, ...]) -> None:
    """Verify a site's transparency logs from its published files (secki verify --help)."""
    from secki.verifier.cli import main as verify_main

    raise SystemExit(verify_main(args))


def setup_django() -> None:
    """Configure Django for commands that touch the database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
    django.setup()


def main() -> None:
    from secki.env import ImproperlyConfigured

    try:
        cli(prog_name="secki")
    except ImproperlyConfigured as exc:  # a bad setting: its message, not a traceback
        raise SystemExit(f"secki: {exc}") from None


if __name__ == "__main__":
    main()
