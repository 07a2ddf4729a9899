"""Canonical JSON of log entries (spec/transparency.md §5.1).

The subset: one JSON object; ASCII keys, sorted, no duplicates; no whitespace outside strings;
integers within ±(2^53 − 1) and no other numbers; strings in Unicode NFC, with only ``"``,
``\\`` and control characters escaped (non-ASCII written raw); ``null``, ``true`` and ``false``
as JSON has them (the spec forbids none of them; the entry schemas decide where they may
appear). For this subset the bytes equal RFC 8785 (JCS) and Python's
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, so
:func:`encode` validates the value and lets :mod:`json` write it, and :func:`decode` accepts
only bytes that :func:`encode` gives back unchanged.
"""

from __future__ import annotations

import json
import unicodedata
from typing import cast

#: the largest integer magnitude an entry may hold (IEEE 754 doubles count exactly up to it)
MAX_SAFE_INTEGER = 2**53 - 1

#: nesting beyond this is refused before Python's recursion limit is near (entries nest 3 deep)
MAX_DEPTH = 32


class CanonicalError(ValueError):
    """A value or a byte string outside the canonical subset of §5.1; the message says why."""


def encode(value: object) -> bytes:
    """The canonical bytes of ``value``, a ``dict`` with ``str`` keys (§5.1).

    Refused (:class:`CanonicalError`): anything but dict, list, str, int, bool and None;
    floats (even integral ones), integers beyond ±(2^53 − 1), non-ASCII or non-string keys,
    strings that are not NFC or hold lone surrogates, a top level that is not an object.
    """
    if not isinstance(value, dict):
        raise CanonicalError(f"an entry is a JSON object, not {type(value).__name__}")
    if not _fits(value, 0):
        _check(value, "$", 0)  # raises, naming where (or accepts a subclass _fits leaves out)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def decode(data: bytes) -> dict[str, object]:
    """Parse one canonical entry, refusing bytes that do not re-encode identically (§5.1:
    "verifiers MUST re-encode every parsed entry and reject it unless the bytes are
    identical"), duplicate keys, numbers that are not integers, and invalid UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CanonicalError(f"not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except CanonicalError:
        raise
    except RecursionError:
        raise CanonicalError("nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError, or an integer of over 4300 digits
        raise CanonicalError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CanonicalError(f"an entry is a JSON object, not {type(value).__name__}")
    again = encode(value)
    if again != data:
        raise CanonicalError(
            f"not in canonical form (re-encodes differently at byte {_diff(again, data)})"
        )
    return value


def _fits(value: object, depth: int) -> bool:
    """Whether ``value`` is in the subset, for values of the exact built-in types (anything
    else, a subclass included, is False and left to :func:`_check`). The common case without
    the paths :func:`_check` builds for its messages; both accept the same values of these
    types."""
    if depth > MAX_DEPTH:
        return False
    kind = type(value)
    if kind is str:
        return cast(str, value).isascii() or _string_fits(cast(str, value))
    if kind is int:
        return -MAX_SAFE_INTEGER <= cast(int, value) <= MAX_SAFE_INTEGER
    if value is None or kind is bool:
        return True
    if kind is dict:
        if depth >= MAX_DEPTH and value:
            return False  # its members would be nested too deeply
        for key, item in cast(dict[object, object], value).items():
            if type(key) is not str or not key.isascii():
                return False
            held = type(item)
            if held is int:  # the common members inline (an entry's lines)
                if not -MAX_SAFE_INTEGER <= cast(int, item) <= MAX_SAFE_INTEGER:
                    return False
            elif held is str:
                if not (cast(str, item).isascii() or _string_fits(cast(str, item))):
                    return False
            elif not _fits(item, depth + 1):
                return False
        return True
    if kind is list:
        return all(_fits(item, depth + 1) for item in cast(list[object], value))
    return False


def _string_fits(text: str) -> bool:
    """A non-ASCII string: valid UTF-8 (no lone surrogate) and in NFC (ASCII always is)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return unicodedata.is_normalized("NFC", text)


def _check(value: object, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CanonicalError(f"{where}: nested deeper than {MAX_DEPTH}")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalError(f"{where}: integer {value} is beyond ±(2^53 − 1)")
        return
    if isinstance(value, float):
        raise CanonicalError(f"{where}: numbers must be integers, not {value!r}")
    if isinstance(value, str):
        _check_string(value, where)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{where}: key {key!r} is not a string")
            if not key.isascii():
                raise CanonicalError(f"{where}: key {key!r} is not ASCII")
            _check(item, f"{where}.{key}", depth + 1)
        return
    raise CanonicalError(f"{where}: {type(value).__name__} has no canonical JSON form")


def _check_string(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalError(f"{where}: string holds a lone surrogate") from None
    if not unicodedata.is_normalized("NFC", text):
        raise CanonicalError(f"{where}: string {text!r} is not in Unicode NFC")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise CanonicalError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_float(text: str) -> object:
    raise CanonicalError(f"numbers must be integers, not {text}")


def _no_constant(text: str) -> object:
    raise CanonicalError(f"{text} is not JSON")


def _diff(a: bytes, b: bytes) -> int:
    """The offset of the first byte where ``a`` and ``b`` differ."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))
