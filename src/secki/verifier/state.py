"""What the verifier remembers between runs: the pinned log key and witness policy, and per
origin the last checkpoint note it verified (spec §5.5 step 2: consistency is checked from it).

A JSON file, one site per file::

    {"format": "secki-verify-state/1", "log_key": "<vkey>", "witnesses": "<policy text>",
     "checkpoints": {"<origin>": "<cosigned checkpoint note>", ...}}

It is written whole to a temporary file and renamed into place, so a crash leaves the old one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = "secki-verify-state/1"


class StateError(ValueError):
    """A state file that cannot be read."""


@dataclass
class State:
    log_key: str | None = None
    witnesses: str | None = None
    checkpoints: dict[str, str] = field(default_factory=dict)


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/secki-verify/state.json`` (``~/.local/state/…`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "secki-verify" / "state.json"


def load_state(path: Path) -> State:
    """The state in ``path``, or an empty one if there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return State()
    except OSError as exc:
        raise StateError(f"cannot read the state file {path}: {exc}") from None
    try:
        value = json.loads(text)
    except ValueError:
        raise StateError(f"the state file {path} is not JSON") from None
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise StateError(f"the state file {path} is not a {FORMAT} file")
    log_key, witnesses = value.get("log_key"), value.get("witnesses")
    checkpoints = value.get("checkpoints", {})
    if (
        not isinstance(log_key, str | None)
        or not isinstance(witnesses, str | None)
        or not isinstance(checkpoints, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in checkpoints.items())
    ):
        raise StateError(f"the state file {path} has fields of the wrong type")
    return State(log_key, witnesses, dict(checkpoints))


def save_state(path: Path, state: State) -> None:
    """Write ``state`` to ``path`` atomically (creating its directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = {
        "format": FORMAT,
        "log_key": state.log_key,
        "witnesses": state.witnesses,
        "checkpoints": dict(sorted(state.checkpoints.items())),
    }
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
