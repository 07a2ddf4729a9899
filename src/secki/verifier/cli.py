"""``secki verify``: check a site's election logs from their published files.

    secki verify URL_OR_DIR [--election SLUG] [--station CODE] [--log-key VKEY]
                 [--witnesses FILE] [--state FILE] [--no-totals] [--no-progress]

One verdict line per check on the standard output (``PASS``, ``WARN`` or ``FAIL``, what was
checked, and what disagrees), a progress bar on the standard error while the entries are read
(when it is a terminal), and exit status 0 when every check passed, 1 when one failed, 2 for a
bad command line. Standard library only (argparse), so that the same module is the
``secki-verify`` program and the ``dist/secki-verify.pyz`` zipapp.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from secki.tlog.checkpoint import CheckpointError, WitnessPolicy
from secki.tlog.note import NoteError, VerifierKey
from secki.verifier.check import Options, verify
from secki.verifier.state import default_state_path


def parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Verify a Secki site's transparency logs from their published files: signatures "
            "and witness quorum, consistency with the last checkpoint seen, a station's "
            "inclusion and scan, and every published total recomputed from the entries."
        ),
    )
    p.add_argument("location", metavar="URL_OR_DIR", help="the site's log prefix or a copy of it")
    p.add_argument("--election", metavar="SLUG", help="verify this election only")
    p.add_argument("--station", metavar="CODE", help="check this station's entries and scans")
    p.add_argument(
        "--log-key",
        metavar="VKEY",
        help="the site's log verifier key, as published out of band (pins it)",
    )
    p.add_argument(
        "--witnesses", metavar="FILE", type=Path, help="the witness policy file (pins it)"
    )
    p.add_argument(
        "--state",
        metavar="FILE",
        type=Path,
        default=None,
        help=f"pinned keys and last checkpoints (default {default_state_path()})",
    )
    p.add_argument(
        "--no-totals",
        dest="totals",
        action="store_false",
        help="skip reading every entry and recomputing the totals",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None, prog: str = "secki verify") -> int:
    args = parser(prog).parse_args(argv)
    try:
        log_key = VerifierKey.parse(args.log_key) if args.log_key else None
        policy = WitnessPolicy.parse(args.witnesses.read_text()) if args.witnesses else None
    except (NoteError, CheckpointError, OSError, UnicodeDecodeError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    options = Options(
        location=args.location,
        election=args.election,
        station=args.station,
        log_key=log_key,
        policy=policy,
        state_path=args.state if args.state is not None else default_state_path(),
        totals=args.totals,
        progress=args.progress and sys.stderr.isatty(),
    )
    report = verify(options, sys.stdout, sys.stderr)
    return 1 if report.failed else 0


def program() -> None:
    """The ``secki-verify`` console script and the zipapp's entry point."""
    sys.exit(main(prog="secki-verify"))


if __name__ == "__main__":
    program()
