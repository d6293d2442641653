"""Paired exact tests of two classifiers on the same test points, and Holm's adjustment.

Claim C15 compares each alternative's test accuracy with softmax's on the same test points.
Two accuracies measured on one test set are not independent samples: most points are right
(or wrong) for both models, and only the points where they disagree carry evidence. The
test here uses exactly those.

Per test point i, the difference d_i is an integer: the number of seeds (training runs)
whose model A predicted i right minus the number whose model B did; sum_i d_i is the
difference of the two accuracies times (seeds x points). The paired sign-flip
(randomisation) test asks how often a sum at least as large arises when the sign of each
d_i is a fair coin, that is when the labels A and B are exchangeable on every point (Fisher
1935, sec. 21; Good, "Permutation tests", 2nd ed., sec. 3.1). With one seed d_i is -1, 0 or
+1 and the test is the exact McNemar test (McNemar 1947): a binomial test of the points
where only A is right against those where only B is. The p-value is exact, not a normal
approximation: the null distribution of the sum is the convolution, over the distinct
magnitudes m, of m (2 B_m - n_m) with B_m binomial(n_m, 1/2).

A family of such tests (one alternative in every setting) is adjusted by Holm's step-down
procedure (Holm 1979), which controls the chance of any false rejection in the family at
the level, whatever the tests' dependence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def sign_flip_p(differences: Sequence[int] | np.ndarray) -> float:
    """One-sided exact p-value P(sum_i s_i |d_i| >= sum_i d_i) for independent fair signs
    s_i = +-1: small when the integer differences d_i are mostly positive. 1 where every
    d_i is 0 (no point tells the two models apart)."""
    d = np.asarray(differences)
    if d.size and not np.issubdtype(d.dtype, np.integer):
        raise ValueError("sign_flip_p: the differences must be integers")
    d = d.astype(np.int64)
    observed = int(d.sum())
    magnitudes, counts = np.unique(np.abs(d[d != 0]), return_counts=True)
    pmf, low = np.ones(1), 0  # the sum's distribution, its support starting at `low`
    for m, n in zip(magnitudes.tolist(), counts.tolist(), strict=True):
        part = np.zeros(2 * m * n + 1)
        part[:: 2 * m] = stats.binom.pmf(np.arange(n + 1), n, 0.5)  # m (2 B - n)
        pmf, low = np.convolve(pmf, part), low - m * n
    start = observed - low
    if start <= 0:
        return 1.0
    return float(min(1.0, np.sum(pmf[start:])))


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): the i-th smallest p times (m - i + 1),
    made non-decreasing in that order and capped at 1; rejecting where the adjusted p is at
    most alpha is Holm's procedure at level alpha. NaN stays NaN and does not count in m."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    index = np.flatnonzero(~np.isnan(p))
    order = index[np.argsort(p[index], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted
