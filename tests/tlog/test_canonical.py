"""Canonical JSON (spec §5.1): the subset is encoded exactly as JCS / sorted json.dumps, and
anything outside it is refused, both when encoding and when decoding."""

from __future__ import annotations

import json
import random
from types import ModuleType

import pytest

from secki.tlog.canonical import MAX_DEPTH, CanonicalError, decode, encode

NESTED: list[object] = []
for _ in range(MAX_DEPTH + 1):
    NESTED = [NESTED]


def test_bytes_are_sorted_compact_and_raw_utf8() -> None:
    value = {"b": [1, -2, None, True, False], "a": {"z": 'Şəki "q" \\ \n\t\u0001', "y": ""}}
    data = encode(value)
    assert (
        data
        == (
            '{"a":{"y":"","z":"Şəki \\"q\\" \\\\ \\n\\t\\u0001"},"b":[1,-2,null,true,false]}'
        ).encode()
    )
    assert decode(data) == value


def test_the_largest_safe_integers_pass_and_the_next_do_not() -> None:
    assert decode(encode({"n": 2**53 - 1, "m": -(2**53 - 1)})) == {
        "n": 2**53 - 1,
        "m": -(2**53 - 1),
    }
    for n in (2**53, -(2**53)):
        with pytest.raises(CanonicalError, match="beyond"):
            encode({"n": n})
        with pytest.raises(CanonicalError, match="beyond"):
            decode(b'{"n":%d}' % n)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"x": 1.0}, "integers"),
        ({"x": float("nan")}, "integers"),
        ({"é": 1}, "not ASCII"),
        ({1: 1}, "not a string"),
        ({"x": "e\u0301"}, "NFC"),  # e + combining acute: NFC is é
        ({"x": "\ud800"}, "surrogate"),
        ({"x": (1, 2)}, "tuple"),
        ({"x": b"bytes"}, "bytes"),
        ([1], "object"),
        ({"x": NESTED}, "deeper"),
    ],
)
def test_values_outside_the_subset_are_refused(value: object, problem: str) -> None:
    with pytest.raises(CanonicalError, match=problem):
        encode(value)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"b":1,"a":2}', "canonical form"),  # unsorted
        (b'{"a": 1}', "canonical form"),  # whitespace
        (b'{"a":1,"a":1}', "duplicate key"),
        (b'{"a":1.5}', "integers"),
        (b'{"a":1e2}', "integers"),
        (b'{"a":-0}', "canonical form"),
        (b'{"a":NaN}', "NaN"),
        (b'{"a":"\\u00e9"}', "canonical form"),  # escaped non-ASCII
        (b'{"a":"\\/"}', "canonical form"),  # needless escape
        (b'{"a":"\xc3"}', "UTF-8"),
        (b'{"a":"e\xcc\x81"}', "NFC"),
        (b'["a"]', "object"),
        (b'{"a":1}\n', "canonical form"),
        (b'{"a":1', "not JSON"),
        (b'{"a":' + b"9" * 5000 + b"}", "not JSON"),
    ],
)
def test_bytes_that_do_not_re_encode_identically_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(CanonicalError, match=problem):
        decode(data)


def test_random_values_agree_with_the_reference_and_json_dumps(reference: ModuleType) -> None:
    rng = random.Random(14)
    alphabet = ["a", "Z", "0", " ", '"', "\\", "\n", "\x00", "ə", "Ş", "€", "😀", "\u2028", "\x7f"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    def value(depth: int) -> object:
        kind = rng.randrange(6 if depth < 3 else 4)
        if kind == 0:
            return rng.randint(-(2**53 - 1), 2**53 - 1)
        if kind == 1:
            return text()
        if kind == 2:
            return rng.choice([None, True, False])
        if kind == 3:
            return rng.randint(-5, 5)
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return obj(depth + 1)

    def obj(depth: int) -> dict[str, object]:
        keys = ["".join(rng.choice("abcAB_-0") for _ in range(rng.randint(0, 4))) for _ in range(4)]
        return {k: value(depth) for k in keys}

    for _ in range(300):
        v = obj(0)
        data = encode(v)
        assert data == reference.canonical_json(v)
        assert (
            data
            == json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        )
        assert decode(data) == v


def test_the_fast_check_accepts_exactly_what_the_full_check_accepts() -> None:
    """encode checks plain values without building the paths of its messages (_fits) and
    falls back to the full check (_check) for anything else: over random values, valid and
    not, and over subclasses of the plain types, both decide alike, and encode refuses
    exactly what _check refuses."""
    import enum

    from secki.tlog.canonical import _check, _fits

    class Number(enum.IntEnum):
        ONE = 1

    class Text(str):
        __slots__ = ()

    rng = random.Random(8)
    bad: list[object] = [1.0, 2**53, -(2**53), "e\u0301", "\ud800", (1,), b"x", NESTED, {1: 1}]
    good: list[object] = [0, -(2**53 - 1), "Şəki", "a\u2028", None, True, [], {}]
    subclassed: list[object] = [Number.ONE, Text("x"), Text("e\u0301")]

    def value(depth: int) -> object:
        roll = rng.randrange(10)
        if depth < 3 and roll == 0:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        if depth < 3 and roll == 1:
            return {rng.choice(["a", "b", "é", "c"]): value(depth + 1) for _ in range(3)}
        pool = rng.choice([good, good, good, bad, subclassed])
        return rng.choice(pool)

    outcomes = set()
    for _ in range(3000):
        v = {"x": value(0), "y": value(0)}
        try:
            _check(v, "$", 0)
        except CanonicalError:
            full = False
        else:
            full = True
        if _fits(v, 0):
            assert full, v
        outcomes.add(full)
        if full:
            assert encode(v) == json.dumps(
                v, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode("utf-8")
        else:
            with pytest.raises(CanonicalError):
                encode(v)
    assert outcomes == {True, False}


@pytest.mark.parametrize("leaf", [1, "x", None, {}])
def test_objects_nested_to_the_limit_pass_and_one_deeper_do_not(leaf: object) -> None:
    def nested(levels: int) -> dict[str, object]:
        value: object = leaf
        for _ in range(levels):
            value = {"a": value}
        assert isinstance(value, dict)
        return value

    deepest = nested(MAX_DEPTH)  # the leaf at depth MAX_DEPTH
    assert decode(encode(deepest)) == deepest
    with pytest.raises(CanonicalError, match="deeper"):
        encode(nested(MAX_DEPTH + 1))
