"""Shared fixtures for the statistics tests: where the real election data lie."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest


def _data_dir() -> Path:
    env = os.environ.get("SECKI_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Callable[[str], Path]:
    """``shared_data(name)``: the real data file, or skip with the reason when absent."""

    def find(name: str) -> Path:
        path = _data_dir() / name
        if not path.exists():
            pytest.skip(f"real data {name} not found in {_data_dir()} (set SECKI_DATA_DIR)")
        return path

    return find
