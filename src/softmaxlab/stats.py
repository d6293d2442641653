"""Summaries of per-vector metrics: mean, interval and quantiles, vectorised over columns.

Rates (0/1 values) get the Wilson score interval (Wilson 1927); other metrics the Student t
interval mean +- t_{0.975, n-1} s / sqrt(n). Quantiles are type-1 sample quantiles
(inverted empirical CDF, Hyndman & Fan 1996), so they are always observed values and an
infinite observation never turns into NaN by interpolation. NaN observations are left out
and ``n`` counts the rest; infinite observations are kept (the mean is then infinite).

A sweep job streams a cell's vectors in blocks (RunningSummary): n, mean, std and the
intervals are exact over every vector (the std merged block by block, Chan, Golub & LeVeque
1979); the quantiles of rates are exact from their counts; the quantiles of the other
metrics are those of the cell's first ``quantile_vectors`` vectors (config key, default
4096): exact when the cell has no more vectors, otherwise the sample quantiles of that many
i.i.d. vectors (at 4096, the 5% quantile's rank has a standard error of 0.34 percentage
points).
"""

from __future__ import annotations

import numpy as np

# scipy.special, not scipy.stats: the same quantiles (stdtrit is what t.ppf calls), and
# every summarising job starts 0.6 s sooner without scipy.stats' import.
from scipy import special

SUMMARY_FIELDS: tuple[str, ...] = ("n", "mean", "std", "ci_low", "ci_high", "q05", "median", "q95")
CONFIDENCE = 0.95
QUANTILES = (0.05, 0.5, 0.95)
_Z = float(special.ndtri(0.5 + CONFIDENCE / 2))


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
        t = special.stdtrit(np.where(n >= 2, n - 1, np.nan), 0.5 + CONFIDENCE / 2)
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
    """Summaries of each column of ``values`` (shape (n_vectors, n_columns)), all exact.

    ``is_rate`` (bool per column) picks the Wilson interval. Returns one array per field
    in SUMMARY_FIELDS, each of length n_columns.
    """
    values = np.asarray(values, dtype=np.float64)
    running = RunningSummary(is_rate, quantile_rows=len(values))
    running.add(values)
    return running.result()


class RunningSummary:
    """The summaries of :func:`summarize` for a table whose rows arrive in blocks, in
    memory that does not grow with the number of rows.

    - n and the sum of each column are exact running totals (NaN left out).
    - The sum of squared deviations M2 is merged block by block with the pairwise update
      of Chan, Golub & LeVeque (1979): M2 = M2_a + M2_b + d^2 n_a n_b / (n_a + n_b),
      d = mean_b - mean_a, numerically stable like the two-pass formula it equals for one
      block. std = sqrt(M2 / (n - 1)).
    - Quantiles of rate columns (0/1 values) are exact: a type-1 quantile of s ones among
      n observations is 0 if ceil(q n) <= n - s, else 1.
    - Quantiles of the other columns are type-1 quantiles of the first ``quantile_rows``
      rows, the only rows kept: exact when the table has no more rows, and otherwise the
      sample quantiles of a fixed subset (for rows that are i.i.d. draws, a simple random
      sample of that size).
    """

    def __init__(self, is_rate: np.ndarray, quantile_rows: int):
        self.is_rate = np.asarray(is_rate, dtype=bool)
        width = len(self.is_rate)
        self.n = np.zeros(width, dtype=np.int64)
        self.total = np.zeros(width)
        self.m2 = np.zeros(width)
        self.rows = 0
        self._kept = np.flatnonzero(~self.is_rate)
        self._sample = np.empty((quantile_rows, len(self._kept)))

    def add(self, values: np.ndarray) -> None:
        """Fold in the next block of rows (shape (rows, n_columns))."""
        values = np.asarray(values, dtype=np.float64)
        free = len(self._sample) - self.rows
        if free > 0:
            taken = values[:free]
            self._sample[self.rows : self.rows + len(taken)] = taken[:, self._kept]
        self.rows += len(values)
        present = ~np.isnan(values)
        n = present.sum(axis=0)
        with np.errstate(all="ignore"):
            # nanmean/nanstd without their copies and warnings: NaN is left out, inf kept
            # (an infinite observation makes the mean infinite and the std NaN, as numpy's).
            total = np.sum(np.where(present, values, 0.0), axis=0)
            mean = total / n
            deviation = np.where(present, values - mean, 0.0)
            m2 = np.sum(deviation * deviation, axis=0)
            merged_n = self.n + n
            delta = mean - self.total / self.n
            merged = self.m2 + m2 + delta * delta * (self.n * n / merged_n)
        self.m2 = np.where(self.n == 0, m2, np.where(n == 0, self.m2, merged))
        self.total = self.total + total
        self.n = merged_n

    def result(self) -> dict[str, np.ndarray]:
        """One array per field of SUMMARY_FIELDS, each of length n_columns."""
        n, total = self.n, self.total
        with np.errstate(all="ignore"):
            mean = total / n
            std = np.where(n >= 2, np.sqrt(self.m2 / (n - 1)), np.nan)
            quantiles = _rate_quantiles(total, n, QUANTILES)
            sample = self._sample[: min(self.rows, len(self._sample))]
            sample_n = np.sum(~np.isnan(sample), axis=0)
            for exact, sampled in zip(
                quantiles, type1_quantiles(sample, sample_n, QUANTILES), strict=True
            ):
                exact[self._kept] = sampled
            rate_low, rate_high = wilson_interval(total, n)
            t_low, t_high = t_interval(mean, std, n)
        ci_low = np.where(self.is_rate, rate_low, t_low)
        ci_high = np.where(self.is_rate, rate_high, t_high)
        empty = n == 0
        ci_low[empty] = ci_high[empty] = np.nan
        q05, median, q95 = quantiles
        return {
            "n": n.copy(),
            "mean": mean,
            "std": std,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "q05": q05,
            "median": median,
            "q95": q95,
        }


def _rate_quantiles(ones: np.ndarray, n: np.ndarray, qs) -> list[np.ndarray]:
    """Type-1 quantiles of columns of 0/1 values from their counts: the order statistic
    x_(ceil(q n)) is 0 while ceil(q n) <= n - ones (the zeros sort first), else 1."""
    out = []
    for q in qs:
        rank = np.maximum(np.ceil(q * n), 1)
        out.append(np.where(n > 0, (rank > n - ones).astype(np.float64), np.nan))
    return out
