"""Summaries of per-vector metrics: mean, interval and quantiles, vectorised over columns.

The interval (95%), one rule for every column. Each column has a natural range [a, b]
(softmaxlab.metrics.METRIC_RANGES: the values a probability output can give; a = -inf or
b = inf where there is no bound), and its observed minimum and maximum are tracked:

- every interval lies within the column's natural range [a, b], and there is none (NaN)
  where the column's mean lies outside it, which no interval on the range could hold.
  A column's own observations can leave its range: rounding puts a normalized entropy
  one step above 1 in bfloat16, and in float8_e4m3fn at K = 1000 every entry of the
  uniform vector rounds up to 2^-9 (the entries sum to 1.95, the normalized entropy is
  1.76, the mean outside); linear normalisation on signed logits gives max_prob > 1 and
  entropy < 0.
- both ends finite: the Wilson score interval (Wilson 1927) on the mean rescaled to [0, 1],
  (mean - a) / (b - a), with n trials, mapped back to [a, b]. For a 0/1 rate it is the
  binomial Wilson interval. For any variable in [a, b], Var <= (b - mu)(mu - a) (Bhatia &
  Davis, Amer. Math. Monthly 107, 2000), the binomial variance Wilson's interval assumes,
  so the interval does not rest on the variable's own variance or skewness (conservative
  where the variance is smaller: about 3x the t interval's width for max_prob of softmax
  at scale 1), lies in [a, b], and never collapses to a point (its width is at least about
  z^2 / n). Waudby-Smith & Ramdas's betting intervals (JRSS-B 2023) adapt to the
  variance, but their hedged capital process costs about 500x a cell's whole summary (a
  grid of candidate means per column and vector), and their closed-form PrPl-EB variant
  depends on the order of the vectors and is wider than Wilson's on the skewed cells.
  Where rounding moves some observations a little past [a, b] (the mean inside), the
  variance bound holds up to that excess. For a column whose values have no bound, such
  as linear's max_prob on signed logits, no interval is valid, whatever its mean: a
  summary of named metrics (RunningSummary.of_metrics, the sweep's) gives none (NaN)
  where a bounded metric's observations left its range in a method whose finite outputs
  are not all distributions (softmaxlab.metrics.unbounded_columns).
- an end infinite: the Student t interval mean +- t_{0.975, n-1} s / sqrt(n), clipped to
  the range. No interval is valid for every distribution with an unbounded range (Bahadur
  & Savage 1956): on heavily skewed cells (kl_to_argmax of softmax, K = 2, scale 316) the
  t interval covers about 87% (tests/test_coverage.py measures the bounded metrics and the
  unskewed ones).

Without ranges (RunningSummary's and summarize's default), rates get [0, 1] and the other
columns no bound: Wilson for rates, t for the rest.

Quantiles are type-1 sample quantiles (inverted empirical CDF, Hyndman & Fan 1996), so
they are always observed values and an infinite observation never turns into NaN by
interpolation. NaN observations are left out and ``n`` counts the rest; infinite
observations are kept (the mean is then infinite). The mean is held within the observed
minimum and maximum, which the rounding of a long sum can otherwise leave by a few ulps.

A sweep job streams a cell's vectors in blocks (RunningSummary): n, mean, std, the
observed range and the intervals are exact over every vector (the std merged block by
block, Chan, Golub & LeVeque 1979); the quantiles of rates are exact from their counts;
the quantiles of the other metrics are those of the cell's first ``quantile_vectors``
vectors (config key, default 4096): exact when the cell has no more vectors, otherwise the
sample quantiles of that many i.i.d. vectors (at 4096, the 5% quantile's rank has a
standard error of 0.34 percentage points).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

# scipy.special, not scipy.stats: the same quantiles (stdtrit is what t.ppf calls), and
# every summarising job starts 0.6 s sooner without scipy.stats' import.
from scipy import special

from softmaxlab.metrics import RATE_METRICS, metric_ranges, unbounded_columns

SUMMARY_FIELDS: tuple[str, ...] = ("n", "mean", "std", "ci_low", "ci_high", "q05", "median", "q95")
CONFIDENCE = 0.95
QUANTILES = (0.05, 0.5, 0.95)
_Z = float(special.ndtri(0.5 + CONFIDENCE / 2))


def wilson_interval(
    successes: np.ndarray, n: np.ndarray, z: float = _Z
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (Wilson 1927; Agresti & Coull 1998).

    centre = (p + z^2/2n) / (1 + z^2/n), half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n),
    computed as in :func:`_wilson`.
    """
    successes = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _wilson(successes / n, n, z)


def _wilson(phat: np.ndarray, n: np.ndarray, z: float = _Z) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson interval of :func:`wilson_interval` from the observed mean phat in [0, 1]
    of n trials (float64).

    The end nearer to phat's bound is the larger root, centre + half (a sum of
    non-negative terms); the other is the product of the roots, phat^2 / (1 + z^2/n),
    divided by it (Vieta), which is exactly 0 at phat = 0, where centre - half leaves a
    rounding residue above the observed mean. phat > 1/2 is done as 1 - phat, reflected.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        near = np.minimum(phat, 1 - phat)
        denom = 1 + z**2 / n
        upper = near + z**2 / (2 * n) + z * np.sqrt(near * (1 - near) / n + z**2 / (4 * n**2))
        upper = upper / denom
        lower = near * near / (denom * upper)
        flip = phat > 0.5
        low = np.where(flip, 1 - upper, lower)
        high = np.where(flip, 1 - lower, upper)
    return np.clip(low, 0, 1), np.clip(high, 0, 1)


def bounded_interval(
    mean: np.ndarray, std: np.ndarray, n: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The module's interval rule on [low, high], for means inside it: Wilson on
    (mean - low) / (high - low) where both bounds are finite, else the t interval clipped
    to [low, high]. (RunningSummary passes each column's natural range and gives no
    interval where the mean lies outside it.)"""
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    bounded = np.isfinite(low) & np.isfinite(high)
    width = np.where(bounded, high - low, 1.0)
    with np.errstate(invalid="ignore"):
        w_low, w_high = _wilson((mean - np.where(bounded, low, 0.0)) / width, n)
    t_low, t_high = t_interval(mean, std, n)
    ci_low = np.where(bounded, low + width * w_low, t_low)
    ci_high = np.where(bounded, low + width * w_high, t_high)
    return np.clip(ci_low, low, high), np.clip(ci_high, low, high)


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


def summarize(
    values: np.ndarray,
    is_rate: np.ndarray,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Summaries of each column of ``values`` (shape (n_vectors, n_columns)), all exact.

    ``is_rate`` (bool per column) marks 0/1 columns (quantiles from counts); ``low`` and
    ``high`` (per column) are the natural ranges of the interval rule (module docstring;
    default [0, 1] for rates, unbounded otherwise). Returns one array per field in
    SUMMARY_FIELDS, each of length n_columns.
    """
    values = np.asarray(values, dtype=np.float64)
    running = RunningSummary(is_rate, quantile_rows=len(values), low=low, high=high)
    running.add(values)
    return running.result()


class RunningSummary:
    """The summaries of :func:`summarize` for a table whose rows arrive in blocks, in
    memory that does not grow with the number of rows.

    - n and the sum of each column are exact running totals (NaN left out), and so are
      its minimum and maximum (which decide the interval, see the module docstring).
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

    ``low``/``high``: each column's natural range (arrays of n_columns floats, +-inf for
    no bound); None gives [0, 1] for rate columns and no bound for the others.
    """

    def __init__(
        self,
        is_rate: np.ndarray,
        quantile_rows: int,
        low: np.ndarray | None = None,
        high: np.ndarray | None = None,
    ):
        self.is_rate = np.asarray(is_rate, dtype=bool)
        width = len(self.is_rate)
        self.low = _bounds(low, np.where(self.is_rate, 0.0, -np.inf), "low")
        self.high = _bounds(high, np.where(self.is_rate, 1.0, np.inf), "high")
        if np.any(self.low > self.high):
            raise ValueError("RunningSummary: every column needs low <= high")
        self.n = np.zeros(width, dtype=np.int64)
        self.total = np.zeros(width)
        self.m2 = np.zeros(width)
        self.min = np.full(width, np.inf)
        self.max = np.full(width, -np.inf)
        self.rows = 0
        #: The columns' metrics (:meth:`of_metrics`): result() then leaves out the
        #: intervals metrics.unbounded_columns finds; None: every interval is given.
        self.metric_names: list[str] | None = None
        self._kept = np.flatnonzero(~self.is_rate)
        self._sample = np.empty((quantile_rows, len(self._kept)))

    @classmethod
    def of_metrics(cls, names, quantile_rows: int) -> RunningSummary:
        """A summary of columns named by metric: the rates of softmaxlab.metrics.RATE_METRICS
        and the natural ranges of its METRIC_RANGES (ValueError for a metric without one)."""
        names = list(names)
        low, high = metric_ranges(names)
        is_rate = np.array([name in RATE_METRICS for name in names], dtype=bool)
        summary = cls(is_rate, quantile_rows, low=low, high=high)
        summary.metric_names = names
        return summary

    def add(self, values: np.ndarray) -> None:
        """Fold in the next block of rows (shape (rows, n_columns))."""
        values = np.asarray(values, dtype=np.float64)
        free = len(self._sample) - self.rows
        if free > 0:
            taken = values[:free]
            self._sample[self.rows : self.rows + len(taken)] = taken[:, self._kept]
        self.rows += len(values)
        n, total, m2, low, high = _column_moments(values)
        with np.errstate(all="ignore"):
            mean = total / n
            merged_n = self.n + n
            delta = mean - self.total / self.n
            merged = self.m2 + m2 + delta * delta * (self.n * n / merged_n)
        self.m2 = np.where(self.n == 0, m2, np.where(n == 0, self.m2, merged))
        self.min = np.fmin(self.min, low)
        self.max = np.fmax(self.max, high)
        self.total = self.total + total
        self.n = merged_n

    def result(self) -> dict[str, np.ndarray]:
        """One array per field of SUMMARY_FIELDS, each of length n_columns."""
        n, total = self.n, self.total
        with np.errstate(all="ignore"):
            # Rounding in the sum can put the mean of a constant or near-constant column a
            # few ulps past its observations (0.1 three times sums to 0.30000000000000004);
            # the mean of numbers lies between their extremes, so it is held there.
            mean = np.where(n > 0, np.clip(total / n, self.min, self.max), np.nan)
            std = np.where(n >= 2, np.sqrt(self.m2 / (n - 1)), np.nan)
            quantiles = _rate_quantiles(total, n, QUANTILES)
            sample = self._sample[: min(self.rows, len(self._sample))]
            sample_n = np.sum(~np.isnan(sample), axis=0)
            for exact, sampled in zip(
                quantiles, type1_quantiles(sample, sample_n, QUANTILES), strict=True
            ):
                exact[self._kept] = sampled
            # The module's rule: on the natural range, none where the mean lies outside it.
            ci_low, ci_high = bounded_interval(mean, std, n, self.low, self.high)
        no_interval = (n == 0) | (mean < self.low) | (mean > self.high)
        if self.metric_names is not None:
            no_interval |= unbounded_columns(self.metric_names, total, self.min, self.max)
        ci_low[no_interval] = ci_high[no_interval] = np.nan
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


#: Fold blocks in with the compiled pass (softmaxlab.kernels.summary) where numba is
#: importable; False runs the numpy reference (the tests switch it to compare the two).
USE_KERNELS: bool = True


def _column_moments(values: np.ndarray) -> tuple[np.ndarray, ...]:
    """(n, total, m2, low, high) per column of a block: the compiled pass where numba is
    importable and USE_KERNELS is set, else :func:`_column_moments_numpy`; the same values
    bit for bit (tests/test_stats.py)."""
    if USE_KERNELS:
        kernels = _summary_kernels()
        if kernels is not None:
            return kernels.column_moments(np.ascontiguousarray(values))
    return _column_moments_numpy(values)


def _column_moments_numpy(values: np.ndarray) -> tuple[np.ndarray, ...]:
    """The reference of the block's column moments: n, the sum and the sum of squared
    deviations from the block mean of the present (non-NaN) values, their min and max
    (+-inf for none)."""
    present = ~np.isnan(values)
    n = present.sum(axis=0)
    with np.errstate(all="ignore"):
        # nanmean/nanstd without their copies and warnings: NaN is left out, inf kept
        # (an infinite observation makes the mean infinite and the std NaN, as numpy's).
        total = np.sum(np.where(present, values, 0.0), axis=0)
        deviation = np.where(present, values - total / n, 0.0)
        m2 = np.sum(deviation * deviation, axis=0)
    # fmin/fmax leave NaN out; the initial value makes an empty block a no-op.
    low = np.fmin.reduce(values, axis=0, initial=np.inf)
    high = np.fmax.reduce(values, axis=0, initial=-np.inf)
    return n, total, m2, low, high


@functools.cache
def _summary_kernels():
    """softmaxlab.kernels.summary, imported on first use (importing numba costs about
    0.3 s), or None where numba cannot be imported (the module catches that itself)."""
    from softmaxlab.kernels import summary

    return summary if summary.AVAILABLE else None


def _bounds(given, default: np.ndarray, name: str) -> np.ndarray:
    """A per-column bound as float64 (the default where None), checked for its length."""
    if given is None:
        return default
    bound = np.array(given, dtype=np.float64)
    if bound.shape != default.shape or np.isnan(bound).any():
        raise ValueError(
            f"RunningSummary: {name} must be {len(default)} numbers (one per column, "
            f"+-inf for no bound), got shape {bound.shape}"
        )
    return bound


def _rate_quantiles(ones: np.ndarray, n: np.ndarray, qs) -> list[np.ndarray]:
    """Type-1 quantiles of columns of 0/1 values from their counts: the order statistic
    x_(ceil(q n)) is 0 while ceil(q n) <= n - ones (the zeros sort first), else 1."""
    out = []
    for q in qs:
        rank = np.maximum(np.ceil(q * n), 1)
        out.append(np.where(n > 0, (rank > n - ones).astype(np.float64), np.nan))
    return out


#: The one pooling rule, as the report prints it (softmaxlab.claims, tables and figures use
#: :func:`pool`).
POOLING_RULE = (
    "A value pooled over several cells (distribution x scale x K x format) is the mean over "
    "their vectors: the cells' means weighted by their numbers of vectors n (sum n mean / "
    "sum n, n counting the vectors where the metric is defined). Every claim, table and "
    "figure pools means this way; the error tables and figures, whose per-vector values are "
    "heavy-tailed, show the median of the cells' medians instead."
)


def pool(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The pooling rule (:data:`POOLING_RULE`): per group of ``by``, mean = sum(n mean) /
    sum(n) over the cells with n > 0 and a mean, and n = sum(n). ``frame``: summary rows
    with columns ``by``, n and mean. Returns a DataFrame with columns ``by``, mean, n."""
    f = frame[frame["n"].gt(0) & frame["mean"].notna()]
    f = f.assign(_w=f["n"] * f["mean"])
    grouped = f.groupby(by, sort=True)[["_w", "n"]].sum()
    return pd.DataFrame({"mean": grouped["_w"] / grouped["n"], "n": grouped["n"]}).reset_index()
