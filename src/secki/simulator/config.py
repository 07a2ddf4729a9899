"""Simulation settings and the ``--fraud`` specification language.

Defaults model the Azerbaijani presidential election of 7 February 2024
(spec/domain.md §7): 125 constituencies, 6,537 stations, 6,478,623 registered voters,
turnout 76.43 %, the leader at 92.12 % of valid votes.

Fraud specification (``--fraud``), one or more clauses separated by ``;`` or ``,``::

    stuffing[:fi=F,fe=F,theta=F,alpha=F]    Klimek et al. (PNAS 2012) ballot stuffing
    integer[:share=F,what=both|leader|turnout]  rewrite results to integer percentages

A token of the form ``kind:key=value`` or a bare ``kind`` opens a clause; a following
``key=value`` token belongs to the clause opened last, so
``stuffing:fi=0.1,fe=0.02,theta=0.2,alpha=2;integer:share=0.05`` and
``stuffing:fi=0.1,fe=0.02,integer:share=0.05`` mean the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, TypeVar

from secki.simulator import names

REGISTERED_2024 = 6_478_623
STATIONS_2024 = 6_537
CONSTITUENCIES_2024 = 125
NAX_CONSTITUENCIES_2024 = 6
BAKU_CONSTITUENCIES_2024 = 24
ABROAD_2024 = 49
TEMPORARY_2024 = 218
WEBCAMS_2024 = 1_000
TURNOUT_2024 = 0.7643
SHARES_2024 = (0.9212, 0.0217, 0.0199, 0.0172, 0.0080, 0.0066, 0.0054)
STATIONS_PER_CONSTITUENCY_LARGE = 2_000
DEFAULT_SEED = 20240207

IntegerTarget = Literal["both", "leader", "turnout"]


class FraudSpecError(ValueError):
    """The ``--fraud`` text is not in the documented syntax."""


@dataclass(frozen=True)
class StuffingSpec:
    """Klimek model: incremental fraud with probability ``fi`` (x ~ |N(0, theta)| on [0, 1]),
    extreme fraud with probability ``fe`` (x = 1 − |N(0, 0.075)|); ``alpha`` is the exponent of
    the vote-stealing term x^α(1 − ν)τ."""

    fi: float = 0.1
    fe: float = 0.01
    theta: float = 0.15
    alpha: float = 2.0

    def __post_init__(self) -> None:
        if not (0 <= self.fi <= 1 and 0 <= self.fe <= 1 and self.fi + self.fe <= 1):
            raise FraudSpecError("stuffing: fi and fe must lie in [0, 1] with fi + fe <= 1")
        if not self.theta > 0:
            raise FraudSpecError("stuffing: theta must be > 0")
        if not self.alpha > 0:
            raise FraudSpecError("stuffing: alpha must be > 0")


@dataclass(frozen=True)
class IntegerSpec:
    """Rewrite the protocols of ``share`` of all stations so that the leader's share of the
    ballots in the boxes and/or the turnout are integer percentages (Kobak et al. 2016)."""

    share: float = 0.05
    what: IntegerTarget = "both"

    def __post_init__(self) -> None:
        if not 0 <= self.share <= 1:
            raise FraudSpecError("integer: share must lie in [0, 1]")
        if self.what not in ("both", "leader", "turnout"):
            raise FraudSpecError("integer: what must be both, leader or turnout")


@dataclass(frozen=True)
class FraudSpec:
    stuffing: StuffingSpec | None = None
    integer: IntegerSpec | None = None

    @property
    def any(self) -> bool:
        return self.stuffing is not None or self.integer is not None

    def describe(self) -> str:
        parts = []
        if self.stuffing is not None:
            s = self.stuffing
            parts.append(f"stuffing:fi={s.fi:g},fe={s.fe:g},theta={s.theta:g},alpha={s.alpha:g}")
        if self.integer is not None:
            parts.append(f"integer:share={self.integer.share:g},what={self.integer.what}")
        return ";".join(parts) or "none"


def parse_fraud(*specs: str) -> FraudSpec:
    """Parse one or more ``--fraud`` texts (see the module docstring) into a :class:`FraudSpec`."""
    clauses: dict[str, dict[str, str]] = {}
    current: str | None = None
    for spec in specs:
        for raw in re.split(r"[;,]", spec):
            token = raw.strip()
            if not token:
                continue
            if "=" in token and ":" not in token:
                if current is None:
                    raise FraudSpecError(f"{token!r}: a parameter before any fraud kind")
                key, value = token.split("=", 1)
                clauses[current][key.strip()] = value.strip()
                continue
            kind, _, rest = token.partition(":")
            kind = kind.strip().lower()
            if kind not in ("stuffing", "integer"):
                raise FraudSpecError(f"unknown fraud kind {kind!r} (known: stuffing, integer)")
            current = kind
            clauses.setdefault(kind, {})
            rest = rest.strip()
            if rest:
                if "=" not in rest:
                    raise FraudSpecError(f"{token!r}: expected key=value after {kind}:")
                key, value = rest.split("=", 1)
                clauses[kind][key.strip()] = value.strip()
    stuffing = integer = None
    if "stuffing" in clauses:
        stuffing = _build(StuffingSpec, "stuffing", clauses["stuffing"])
    if "integer" in clauses:
        integer = _build(IntegerSpec, "integer", clauses["integer"])
    return FraudSpec(stuffing, integer)


_Spec = TypeVar("_Spec", StuffingSpec, IntegerSpec)


def _build(cls: type[_Spec], kind: str, params: dict[str, str]) -> _Spec:
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, text in params.items():
        if key not in known:
            raise FraudSpecError(f"{kind}: unknown parameter {key!r} (known: {', '.join(known)})")
        if key == "what":
            values[key] = text.lower()
            continue
        try:
            values[key] = float(text)
        except ValueError:
            raise FraudSpecError(f"{kind}: {key}={text!r} is not a number") from None
    return replace(cls(), **values)


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that determines a simulated election; same config → same bytes."""

    seed: int = DEFAULT_SEED
    stations: int = STATIONS_2024
    constituencies: int | None = None  # None: 125 up to 250,000 stations, then ~2,000 each
    candidates: int = 7
    fraud: FraudSpec = field(default_factory=FraudSpec)
    registered: int | None = None  # None: 6,478,623 scaled by stations / 6,537
    turnout: float = TURNOUT_2024
    shares: tuple[float, ...] | None = None  # None: the 2024 shares, extended geometrically
    slug: str = "az-2024-simulated"
    name: str = names.ELECTION[0]
    #: the election's name in Azerbaijani and Russian; None: the default name's translation
    #: when ``name`` is the default one, else none
    name_az: str | None = None
    name_ru: str | None = None
    #: above 0: a second contest on the same protocol, party lists sharing this many seats
    list_seats: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.list_seats <= 10_000:
            raise ValueError("list_seats must lie in 0 … 10,000")
        if self.stations < 1:
            raise ValueError("stations must be >= 1")
        if self.constituencies is not None and not 1 <= self.constituencies <= self.stations:
            raise ValueError("constituencies must lie in 1 … stations")
        if self.candidates < 2:
            raise ValueError("candidates must be >= 2")
        if self.registered is not None and self.registered < 10 * self.stations:
            raise ValueError("registered must be at least 10 voters per station")
        if self.registered is not None and self.registered > 2_000 * self.stations:
            raise ValueError("registered must be at most 2,000 voters per station on average")
        if not 0.05 <= self.turnout <= 0.98:
            raise ValueError("turnout must lie in [0.05, 0.98]")
        if self.shares is not None and (
            len(self.shares) != self.candidates or min(self.shares) <= 0
        ):
            raise ValueError("shares must give one positive share per candidate")
        if "(simulated)" not in self.name:
            raise ValueError("the name of a simulated election must contain '(simulated)'")

    def translated_names(self) -> dict[str, str]:
        """election.json's ``name_az`` and ``name_ru`` (those known)."""
        default = self.name == names.ELECTION[0]
        given = {
            "name_az": self.name_az if self.name_az is not None else names.ELECTION[1],
            "name_ru": self.name_ru if self.name_ru is not None else names.ELECTION[2],
        }
        if not default:
            given = {"name_az": self.name_az or "", "name_ru": self.name_ru or ""}
        return {key: text for key, text in given.items() if text}

    @property
    def n_constituencies(self) -> int:
        if self.constituencies is not None:
            return self.constituencies
        n = self.stations
        if n > CONSTITUENCIES_2024 * STATIONS_PER_CONSTITUENCY_LARGE:
            return round(n / STATIONS_PER_CONSTITUENCY_LARGE)
        return max(1, min(CONSTITUENCIES_2024, round(n * CONSTITUENCIES_2024 / STATIONS_2024)))

    @property
    def n_registered(self) -> int:
        if self.registered is not None:
            return self.registered
        if self.stations == STATIONS_2024:
            return REGISTERED_2024
        return round(REGISTERED_2024 * self.stations / STATIONS_2024)

    @property
    def vote_shares(self) -> tuple[float, ...]:
        """National shares of valid votes, candidate 1 (the leader) first, summing to 1."""
        if self.shares is not None:
            raw = list(self.shares)
        else:
            raw = list(SHARES_2024[: self.candidates])
            while len(raw) < self.candidates:
                raw.append(raw[-1] * 0.8)
            if self.candidates < len(SHARES_2024):
                # fold the missing candidates' votes into the opposition, keep the leader's
                rest = 1 - SHARES_2024[0]
                tail = sum(raw[1:])
                raw = [SHARES_2024[0]] + [s * rest / tail for s in raw[1:]]
        total = sum(raw)
        return tuple(s / total for s in raw)
