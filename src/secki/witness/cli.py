"""``secki witness``: make a witness key, and run the witness server (spec §4.3).

    secki witness keygen --name NAME --out FILE
    secki witness serve --key FILE --state DB.sqlite --log-key VKEY [--log-key VKEY …]
                        [--origin-prefix PREFIX …] [--host 127.0.0.1] [--port N]

``keygen`` writes the private key (``PRIVATE+KEY+…``, mode 0600, never overwriting a file)
and prints the verifier key to publish in the witness policy. ``serve`` prints ``listening on
<URL>`` once it accepts connections (``--port 0`` picks a free port) and runs until
interrupted. Standard library only (argparse), so that it runs without the server's
dependencies; also the ``secki-witness`` program.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from secki.tlog.note import KeyType, NoteError, Signer, VerifierKey, generate_key
from secki.witness.server import Witness, WitnessServer


def parser(prog: str = "secki witness") -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=prog, description="A transparency-log witness (spec/transparency.md §4)."
    )
    commands = top.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="make a witness key (type 0x04)")
    keygen.add_argument(
        "--name", required=True, help="the witness's name, e.g. observers.example/w1"
    )
    keygen.add_argument("--out", required=True, type=Path, help="the private key file to write")
    serve = commands.add_parser("serve", help="run the witness server")
    serve.add_argument("--key", required=True, type=Path, help="the witness's private key file")
    serve.add_argument("--state", required=True, type=Path, help="its SQLite state file")
    serve.add_argument(
        "--log-key",
        action="append",
        required=True,
        metavar="VKEY",
        help="a log's verifier key (type 0x01); repeat for several logs",
    )
    serve.add_argument(
        "--origin-prefix",
        action="append",
        default=[],
        metavar="PREFIX",
        help="accept origins equal to or under PREFIX (default: the log keys' names)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7380, help="0 picks a free port")
    serve.add_argument("--quiet", action="store_true", help="no access log on stderr")
    return top


def keygen(name: str, out: Path) -> str:
    """Write a new witness key to ``out`` (mode 0600; an existing file is an error) and return
    its verifier key."""
    signer = generate_key(name, KeyType.COSIGNATURE)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.format() + "\n")
    return signer.verifier.format()


def load_key(path: Path) -> Signer:
    signer = Signer.parse(path.read_text().strip())
    if signer.key_type != KeyType.COSIGNATURE:
        raise NoteError(f"{path} holds a key of type 0x{signer.key_type:02x}, not a witness key")
    return signer


def main(argv: Sequence[str] | None = None, prog: str = "secki witness") -> int:
    args = parser(prog).parse_args(argv)
    try:
        if args.command == "keygen":
            print(keygen(args.name, args.out))
            return 0
        signer = load_key(args.key)
        log_keys = [VerifierKey.parse(text) for text in args.log_key]
        witness = Witness(signer, args.state, log_keys, args.origin_prefix)
        server = WitnessServer(witness, args.host, args.port, quiet=args.quiet)
    except (OSError, NoteError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    print(f"witness {signer.verifier.format()}", flush=True)
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def program() -> None:
    """The ``secki-witness`` console script."""
    sys.exit(main(prog="secki-witness"))


if __name__ == "__main__":
    program()
