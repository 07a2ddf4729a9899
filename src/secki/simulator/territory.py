"""The territory: country → (Nakhchivan region) → constituencies → polling stations.

Constituencies are numbered 1…K: the first block (6 of 125) lies in the Nakhchivan
Autonomous Republic (unit ``NAX``), the next block (24 of 125) is Baku, the rest lie directly
under the country. Stations abroad (about 49 of 6,537) are attached to the Baku
constituencies, without coordinates. Station sizes are skewed (lognormal, larger in towns),
clipped to 10…2,500 voters and adjusted so that the register sums exactly to the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from secki.simulator._types import BoolArray, FloatArray, IntArray
from secki.simulator.config import (
    ABROAD_2024,
    BAKU_CONSTITUENCIES_2024,
    CONSTITUENCIES_2024,
    NAX_CONSTITUENCIES_2024,
    STATIONS_2024,
    TEMPORARY_2024,
    WEBCAMS_2024,
    SimulationConfig,
)

MIN_REGISTERED = 10
MAX_REGISTERED = 2_500

# Rough outlines (longitude, latitude) of mainland Azerbaijan and of Nakhchivan: good enough
# to keep simulated stations on land and inside the country's bounding box.
MAINLAND = np.array(
    [
        (45.02, 41.20), (45.60, 41.30), (46.20, 41.20), (46.45, 41.50), (46.50, 41.88),
        (47.20, 41.70), (47.90, 41.30), (48.40, 41.55), (48.60, 41.85), (49.10, 41.40),
        (49.50, 40.90), (49.80, 40.55), (50.37, 40.45), (49.95, 40.32), (49.45, 40.15),
        (49.40, 39.90), (49.45, 39.35), (48.90, 38.85), (48.87, 38.45), (48.30, 38.55),
        (48.00, 38.85), (48.35, 39.35), (47.90, 39.68), (47.30, 39.40), (46.60, 38.90),
        (46.50, 39.45), (46.40, 39.65), (45.95, 40.05), (45.60, 40.50), (45.45, 40.70),
        (45.05, 41.00),
    ]
)  # fmt: skip
NAKHCHIVAN = np.array(
    [
        (44.80, 39.70), (45.10, 39.77), (45.60, 39.55), (45.90, 39.35), (46.13, 38.95),
        (45.95, 38.88), (45.50, 39.02), (45.10, 39.35),
    ]
)  # fmt: skip
BAKU_CENTRE = (49.87, 40.40)  # (lon, lat)
LAT_RANGE = (38.4, 41.9)
LON_RANGE = (44.8, 50.4)


@dataclass
class Territory:
    """Constituencies (index k = number − 1) and stations (index i, in file order)."""

    n_nax: int
    n_baku: int
    urbanity: FloatArray  # (K,) 0 = rural, 1 = city centre
    constituency: IntArray  # (N,) constituency number of each station
    number: IntArray  # (N,) station number within its constituency, 1…n
    registered: IntArray  # (N,)
    latitude: FloatArray  # (N,) NaN abroad
    longitude: FloatArray  # (N,) NaN abroad
    abroad: BoolArray
    temporary: BoolArray
    webcam: BoolArray

    @property
    def n_constituencies(self) -> int:
        return len(self.urbanity)

    @property
    def n_stations(self) -> int:
        return len(self.registered)

    def region_of(self, number: int) -> str | None:
        """Code of the region a constituency lies in (``NAX``), or None (directly in AZ)."""
        return "NAX" if number <= self.n_nax else None


def _scaled(total: int, n: int, reference: int) -> int:
    return round(total * n / reference)


def block_sizes(k: int) -> tuple[int, int]:
    """Number of Nakhchivan and of Baku constituencies among ``k``."""
    n_nax = _scaled(NAX_CONSTITUENCIES_2024, k, CONSTITUENCIES_2024) if k >= 11 else 0
    n_baku = max(1, _scaled(BAKU_CONSTITUENCIES_2024, k, CONSTITUENCIES_2024))
    n_baku = min(n_baku, k - n_nax)
    return n_nax, n_baku


def inside(polygon: FloatArray, lon: FloatArray, lat: FloatArray) -> BoolArray:
    """Vectorised ray-casting point-in-polygon test."""
    result = np.zeros(lon.shape, dtype=bool)
    x1, y1 = polygon[:, 0], polygon[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    for ax, ay, bx, by in zip(x1, y1, x2, y2, strict=True):
        if ay == by:
            continue
        crosses = (ay > lat) != (by > lat)
        x_cross = (bx - ax) * (lat - ay) / (by - ay) + ax
        result ^= crosses & (lon < x_cross)
    return result


def _largest_remainder(total: int, weights: FloatArray) -> IntArray:
    """Split ``total`` into integer parts proportional to ``weights`` (deterministic)."""
    exact = total * weights / weights.sum()
    parts: IntArray = np.floor(exact).astype(np.int64)
    short = total - int(parts.sum())
    if short > 0:
        order = np.argsort(-(exact - parts), kind="stable")
        parts[order[:short]] += 1
    return parts


def _sample_in(
    rng: np.random.Generator,
    polygon: FloatArray,
    centre_lon: FloatArray,
    centre_lat: FloatArray,
    spread: FloatArray,
    attempts: int = 12,
) -> tuple[FloatArray, FloatArray]:
    """Points scattered around the centres, redrawn until inside the polygon."""
    lon = centre_lon.copy()
    lat = centre_lat.copy()
    todo = np.arange(len(lon))
    for _ in range(attempts):
        if len(todo) == 0:
            break
        cand_lon = centre_lon[todo] + rng.normal(0.0, 1.0, len(todo)) * spread[todo] * 1.3
        cand_lat = centre_lat[todo] + rng.normal(0.0, 1.0, len(todo)) * spread[todo]
        ok = inside(polygon, cand_lon, cand_lat)
        lon[todo[ok]] = cand_lon[ok]
        lat[todo[ok]] = cand_lat[ok]
        todo = todo[~ok]
    return lon, lat


def _uniform_in(
    rng: np.random.Generator, polygon: FloatArray, n: int
) -> tuple[FloatArray, FloatArray]:
    lo = polygon.min(axis=0)
    hi = polygon.max(axis=0)
    lon = np.empty(0)
    lat = np.empty(0)
    while len(lon) < n:
        cand_lon = rng.uniform(lo[0], hi[0], 4 * n + 16)
        cand_lat = rng.uniform(lo[1], hi[1], 4 * n + 16)
        ok = inside(polygon, cand_lon, cand_lat)
        lon = np.concatenate([lon, cand_lon[ok]])
        lat = np.concatenate([lat, cand_lat[ok]])
    return lon[:n], lat[:n]


def _fit_total(
    rng: np.random.Generator, raw: FloatArray, target: int, adjustable: BoolArray
) -> IntArray:
    """Integer sizes ≈ cap(raw·f) in [10, 2500] summing exactly to ``target``, where ``cap``
    bends the upper tail smoothly below 2,500 (no pile-up at the maximum)."""

    def sizes(values: FloatArray, factor: float) -> IntArray:
        capped = MAX_REGISTERED * np.tanh(values * factor / MAX_REGISTERED)
        result: IntArray = np.clip(np.rint(capped), MIN_REGISTERED, MAX_REGISTERED).astype(np.int64)
        return result

    fixed = sizes(raw, 1.0)
    want = target - int(fixed[~adjustable].sum())
    base = raw[adjustable]

    lo, hi = 0.0, 1.0
    while int(sizes(base, hi).sum()) < want and hi < 1e6:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if int(sizes(base, mid).sum()) < want:
            lo = mid
        else:
            hi = mid
    out = fixed.copy()
    out[adjustable] = sizes(base, hi)
    # the last few voters: ±1 on random stations that stay within the bounds
    for _ in range(3):
        diff = target - int(out.sum())
        if diff == 0:
            return out
        candidates = np.flatnonzero(out < MAX_REGISTERED if diff > 0 else out > MIN_REGISTERED)
        if len(candidates) == 0:
            break
        pick = rng.choice(candidates, size=min(abs(diff), len(candidates)), replace=False)
        out[pick] += 1 if diff > 0 else -1
    # what is left (only for extreme totals): fill stations to their bounds in random order
    diff = target - int(out.sum())
    room = MAX_REGISTERED - out if diff > 0 else out - MIN_REGISTERED
    order = rng.permutation(np.flatnonzero(room > 0))
    space = room[order]
    amount = np.clip(abs(diff) - (np.cumsum(space) - space), 0, space)
    out[order] += amount if diff > 0 else -amount
    if int(out.sum()) != target:
        raise ValueError("cannot fit the register total within 10…2,500 voters per station")
    return out


def build_territory(config: SimulationConfig, rng: np.random.Generator) -> Territory:
    n = config.stations
    k = config.n_constituencies
    n_nax, n_baku = block_sizes(k)
    numbers = np.arange(1, k + 1)
    is_baku = (numbers > n_nax) & (numbers <= n_nax + n_baku)
    is_nax = numbers <= n_nax

    urbanity = rng.beta(1.6, 4.0, k)
    urbanity[is_baku] = rng.uniform(0.75, 1.0, int(is_baku.sum()))
    urbanity[is_nax] = rng.beta(2.0, 5.0, int(is_nax.sum()))

    # station counts: every constituency has about the same number of voters, so towns
    # (large stations) have fewer stations than the countryside
    n_abroad = min(_scaled(ABROAD_2024, n, STATIONS_2024), n - k)
    n_home = n - n_abroad
    weight = np.exp(rng.normal(0.0, 0.15, k)) / (650.0 + 1000.0 * urbanity)
    home_counts = 1 + _largest_remainder(n_home - k, weight)
    baku_numbers = numbers[is_baku]
    abroad_const = np.sort(rng.choice(baku_numbers, size=n_abroad))

    const = np.concatenate([np.repeat(numbers, home_counts), abroad_const])
    abroad = np.concatenate([np.zeros(n_home, dtype=bool), np.ones(n_abroad, dtype=bool)])
    order = np.lexsort((abroad, const))  # by constituency, home stations first
    const = const[order].astype(np.int64)
    abroad = abroad[order]
    counts = np.bincount(const, minlength=k + 1)[1:]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    number = (np.arange(n) - starts[const - 1] + 1).astype(np.int64)

    temporary = np.zeros(n, dtype=bool)
    n_temp = min(_scaled(TEMPORARY_2024, n, STATIONS_2024), n_home)
    temporary[rng.choice(np.flatnonzero(~abroad), size=n_temp, replace=False)] = True

    # sizes: lognormal, larger in towns; temporary (hospitals, units) and abroad small
    u = urbanity[const - 1]
    raw = np.exp(rng.normal(np.log(520.0 + 800.0 * u), 0.45))
    raw[temporary] = np.exp(rng.normal(np.log(120.0), 0.9, n_temp))
    raw[abroad] = np.exp(rng.normal(np.log(250.0), 0.7, n_abroad))
    registered = _fit_total(rng, raw, config.n_registered, ~(temporary | abroad))

    # webcams: about 1,000 of 6,537 stations, mostly the large ones
    webcam = np.zeros(n, dtype=bool)
    n_cam = min(_scaled(WEBCAMS_2024, n, STATIONS_2024), n_home)
    keys = np.log1p(-rng.random(n)) / registered.astype(np.float64)
    keys[abroad] = -np.inf
    if n_cam > 0:
        webcam[np.argpartition(-keys, n_cam - 1)[:n_cam]] = True

    # geography: constituency centres, stations scattered around them
    centre_lon = np.empty(k)
    centre_lat = np.empty(k)
    if n_nax:
        centre_lon[is_nax], centre_lat[is_nax] = _uniform_in(rng, NAKHCHIVAN, n_nax)
    rest = ~is_nax & ~is_baku
    if rest.any():
        centre_lon[rest], centre_lat[rest] = _uniform_in(rng, MAINLAND, int(rest.sum()))
    baku_lon = np.full(n_baku, BAKU_CENTRE[0])
    baku_lat = np.full(n_baku, BAKU_CENTRE[1])
    centre_lon[is_baku], centre_lat[is_baku] = _sample_in(
        rng, MAINLAND, baku_lon, baku_lat, np.full(n_baku, 0.06)
    )
    spread = 0.015 + 0.12 * (1.0 - urbanity) ** 2
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    for polygon, block in ((NAKHCHIVAN, is_nax), (MAINLAND, ~is_nax)):
        sel = np.flatnonzero(block[const - 1] & ~abroad)
        if len(sel) == 0:
            continue
        c = const[sel] - 1
        lon[sel], lat[sel] = _sample_in(rng, polygon, centre_lon[c], centre_lat[c], spread[c])
    lon = np.round(np.clip(lon, *LON_RANGE), 5)
    lat = np.round(np.clip(lat, *LAT_RANGE), 5)

    return Territory(
        n_nax=n_nax,
        n_baku=n_baku,
        urbanity=urbanity,
        constituency=const,
        number=number,
        registered=registered,
        latitude=lat,
        longitude=lon,
        abroad=abroad,
        temporary=temporary,
        webcam=webcam,
    )
