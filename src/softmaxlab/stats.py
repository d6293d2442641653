"""Summaries of per-vector metrics: mean, interval and quantiles, vectorised over columns.

Rates (0/1 values) get the Wilson score interval (Wilson 1927); other metrics the Student t
interval mean +- t_{0.975, n-1} s / sqrt(n). Quantiles are type-1 sample quantiles
(inverted empirical CDF, Hyndman & Fan 1996), so they are always observed values and an
infinite observation never turns into NaN by interpolation. NaN observations are left out
and ``n`` counts the rest; infinite observations are kept (the mean is then infinite).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats

SUMMARY_FIELDS: tuple[str, ...] = ("n", "mean", "std", "ci_low", "ci_high", "q05", "median", "q95")
CONFIDENCE = 0.95
_Z = float(scipy_stats.norm.ppf(0.5 + CONFIDENCE / 2))


def wilson_interval(
    successes: np.ndarray, n: np.ndarray, z: float = _Z
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (Wilson 1927; Agresti & Coull 1998).

    centre = (p + z^2/2n) / (1 + z^2/n), half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n).
    """
    successes = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        phat = successes / n
        denom = 1 + z**2 / n
        centre = (phat + z**2 / (2 * n)) / denom
        half = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def t_interval(mean: np.ndarray, std: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Student t interval mean +- t_{(1+c)/2, n-1} std / sqrt(n); NaN for n < 2."""
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, np.where(n >= 2, n - 1, np.nan))
        half = t * std / np.sqrt(n)
    return mean - half, mean + half


def type1_quantiles(values: np.ndarray, n: np.ndarray, qs) -> list[np.ndarray]:
    """Type-1 sample quantiles of each column, NaN left out: the order statistic
    x_(ceil(q n)) (Hyndman & Fan 1996, definition 1; numpy's method="inverted_cdf").

    Vectorised over columns: np.sort puts NaN last, so the first n entries of a sorted
    column are its observations. NaN where a column has no observation.
    """
    ordered = np.sort(values, axis=0)
    out = []
    for q in qs:
        index = np.clip(np.ceil(q * n).astype(np.int64) - 1, 0, max(len(values) - 1, 0))
        picked = np.take_along_axis(ordered, index[None, :], axis=0)[0]
        out.append(np.where(n > 0, picked, np.nan))
    return out


def summarize(values: np.ndarray, is_rate: np.ndarray) -> dict[str, np.ndarray]:
    """Summaries of each column of ``values`` (shape (n_vectors, n_columns)).

    ``is_rate`` (bool per column) picks the Wilson interval. Returns one array per field
    in SUMMARY_FIELDS, each of length n_columns.
    """
    values = np.asarray(values, dtype=np.float64)
    present = ~np.isnan(values)
    n = present.sum(axis=0)
    with np.errstate(all="ignore"):
        # nanmean/nanstd without their copies and warnings: NaN is left out, inf kept (an
        # infinite observation makes the mean infinite and the std NaN, as numpy's).
        total = np.sum(np.where(present, values, 0.0), axis=0)
        mean = total / n
        deviation = np.where(present, values - mean, 0.0)
        std = np.sqrt(np.sum(deviation * deviation, axis=0) / (n - 1))
        std = np.where(n >= 2, std, np.nan)
        q05, median, q95 = type1_quantiles(values, n, (0.05, 0.5, 0.95))
        rate_low, rate_high = wilson_interval(total, n)
        t_low, t_high = t_interval(mean, std, n)
    ci_low = np.where(is_rate, rate_low, t_low)
    ci_high = np.where(is_rate, rate_high, t_high)
    empty = n == 0
    ci_low[empty] = ci_high[empty] = np.nan
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "q05": q05,
        "median": median,
        "q95": q95,
    }
