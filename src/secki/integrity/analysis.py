"""The forensics suite of :mod:`secki.stats` on an election's counted protocols, live.

Every analysis is a plain call of :mod:`secki.stats` on the station arrays of
:mod:`secki.integrity.station_arrays`, with the one seed ``SECKI_INTEGRITY_SEED`` (default
1), so that anyone can rerun it on the bulk CSV and get the same numbers:

* integer percentages: ``integer_percentage_test(registered, participants, cast, leader,
  seed=S, groups=constituencies, replicates=R)``;
* digit tests of the ballots in the boxes and of the leader's votes, overall and by
  constituency: ``digit_tests(counts, seed=S, registered=registered)`` and
  ``digit_tests_by_group(counts, constituencies, seed=S, registered=registered)``;
* fingerprint: ``fingerprint(registered, participants, leader, received=cast)``;
* Klimek fit: ``fit_klimek(registered, participants, leader, received=cast, seed=S,
  bootstrap=B)``;
* risk: ``risk_scores(registered, participants, cast, leader, groups=constituencies)``.

Results are cached per process, keyed by the election and the head of the public ledger
(every change that can move a count appends to the ledger). A request never waits for the
statistics unless ``SECKI_INTEGRITY_BACKGROUND`` is false: when the head has moved it reads
the station arrays (a few queries), hands them to a single background worker (the numbers
need no database) and shows the last result with its timestamp until the new one is ready.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_noop

from secki.elections.models import Election
from secki.integrity.station_arrays import StationData, load
from secki.ledger.chain import ledger_head
from secki.stats import (
    DigitTestResult,
    FingerprintResult,
    IntegerPercentageResult,
    IntegerStatistic,
    KlimekFit,
    RiskResult,
    digit_tests,
    digit_tests_by_group,
    fingerprint,
    fit_klimek,
    integer_percentage_test,
    risk_scores,
)
from secki.stats._common import jsonable
from secki.stats.integer_percentages import inclusion_reasons

log = logging.getLogger(__name__)

#: p-value at or below which the integer-percentage test is reported as an anomaly
ALPHA = 0.01
#: share of stations with turnout and leader share both >= 95 % reported as an anomaly
HIGH_HIGH_FLAG = 0.01
#: digit-test p-value at or below which a constituency is listed as a (weak) signal
DIGIT_ALPHA = 0.01
DIGIT_FIELDS = {
    "cast": gettext_noop("ballots in the boxes"),
    "leader": gettext_noop("votes for the leader"),
}


@dataclass(frozen=True)
class AnalysisConfig:
    seed: int = 1
    replicates: int = 1000
    fit_bootstrap: int = 50
    digit_bootstrap: int = 1000

    @classmethod
    def from_settings(cls) -> AnalysisConfig:
        return cls(
            seed=int(getattr(settings, "SECKI_INTEGRITY_SEED", 1)),
            replicates=int(getattr(settings, "SECKI_INTEGRITY_REPLICATES", 1000)),
            fit_bootstrap=int(getattr(settings, "SECKI_INTEGRITY_FIT_BOOTSTRAP", 50)),
            digit_bootstrap=int(getattr(settings, "SECKI_INTEGRITY_DIGIT_BOOTSTRAP", 1000)),
        )


def background() -> bool:
    return bool(getattr(settings, "SECKI_INTEGRITY_BACKGROUND", True))


@dataclass(frozen=True, eq=False)
class Analysis:
    data: StationData
    config: AnalysisConfig
    computed_at: dt.datetime
    seconds: float
    integer: IntegerPercentageResult | None
    integer_error: str | None
    #: field → (all stations, by constituency)
    digits: dict[str, tuple[DigitTestResult, dict[str, DigitTestResult]]]
    fingerprint: FingerprintResult | None
    fit: KlimekFit | None
    fit_error: str | None
    risk: RiskResult | None
    #: rendered plots (PNG bytes by name), filled on first request
    plots: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def head(self) -> int:
        return self.data.head

    @property
    def integer_flagged(self) -> bool:
        return self.integer is not None and self.integer.either.pvalue <= ALPHA

    @property
    def high_high_flagged(self) -> bool:
        fp = self.fingerprint
        return fp is not None and fp.stations > 0 and fp.high_high_share >= HIGH_HIGH_FLAG

    def integer_groups_flagged(self) -> list[str]:
        if self.integer is None or len(self.integer.groups) < 2:
            return []
        flagged = [g for g in self.integer.groups if g.either.pvalue <= ALPHA]
        return [g.group for g in sorted(flagged, key=lambda g: -g.either.anomaly)]

    def digit_signals(self) -> list[tuple[str, str, str, float]]:
        """(field, constituency, test, p) for every constituency test with p <= DIGIT_ALPHA."""
        out = []
        for name, (_total, by_group) in self.digits.items():
            for group, r in by_group.items():
                for test, p in (
                    ("second digit (2BL)", r.second_digit_pvalue),
                    ("last digit", r.last_digit_pvalue),
                ):
                    if np.isfinite(p) and p <= DIGIT_ALPHA:
                        out.append((name, group, test, float(p)))
        return sorted(out, key=lambda s: s[3])


def analyse(data: StationData, config: AnalysisConfig) -> Analysis:
    """Run the suite on ``data`` (pure numpy/scipy: safe in a background thread)."""
    started = time.perf_counter()
    seed = config.seed
    reg, given, cast = data.registered, data.participants, data.cast
    leader = data.leader_votes()
    groups = data.groups
    integer = fp = fit = risk = None
    fit_error: str | None = None
    integer_error: str | None = None
    digits: dict[str, tuple[DigitTestResult, dict[str, DigitTestResult]]] = {}
    if data.n:
        included, _ = inclusion_reasons(reg, given, cast, leader)
        if included.any():
            integer = integer_percentage_test(
                reg, given, cast, leader, seed=seed, groups=groups, replicates=config.replicates
            )
        else:
            integer_error = (
                "no station meets the inclusion rules (ballots in the boxes, at least 100 "
                "registered voters, turnout and leader share at most 99 %)"
            )
        for name, counts in (("cast", cast), ("leader", leader)):
            digits[name] = (
                digit_tests(counts, seed=seed, registered=reg, bootstrap=config.digit_bootstrap),
                digit_tests_by_group(
                    counts, groups, seed=seed, registered=reg, bootstrap=config.digit_bootstrap
                ),
            )
        fp = fingerprint(reg, given, leader, received=cast)
        try:
            fit = fit_klimek(
                reg, given, leader, received=cast, seed=seed, bootstrap=config.fit_bootstrap
            )
        except ValueError as exc:
            fit_error = str(exc)
        risk = risk_scores(reg, given, cast, leader, groups=groups)
    else:
        fit_error = integer_error = "no counted protocols yet"
    return Analysis(
        data=data,
        config=config,
        computed_at=timezone.now(),
        seconds=time.perf_counter() - started,
        integer=integer,
        integer_error=integer_error,
        digits=digits,
        fingerprint=fp,
        fit=fit,
        fit_error=fit_error,
        risk=risk,
    )


# -- cache and background worker ------------------------------------------------------------


@dataclass
class _Entry:
    result: Analysis | None = None
    pending: Future[Analysis] | None = None
    pending_head: int | None = None
    error: str | None = None
    error_head: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """What a page shows: the newest finished analysis (may be None) and whether a newer
    one is being computed."""

    result: Analysis | None
    head: int
    computing: bool
    error: str | None = None

    @property
    def stale(self) -> bool:
        return self.result is not None and self.result.head != self.head


_entries: dict[tuple[Any, ...], _Entry] = {}
_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        # one worker: the machine's cores serve requests too
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="secki-integrity")
    return _executor


def clear_cache() -> None:
    with _lock:
        _entries.clear()


def _key(election: Election, public: bool) -> tuple[Any, ...]:
    return (*election._cache_key(), public)


def _finished(key: tuple[Any, ...], head: int, future: Future[Analysis]) -> None:
    with _lock:
        entry = _entries.setdefault(key, _Entry())
        if entry.pending is future:
            entry.pending = None
            entry.pending_head = None
        exc = future.exception()
        if exc is not None:
            log.error("integrity analysis failed", exc_info=exc)
            entry.error, entry.error_head = f"{type(exc).__name__}: {exc}", head
            return
        result = future.result()
        if entry.result is None or entry.result.head <= result.head:
            entry.result = result
            entry.error = None


def snapshot(election: Election, *, public: bool, wait: bool | None = None) -> Snapshot:
    """The current analysis of ``election`` (published protocols only when ``public``).

    ``wait`` (default: not ``SECKI_INTEGRITY_BACKGROUND``) computes in the calling thread.
    """
    head = ledger_head()
    key = _key(election, public)
    if wait is None:
        wait = not background()
    with _lock:
        entry = _entries.setdefault(key, _Entry())
        if entry.result is not None and entry.result.head == head:
            return Snapshot(entry.result, head, computing=False)
        if entry.pending is not None and not entry.pending.done() and not wait:
            return Snapshot(entry.result, head, computing=True)
        if entry.error is not None and entry.error_head == head and not wait:
            return Snapshot(entry.result, head, computing=False, error=entry.error)
    data = load(election, public=public, head=head)
    config = AnalysisConfig.from_settings()
    if wait:
        result = analyse(data, config)
        with _lock:
            if entry.result is None or entry.result.head <= result.head:
                entry.result = result
                entry.error = None
        return Snapshot(result, head, computing=False)
    future: Future[Analysis] | None = None
    with _lock:
        if entry.pending is None or entry.pending.done():
            future = _pool().submit(analyse, data, config)
            entry.pending, entry.pending_head = future, head
        earlier = entry.result
    # outside the lock: a future already done runs its callback here, and the callback
    # takes the lock (inside it, a quick analysis deadlocked the request)
    if future is not None:
        future.add_done_callback(lambda f: _finished(key, head, f))
    return Snapshot(earlier, head, computing=True)


def pending(election: Election, *, public: bool) -> Future[Analysis] | None:
    """The running computation, if any (tests and the CLI wait on it)."""
    with _lock:
        entry = _entries.get(_key(election, public))
        return entry.pending if entry is not None else None


# -- plain-language explanations ----------------------------------------------------------

GENERAL_CAVEAT = gettext_noop(
    "An anomaly is not proof of fraud. These tests show where the published numbers depart "
    "from what honest counting usually produces; they cannot say why. Evidence of fraud comes "
    "from the paper protocols, observers' reports, video and courts."
)

EXPLANATIONS: dict[str, dict[str, str]] = {
    "integer_test": {
        "title": gettext_noop("Integer percentages"),
        "shows": gettext_noop(
            "Whether more stations than chance predicts report a leader share or a turnout "
            "that is a whole percentage (such as exactly 80.0 %). Protocols written to hit a "
            "target figure leave this trace (Kobak, Shpilkin & Pshenichnikov 2016). What "
            "chance predicts is computed by redrawing every station's counts with honest "
            "counting noise (a binomial bootstrap with a fixed seed)."
        ),
        "cannot": gettext_noop(
            "It cannot say which stations were falsified: an honest station lands on a whole "
            "percentage by chance about one time in ten. It does not see falsification that "
            "does not aim at round numbers. A small p-value means 'more round numbers than "
            "chance explains', not 'fraud'."
        ),
    },
    "fingerprint": {
        "title": gettext_noop("Election fingerprint"),
        "shows": gettext_noop(
            "Every station as a point: turnout across, the leader's share of the ballots in "
            "the boxes up. Honest elections usually form one roughly round cloud; ballot "
            "stuffing drags stations towards the top-right corner, where turnout and the "
            "leader's share are both close to 100 % (Klimek, Yegorov, Hanel & Thurner 2012). "
            "We mark the share of stations with both at least 95 % when it reaches 1 %."
        ),
        "cannot": gettext_noop(
            "It cannot say why stations sit where they do: some communities do vote almost "
            "unanimously with a very high turnout, and regions that genuinely differ also "
            "smear the cloud."
        ),
    },
    "klimek_fit": {
        "title": gettext_noop("Klimek model fit"),
        "shows": gettext_noop(
            "The shares of stations with incremental (f_i) and extreme (f_e) ballot stuffing "
            "that would let the model of Klimek et al. reproduce this fingerprint, with a "
            "bootstrap interval."
        ),
        "cannot": gettext_noop(
            "It is an estimate under a model, not a count of falsified stations: different "
            "authors' fits of the same election differ widely, and a wrong model gives a "
            "confident wrong answer. Small incremental fraud looks much like an honest "
            "cloud shifted to the right."
        ),
    },
    "digits": {
        "title": gettext_noop("Digit tests"),
        "shows": gettext_noop(
            "Whether the second digits of the counts follow Benford's law (2BL), whether last "
            "digits are uniform, and how often counts and percentages end in 0 or 5, per "
            "constituency (Mebane; Beber & Scacco 2012)."
        ),
        "cannot": gettext_noop(
            "Digit tests are weak signals. Honest counts often fail them (small stations, a "
            "dominant candidate) and manipulated counts often pass; Mebane found them "
            "misleading on Russian data. Read them only next to the other tests, never as a "
            "verdict."
        ),
    },
    "risk": {
        "title": gettext_noop("Stations to look at first"),
        "shows": gettext_noop(
            "A score per station that adds up its signals: a whole-percentage leader share or "
            "turnout (1 point each), turnout and leader share both at least 95 % (3), "
            "turnout or leader share far above its constituency (1.5 each), numbers that "
            "contradict each other (2). It ranks protocols for checking against the paper, "
            "the observers' reports and the video."
        ),
        "cannot": gettext_noop(
            "A high score is not evidence that the station cheated: honest stations hit "
            "round numbers and high turnouts too. A low score does not clear a station."
        ),
    },
    "turnout": {
        "title": gettext_noop("Turnout reports"),
        "shows": gettext_noop(
            "Flags from the turnout reported during the day: turnout above 100 %, decreases, "
            "a late jump to the final protocol, identical numbers, curves far from the "
            "constituency's."
        ),
        "cannot": gettext_noop(
            "A flag is a reason to look at a station, not a finding: late queues and "
            "corrections of typing errors raise flags too."
        ),
    },
}


# -- JSON -----------------------------------------------------------------------------------


def _stat(s: IntegerStatistic) -> dict[str, Any]:
    return asdict(s)


def _digits(r: DigitTestResult) -> dict[str, Any]:
    d = asdict(r)
    d.pop("second_digit_probabilities", None)
    return d


def risk_rows(
    a: Analysis, *, limit: int, station_url: Callable[[str], str | None] | None = None
) -> list[dict[str, Any]]:
    if a.risk is None:
        return []
    d = a.data
    leader = d.leader_votes()
    rows: list[dict[str, Any]] = []
    for i in a.risk.top(limit):
        code = d.codes[i]
        rows.append(
            {
                "rank": len(rows) + 1,
                "station": code,
                "name": d.names[i],
                "constituency": str(d.groups[i]),
                "constituency_name": d.group_names.get(str(d.groups[i]), ""),
                "score": float(a.risk.scores[i]),
                "signals": [k for k, v in a.risk.signals.items() if v[i]],
                "reasons": list(a.risk.explanations[i]),
                "turnout_flags": d.turnout_flags.get(code, []),
                "registered": int(d.registered[i]),
                "participants": int(d.participants[i]),
                "cast": int(d.cast[i]),
                "leader_votes": int(leader[i]),
                "url": station_url(code) if station_url is not None else None,
            }
        )
    return rows


def fingerprint_cells(fp: FingerprintResult) -> list[list[int]]:
    """Non-empty cells of the 2-D histogram as [turnout bin, share bin, stations]."""
    i, j = np.nonzero(fp.counts)
    return [[int(a), int(b), int(fp.counts[a, b])] for a, b in zip(i, j, strict=True)]


def analysis_json(
    snap: Snapshot,
    *,
    top: int = 50,
    station_url: Callable[[str], str | None] | None = None,
) -> dict[str, Any]:
    a = snap.result
    out: dict[str, Any] = {
        "status": "computing" if a is None and snap.computing else "ready",
        "computing": snap.computing,
        "error": snap.error,
        "ledger_head": snap.head,
        "stale": snap.stale,
        "caveat": GENERAL_CAVEAT,
        "explanations": EXPLANATIONS,
    }
    if snap.error is not None and a is None:
        out["status"] = "failed"
    if a is None:
        return out
    d = a.data
    leader = d.leader
    out.update(
        {
            "published_only": d.public,
            "computed_at": a.computed_at.isoformat(),
            "computed_at_ledger_head": a.head,
            "seconds": round(a.seconds, 3),
            "seed": a.config.seed,
            "replicates": a.config.replicates,
            "fit_bootstrap": a.config.fit_bootstrap,
            "roles": d.roles,
            "stations": {"analysed": d.n, "total": d.stations_total},
            "leader": (
                None
                if leader is None
                else {"number": leader.number, "name": leader.name, "party": leader.party}
            ),
            "flags": {
                "integer_percentages": a.integer_flagged,
                "high_high": a.high_high_flagged,
                "alpha": ALPHA,
                "high_high_threshold": HIGH_HIGH_FLAG,
            },
        }
    )
    if a.integer is None:
        out["integer_test"] = {"error": a.integer_error}
    else:
        ip = a.integer
        out["integer_test"] = {
            "stations": ip.stations,
            "included": ip.included,
            "excluded": ip.excluded,
            "replicates": ip.replicates,
            "statistic": ip.statistic,
            "pvalue": ip.pvalue,
            "either": _stat(ip.either),
            "leader": _stat(ip.leader),
            "turnout": _stat(ip.turnout),
            "groups": [
                {
                    "group": g.group,
                    "name": d.group_names.get(g.group, ""),
                    "stations": g.stations,
                    "included": g.included,
                    "either": _stat(g.either),
                    "leader": _stat(g.leader),
                    "turnout": _stat(g.turnout),
                }
                for g in ip.groups
            ],
            "groups_flagged": a.integer_groups_flagged(),
            "method": ip.method,
            "citation": ip.citation,
        }
    if a.digits:
        out["digits"] = {
            name: {
                "counts": DIGIT_FIELDS[name],
                "all": _digits(total),
                "groups": {g: _digits(r) for g, r in by.items()},
            }
            for name, (total, by) in a.digits.items()
        }
        out["digit_signals"] = [
            {"counts": f, "group": g, "test": t, "pvalue": p} for f, g, t, p in a.digit_signals()
        ]
    if a.fingerprint is not None:
        fp = a.fingerprint
        out["fingerprint"] = {
            "stations": fp.stations,
            "high_high": fp.high_high,
            "high_high_share": fp.high_high_share,
            "turnout": fp.turnout,
            "leader_share": fp.leader_share,
            "bins": int(fp.counts.shape[0]),
            "cells": fingerprint_cells(fp),
            "method": fp.method,
            "citation": fp.citation,
        }
    out["klimek_fit"] = asdict(a.fit) if a.fit is not None else {"error": a.fit_error}
    if a.risk is not None:
        out["risk"] = {
            "signals": {k: int(v.sum()) for k, v in a.risk.signals.items()},
            "weights": a.risk.weights,
            "stations_with_signals": int(np.count_nonzero(a.risk.scores > 0)),
            "top": risk_rows(a, limit=top, station_url=station_url),
            "method": a.risk.method,
            "citation": a.risk.citation,
        }
    out["turnout_signals"] = {
        "counts": d.turnout_flag_counts,
        "stations": len(d.turnout_flags),
    }
    result: dict[str, Any] = jsonable(out)
    return result
