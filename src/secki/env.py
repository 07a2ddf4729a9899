"""Settings read from the environment, failing loudly on bad values.

Every helper accepts ``NAME_FILE`` as an alternative to ``NAME`` (the value is read from the
file, as container secrets are mounted), and raises :class:`ImproperlyConfigured` naming the
variable and the bad value rather than falling back silently.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path


class ImproperlyConfigured(Exception):
    """A setting in the environment has a value Secki cannot use."""


def _raw(name: str) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    return os.environ.get(name)


def env_str(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None or value == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def _random_secret() -> str:
    return secrets.token_urlsafe(50)


def generated_secret(path: Path, make: Callable[[], str] = _random_secret) -> str:
    """The random secret kept in ``path``, created on first use (mode 0600) for local
    development and the demo; the same value for every process that reads it afterwards.
    ``make`` produces a new secret's text (by default 50 random URL-safe characters; the
    transparency log's development key is made by :func:`secki.tlog.note.generate_key`).

    Several processes may start at once (the demo's server workers and its replay): the new
    secret is written to a private temporary file and linked into place, so a reader sees
    either no file or a whole one, and every process ends up with the first one linked.
    """
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = ""
    except OSError as exc:
        raise ImproperlyConfigured(f"{path} cannot be read: {exc}") from exc
    if value:
        return value
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")  # mode 0600
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(make() + "\n")
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):  # another process linked its own first
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{path} cannot be created: {exc}") from exc
    if not value:
        raise ImproperlyConfigured(f"{path} is empty: delete it to have a new secret generated")
    return value
