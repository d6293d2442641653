"""The NLL gradients' norms of ``softmaxlab.nll.nll_metrics`` in one numba loop.

For the NLL L = -ln p_y the cotangent is v = c e_y with c = -1/p_y, and for every built-in
map but argmax the pullback has the form (:class:`softmaxlab.vjp.Pullback`)

    r = (f a) * (d - d . w),    d = v - v_t,    g = r - h * sum(r)  (h = 0 but for one map),

with a scalar factor f and a row-wise scale ``a`` (softmax: f = ln(b)/T, a = p; the "g then
normalise" maps: f = 1, a = g'/S; the sparse maps: f = 1, a = s), centring weights ``w``
summing to 1, t the index of the row's largest weight, and shifted_linear's shift h (the
minimiser's share). The numpy reference
(``softmaxlab.nll._gradients`` followed by ``_norms``) forms v, d, d * w, its row sum, r,
g, g * g, its row sum and |g| as (m, n, K) arrays, one pass each, in fresh memory.
:func:`centred_gradient_norms` computes ||g||_2 and max_i |g_i| of every (row, target)
from f, a, w, t, h, y and c in two or three passes over the row, with row-sized scratch
arrays that stay in cache, every value bit for bit the reference's:

- each entry is the same IEEE operation on the same operands (v_i is c at the target and
  +0.0 elsewhere, as numpy's zeros), compiled without fastmath, so nothing is contracted
  into a fused multiply-add;
- each row sum is numpy's: +0.0 plus the pairwise sum of the row
  (:func:`softmaxlab.kernels.metrics.pairwise_sum`);
- one shortcut: where t is not the target and every w_i is finite, d . w is 0.0 + c w_y
  without a pass: d = v exactly (v_t = 0), so every term but c w_y is a zero, and a
  pairwise sum of zeros and one value z is z (0.0 + z when z is itself a zero: +0.0);
- the maximum propagates NaN as np.max does (|g| has no zero of either sign to tell
  apart).

Compiled on first use and cached on disk (softmaxlab.kernels.jit), like the metric pass.
"""

from __future__ import annotations

import numpy as np

from softmaxlab.kernels.jit import jit
from softmaxlab.kernels.metrics import (
    AVAILABLE,
    PW_BLOCKSIZE,
    _block_sum,
    pairwise_stack,
    pairwise_sum,
    row_max,
)

__all__ = ["AVAILABLE", "centred_gradient_norms"]


@jit
def _row_sum(a, k, spans, partial):
    """np.sum of a[:k] as numpy sums a contiguous row: +0.0 plus the pairwise sum (short
    rows call the block sum directly: passing the walk's stack costs more than summing)."""
    start = np.int64(0)  # not a literal 0: one compilation of the sums for every start
    if k <= PW_BLOCKSIZE:
        return 0.0 + _block_sum(a, start, k)
    return 0.0 + pairwise_sum(a, start, k, spans, partial)


@jit
def centred_gradient_norms(factor, scale, weights, top, shift, targets, c, resolved):
    """(norm, largest), float64 arrays of targets' shape (m, n): ||g||_2 and max_i |g_i| of
    g = r - shift * sum(r), r = (factor * scale) * (d - d . weights), d = v - v[top],
    v = c e_y with y = targets[j, i], for every target j and row i.

    factor: a float (1.0 * scale is scale exactly); scale, weights: C-contiguous float64
    (n, K); top: int64 (n,), the index of each row's largest weight (np.argmax); shift:
    C-contiguous float64 (n, K), or (0, K) for none; targets: int64 (m, n) in [0, K); c:
    float64 (m, n), the cotangents' nonzero entries -1/p_y; resolved: bool (m, n), False
    where the caller discards the result (NaN there, without computing it). Values as
    the numpy reference's (module docstring); NaN or inf operands give what numpy's
    arithmetic gives.
    """
    m, n = targets.shape
    k = scale.shape[1]
    shifted = shift.shape[0] > 0
    norm = np.empty((m, n))
    largest = np.empty((m, n))
    terms = np.empty(k)  # d * w, then g * g
    sizes = np.empty(k)  # |g|
    r = np.empty(k)  # r, when shifted
    spans, partial = pairwise_stack()
    for i in range(n):  # rows outer: the row's scale and weights stay in cache
        a = scale[i]
        w = weights[i]
        finite = -1  # how many w_q are finite, counted at the first need
        for j in range(m):
            if not resolved[j, i]:
                norm[j, i] = np.nan
                largest[j, i] = np.nan
                continue
            y = targets[j, i]
            cy = c[j, i]
            at_top = cy if top[i] == y else 0.0
            if top[i] != y and finite < 0:
                finite = 0
                for q in range(k):
                    finite += abs(w[q]) < np.inf
            if top[i] != y and finite == k:
                dot = 0.0 + cy * w[y]
            else:
                for q in range(k):
                    terms[q] = ((cy if q == y else 0.0) - at_top) * w[q]
                dot = _row_sum(terms, k, spans, partial)
            nans = 0
            if shifted:
                for q in range(k):
                    r[q] = (factor * a[q]) * (((cy if q == y else 0.0) - at_top) - dot)
                total = _row_sum(r, k, spans, partial)
                h = shift[i]
                for q in range(k):
                    g = r[q] - h[q] * total
                    terms[q] = g * g
                    size = abs(g)
                    sizes[q] = size
                    nans += size != size
            else:
                for q in range(k):
                    g = (factor * a[q]) * (((cy if q == y else 0.0) - at_top) - dot)
                    terms[q] = g * g
                    size = abs(g)
                    sizes[q] = size
                    nans += size != size
            norm[j, i] = np.sqrt(_row_sum(terms, k, spans, partial))
            largest[j, i] = np.nan if nans else row_max(sizes, 0, k)
    return norm, largest
