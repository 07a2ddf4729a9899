"""Fixtures of the transparency log's tests: the spec's reference implementation (to test
against, never imported by the package), the transparency-dev probe files, the test keys of
spec §6.8 and the reference leaves of §6.2."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from secki.tlog.note import KeyType, Signer

SHARED = Path(os.environ.get("SECKI_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))

#: RFC 8032 §7.1 TEST 1 and TEST 2 seeds: the log's and the witness's keys of spec §6.8
TEST1_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
TEST2_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
ORIGIN = "results.example.org/log"
WITNESS = "observers.example.net/w1"

#: spec §6.2: the CT reference leaves d0…d7
REF_LEAVES = [
    bytes.fromhex(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    """spec/transparency_vectors.py, loaded by path."""
    path = SHARED / "spec" / "transparency_vectors.py"
    if not path.exists():
        pytest.skip(f"the spec's reference implementation is not at {path}")
    spec = importlib.util.spec_from_file_location("transparency_vectors", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def probes_dir() -> Path:
    path = SHARED / "data" / "tlog-probes"
    if not path.is_dir():
        pytest.skip(f"the transparency-dev probe files are not at {path}")
    return path


@pytest.fixture(scope="session")
def log_signer() -> Signer:
    return Signer.from_seed(ORIGIN, KeyType.ED25519, TEST1_SEED)


@pytest.fixture(scope="session")
def witness_signer() -> Signer:
    return Signer.from_seed(WITNESS, KeyType.COSIGNATURE, TEST2_SEED)
