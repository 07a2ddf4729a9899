"""PNG plots of a live analysis, drawn by the forensics CLI's own plotting helpers.

The live analysis is wrapped as the CLI's :class:`~secki.forensics.suite.SuiteResult` (a
"table" whose columns are the schema's roles), so the pictures are exactly those that
``secki forensics --out`` writes for a file.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import numpy as np

from secki.forensics.loading import StationTable
from secki.forensics.mapping import ResolvedMapping
from secki.forensics.suite import SuiteResult
from secki.integrity.analysis import DIGIT_FIELDS, Analysis

PLOTS = ("fingerprint", "integer", "digits-cast", "digits-leader")
_lock = threading.Lock()  # pyplot keeps global state


def as_suite(a: Analysis) -> SuiteResult:
    if a.integer is None or a.fingerprint is None or a.risk is None:
        raise ValueError("nothing to plot: no counted protocols")
    d = a.data
    leader = d.leader_votes()
    header = ("registered", "participants", "cast", "leader", "constituency", "station")
    mapping = ResolvedMapping(
        registered=(0,),
        given=(1,),
        received=(2,),
        leader=(3,),
        group=4,
        ids=(5,),
        candidates=(),
        digits=tuple(DIGIT_FIELDS[name] for name in a.digits),
        header=header,
        description=f"{d.slug}: counted protocols in Secki",
        columns={
            "registered": [d.roles["registered"]],
            "given": [d.roles["participants"]],
            "received": [d.roles["cast"]],
            "leader": [d.leader.code if d.leader else ""],
        },
    )
    table = StationTable(
        rows=np.arange(1, d.n + 1, dtype=np.int64),
        registered=d.registered,
        given=d.participants,
        received=d.cast,
        leader=leader,
        groups=d.groups,
        ids=list(d.codes),
        extra={DIGIT_FIELDS["cast"]: d.cast, DIGIT_FIELDS["leader"]: leader},
        mapping=mapping,
        total_rows=d.n,
    )
    return SuiteResult(
        table=table,
        integer=a.integer,
        digits={DIGIT_FIELDS[name]: value for name, value in a.digits.items()},
        fingerprint=a.fingerprint,
        fit=a.fit,
        fit_error=a.fit_error,
        risk=a.risk,
        seed=a.config.seed,
        replicates=a.config.replicates,
    )


def png(a: Analysis, name: str) -> bytes:
    """One of :data:`PLOTS` as PNG bytes (rendered once per analysis)."""
    if name not in PLOTS:
        raise KeyError(name)
    cached = a.plots.get(name)
    if cached is not None:
        return cached
    from secki.forensics import plots

    suite = as_suite(a)
    with _lock, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.png"
        if name == "fingerprint":
            plots.fingerprint_plot(suite, path)
        elif name == "integer":
            plots.integer_plot(suite, path)
        else:
            plots.digits_plot(suite, DIGIT_FIELDS[name.removeprefix("digits-")], path)
        data = path.read_bytes()
    a.plots[name] = data
    return data
