"""Shared types and helpers for :mod:`secki.stats` (standard library and numpy only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

#: A random seed: an integer (turned into ``np.random.default_rng(seed)``) or a generator.
#: Every function that draws random numbers takes one explicitly; there is no hidden global.
Seed: TypeAlias = int | np.random.Generator

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


def as_rng(seed: Seed) -> np.random.Generator:
    """Return a generator for ``seed`` (a generator is passed through unchanged)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int or numpy Generator, not {type(seed).__name__}")
    return np.random.default_rng(int(seed))


def as_int_array(values: npt.ArrayLike, name: str) -> IntArray:
    """Counts as a 1-D int64 array; non-integral or negative values are rejected."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold whole numbers")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must be numeric")
    out = arr.astype(np.int64)
    if np.any(out < 0):
        raise ValueError(f"{name} must not be negative")
    return out


def as_float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return arr


def group_labels(groups: Sequence[str] | npt.ArrayLike | None, n: int) -> npt.NDArray[np.str_]:
    """Group labels as a string array of length ``n`` (all stations in one group if None)."""
    if groups is None:
        return np.full(n, "all", dtype="<U3")
    arr = np.asarray(groups).astype(np.str_)
    if arr.shape != (n,):
        raise ValueError(f"groups must have one label per station ({n}), got shape {arr.shape}")
    return arr


def jsonable(value: Any) -> Any:
    """Convert dataclasses' numpy members into plain JSON-serialisable Python values."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return f if np.isfinite(f) else None
    return value
