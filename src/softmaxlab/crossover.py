"""C2's crossover: the scale s* at which softmax and linear normalisation are equally far
from the argmax, by root finding on fresh seeded draws, with a confidence interval.

For logits x = s z with z >= 0 (a distribution with non-negative support), linear
normalisation x / sum x does not depend on s, while softmax(s z) moves from uniform (s -> 0)
to the argmax (s -> inf). With TV(p) the total variation to the argmax one-hot
(softmaxlab.metrics.tv_to_argmax), each vector's difference

    d_i(s) = TV(linear(z_i)) - TV(softmax(s z_i))

is non-decreasing in s (TV(softmax(s z)) = 1 - p_max and p_max = 1 / (1 + sum_j
e^{-s (z_max - z_j)}) grows with s), negative as s -> 0 (linear's largest share z_max / sum z
is at least 1/K, softmax's tends to 1/K) and positive as s -> inf. So the mean difference
f(s) = mean_i d_i(s) has one root s*: below it linear is closer to the argmax, above it
softmax is. s* is found by bisection on ln s to a relative RTOL (1e-9), inside a log grid
(GRID_PER_DECADE points a decade) over BRACKET = [1e-6, 1e6].

The interval inverts the test "E[d(s)] = 0": at each s the 95% Student t interval of the
mean of the n paired differences d_i(s) (softmaxlab.stats.t_interval; the d_i lie in
[-1, 1], so the t interval is a sound approximation at n >= 100; below that the table's
notes say so. Measured for K = 2, z ~ U[0, 1]^2, against the exact crossover 2.68316 over
200 seeds: 94.5% coverage at n = 100, 91% at n = 20; tests/test_crossover.py checks it).
The set of s where that interval contains 0 holds the true crossover with probability 95%
(at the true s*, E[d] = 0). Its ends: s_low, where the interval's upper end
reaches 0, and s_high, where its lower end does, each found by bisection between the grid
points where the sign changes (the outermost changes: if the set is not an interval on the
grid, its hull is reported and the notes say so).

Signed distributions are left out: there linear's "probabilities" can be negative or
exceed 1 (its TV exceeds 1), so a crossover would compare a probability with something
that is not one.

Table ``c2_crossover.csv`` (:func:`crossover_table`), one row per (distribution with non-
negative support, K) in config order: ``distribution``, ``k``, ``n`` (vectors, drawn from
the stream ("crossover", distribution, K) of the seed: fresh draws, not the sweep's; as
many as a sweep cell of that K has, softmaxlab.sweep.n_vectors, but at least
:func:`min_vectors`: the root finding is cheap, and the interval needs them), ``s_star``
(the root of the mean difference; empty without a crossing in BRACKET), ``s_low`` and
``s_high`` (the 95% interval; empty where it reaches past BRACKET), ``tv_at_crossing``
(mean TV of both at s_star), ``crossing`` (a root exists in BRACKET), ``in_scales`` (s_star
lies within the config's [min scale, max scale]), ``bracket_low`` and ``bracket_high``
(BRACKET), ``confidence`` (0.95), ``notes`` (empty, or what limits the row).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from softmaxlab.methods import normalize
from softmaxlab.metrics import hardmax, tv_to_argmax
from softmaxlab.sampling import FAMILIES, family_params, nonnegative_support, stream
from softmaxlab.stats import CONFIDENCE, t_interval
from softmaxlab.sweep import n_vectors

BRACKET = (1e-6, 1e6)
GRID_PER_DECADE = 8
RTOL = 1e-9
# Below this many vectors the t interval's coverage is not established (see module docstring).
MIN_T_VECTORS = 100


def min_vectors(k: int) -> int:
    """The fewest vectors a crossover rests on: 1,000 for K <= 1,000 and 200 above (issue
    10's budget for a cell), so that the t interval on the paired differences holds."""
    return 1000 if k <= 1000 else 200


COLUMNS = (
    "distribution",
    "k",
    "n",
    "s_star",
    "s_low",
    "s_high",
    "tv_at_crossing",
    "crossing",
    "in_scales",
    "bracket_low",
    "bracket_high",
    "confidence",
    "notes",
)


@dataclass(frozen=True)
class Crossover:
    """The crossover of one sample (module docstring); NaN where a value does not exist in
    BRACKET, with the reason in ``notes``."""

    n: int
    s_star: float
    s_low: float
    s_high: float
    tv_at_crossing: float
    notes: tuple[str, ...] = ()

    @property
    def crossing(self) -> bool:
        return not math.isnan(self.s_star)


def differences(z: np.ndarray) -> tuple[np.ndarray, Callable[[float], np.ndarray]]:
    """TV(linear(z)) per row, and d(s): the per-row differences TV(linear(z)) -
    TV(softmax(s z)) (float64), for z of shape (n, K) with entries >= 0."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2 or len(z) < 1:
        raise ValueError(f"z must have shape (n >= 1, K >= 2), got {z.shape}")
    if not (np.isfinite(z).all() and (z >= 0).all() and (z.sum(axis=1) > 0).all()):
        raise ValueError("z must be finite and >= 0 with a positive sum in every row")
    h = hardmax(z)
    tv_linear = tv_to_argmax(normalize(z, "linear"), h)

    def at(scale: float) -> np.ndarray:
        return tv_linear - tv_to_argmax(normalize(scale * z, "softmax"), h)

    return tv_linear, at


def _interval(d: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t interval of the paired differences d."""
    n = len(d)
    std = float(np.std(d, ddof=1)) if n >= 2 else math.nan
    low, high = t_interval(np.float64(d.mean()), np.float64(std), np.float64(n))
    return float(d.mean()), float(low), float(high)


def _bisect(fn: Callable[[float], float], lo: float, hi: float, rtol: float) -> float:
    """The root of fn between the scales lo and hi (fn(lo) and fn(hi) of opposite signs, or
    one of them 0), by bisection on ln s to a relative rtol on s."""
    root = optimize.bisect(
        lambda log_s: fn(math.exp(log_s)), math.log(lo), math.log(hi), xtol=rtol, rtol=1e-15
    )
    return math.exp(root)


def crossover(
    z: np.ndarray, bracket: tuple[float, float] = BRACKET, rtol: float = RTOL
) -> Crossover:
    """The crossover scale and its 95% interval for the sample z (shape (n, K), entries
    >= 0), module docstring."""
    tv_linear, at = differences(z)
    n = len(z)
    decades = math.log10(bracket[1] / bracket[0])
    grid = np.geomspace(*bracket, int(round(decades * GRID_PER_DECADE)) + 1)
    stats = np.array([_interval(at(s)) for s in grid])  # rows: mean, low, high
    mean, low, high = stats.T
    notes = []
    if n < 2:
        notes.append("n < 2: no interval")
    elif n < MIN_T_VECTORS:
        notes.append(f"t interval on n = {n} < {MIN_T_VECTORS} paired differences")

    def column(i: int) -> Callable[[float], float]:
        return lambda s: _interval(at(s))[i]

    s_star = _first_up(grid, mean, column(0), rtol, "the mean difference", notes)
    s_low = s_high = math.nan
    if n >= 2:
        s_low = _first_up(grid, high, column(2), rtol, "the interval's upper end", notes)
        s_high = _last_down(grid, low, column(1), rtol, notes)
        inside = np.flatnonzero((low <= 0) & (high >= 0))
        if len(inside) and len(inside) != inside[-1] - inside[0] + 1:
            notes.append("the 95% set is not an interval on the grid: its hull is reported")
    tv = float(tv_linear.mean()) if not math.isnan(s_star) else math.nan
    return Crossover(n, s_star, s_low, s_high, tv, tuple(notes))


def _first_up(grid, values, fn, rtol, what: str, notes: list) -> float:
    """The smallest s where ``values`` (fn on the grid) reaches 0 from below, refined by
    bisection; NaN (with a note) when it is >= 0 at the bracket's start or never."""
    up = np.flatnonzero(values >= 0)
    if len(up) == 0:
        notes.append(f"{what} stays below 0 up to {grid[-1]:g}")
        return math.nan
    if up[0] == 0:
        notes.append(f"{what} is >= 0 already at {grid[0]:g}")
        return math.nan
    return _bisect(fn, grid[up[0] - 1], grid[up[0]], rtol)


def _last_down(grid, low, fn, rtol, notes: list) -> float:
    """The largest s where the interval's lower end ``low`` is <= 0, refined by bisection;
    NaN (with a note) when it is still <= 0 at the bracket's end, or never."""
    down = np.flatnonzero(low <= 0)
    if len(down) == 0:
        notes.append(f"the interval's lower end is > 0 already at {grid[0]:g}")
        return math.nan
    if down[-1] == len(grid) - 1:
        notes.append(f"the interval's lower end is still <= 0 at {grid[-1]:g}")
        return math.nan
    return _bisect(fn, grid[down[-1]], grid[down[-1] + 1], rtol)


def sample(seed: int, distribution: str, spec: Mapping, k: int, n: int) -> np.ndarray:
    """n fresh draws z of shape (n, k), float64, from the stream ("crossover",
    distribution, k) of the seed (not the sweep's "logits" stream)."""
    sampler = FAMILIES[spec["family"]][1]
    return sampler(stream(seed, "crossover", distribution, k), (n, k), **family_params(spec))


def crossover_table(
    seed: int,
    distributions: Mapping[str, Mapping],
    ks: Sequence[int],
    scales: Sequence[float],
    vectors: Mapping,
) -> pd.DataFrame:
    """The table ``c2_crossover.csv`` (module docstring): every distribution with
    non-negative support and each of its K (its own ``k`` list where it has one, as its
    sweep cells do, else ``ks``); ``vectors`` is the config's vectors entry."""
    rows = []
    low_scale, high_scale = min(scales), max(scales)
    for name, spec in distributions.items():
        if not nonnegative_support(spec):
            continue
        for k in spec.get("k", ks):
            n = max(n_vectors({"vectors": vectors}, int(k)), min_vectors(int(k)))
            found = crossover(sample(seed, name, spec, int(k), n))
            rows.append(
                {
                    "distribution": name,
                    "k": int(k),
                    "n": found.n,
                    "s_star": found.s_star,
                    "s_low": found.s_low,
                    "s_high": found.s_high,
                    "tv_at_crossing": found.tv_at_crossing,
                    "crossing": found.crossing,
                    "in_scales": bool(low_scale <= found.s_star <= high_scale),
                    "bracket_low": BRACKET[0],
                    "bracket_high": BRACKET[1],
                    "confidence": CONFIDENCE,
                    "notes": "; ".join(found.notes),
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))
