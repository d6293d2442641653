"""The per-vector metric pass of ``softmaxlab.metrics.vector_metrics`` in one numba loop.

``metrics._vector_metrics_numpy`` is the reference: some fifteen numpy passes over each
(rows, K) block (row max, min and sum of p, the hardmax mask of x, |p - h| and its square,
p log p, counts, comparisons, the errors against the reference). Here two compiled loops
over the rows do the same work, every value bit for bit the same:

- :func:`x_maxima`: the row maximum of x (NaN where x has a NaN) and how many entries
  reach it (the hardmax's m);
- :func:`row_metrics`: every other metric of a row in one loop over its entries, with the
  error metrics against a float64 reference fused in (a long double reference stays in
  numpy: numba has no long double).

What stays in numpy, because the result must be numpy's to the last bit: ln p (numpy's
SIMD log and libm's log differ in the last bit: the caller passes ``np.log(p)`` in), the
hardmax's 1/m and ln(1/m) per row (likewise), ln K, and the sign of a zero row maximum
(numpy's SIMD max returns either zero of a row of +-0 depending on lane order; the caller
recomputes the rows whose maximum is 0 with ``np.max``).

Sums are numpy's: ``np.sum(a, axis=-1)`` of a C-contiguous float64 (n, K) array starts from
add's identity +0.0 and adds the pairwise sum of the row, computed as numpy's
``DOUBLE_pairwise_sum`` (numpy/_core/src/umath/loops_utils.h.src) does:
:func:`pairwise_sum` (:func:`row_sums` is np.sum over the last axis). float32 inputs are
read as float64, so every operation is in float64, as in the reference. The other
operations are single IEEE operations (+, -, x, /, |.|, sqrt, comparisons), compiled
without fastmath, so they round as numpy's do; NaN payloads may differ (numpy and the
metrics only ever test for NaN). ``error_model="numpy"``: a division by zero gives inf or
NaN, as in numpy, instead of raising.

Compiled on first use and cached on disk (``cache=True``): the sweep's jobs, separate
processes, load the compiled code instead of compiling again.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # a platform without numba wheels: callers use the numpy reference
    numba = None

#: numba is importable: the compiled kernels below can run.
AVAILABLE: bool = numba is not None

#: The rows of the array :func:`row_metrics` fills, one value per vector each (rates as
#: 0.0/1.0). normalized_entropy and overflow are not here: the caller derives them.
OUTPUTS: tuple[str, ...] = (
    "tv_to_argmax",
    "l2_to_argmax",
    "kl_to_argmax",
    "entropy",
    "max_prob",
    "argmax_agrees",
    "support_fraction",
    "nan_output",
    "invalid",
    "underflow",
    "max_abs_error",
    "max_rel_error",
)
(
    _TV,
    _L2,
    _KL,
    _ENTROPY,
    _MAX_PROB,
    _AGREES,
    _SUPPORT,
    _NAN,
    _INVALID,
    _UNDERFLOW,
    _ABS_ERR,
    _REL_ERR,
) = range(len(OUTPUTS))

#: numpy's PW_BLOCKSIZE: above it the pairwise sum splits the range in two.
PW_BLOCKSIZE = 128


def _jit(fn):
    """njit with IEEE semantics (no fastmath), numpy's error model, cached on disk; the
    plain Python function where numba is missing (slow, but the same values). Nothing is
    inlined by numba (LLVM still may): inlining the helpers took compilation from 4 s to
    9 s for no measurable speed."""
    if numba is None:
        return fn
    return numba.njit(cache=True, error_model="numpy", fastmath=False)(fn)


#: Frames of :func:`pairwise_sum`'s walk: the recursion is at most about log2(n / 128) + 2
#: deep, so 64 frames hold any array numpy can allocate.
STACK_FRAMES = 64


@_jit
def pairwise_stack():
    """Scratch for :func:`pairwise_sum`, allocated once per kernel call: the frames' spans
    and phases (int64 (STACK_FRAMES, 3)) and their left halves' sums (float64)."""
    return np.empty((STACK_FRAMES, 3), dtype=np.int64), np.empty(STACK_FRAMES)


@_jit
def _block_sum(a, start, n):
    """numpy's pairwise sum of a[start:start + n] for n <= PW_BLOCKSIZE: below 8 entries a
    sequential sum from -0.0; else eight accumulators over blocks of 8, combined as
    ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the remainder one by one."""
    if n < 8:
        res = -0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0 = np.float64(a[start])  # float32 entries are summed in float64 too
    r1 = np.float64(a[start + 1])
    r2 = np.float64(a[start + 2])
    r3 = np.float64(a[start + 3])
    r4 = np.float64(a[start + 4])
    r5 = np.float64(a[start + 5])
    r6 = np.float64(a[start + 6])
    r7 = np.float64(a[start + 7])
    end = start + n - n % 8
    for i in range(start + 8, end, 8):
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(end, start + n):
        res += a[i]
    return res


@_jit
def _split(n):
    """Where numpy's pairwise sum splits n > PW_BLOCKSIZE entries: n / 2 rounded down to a
    multiple of 8 (the unroll factor)."""
    half = n // 2
    return half - half % 8


@_jit
def pairwise_sum(a, start, n, spans, partial):
    """numpy's pairwise summation of the float64 a[start:start + n] (DOUBLE_pairwise_sum,
    numpy/_core/src/umath/loops_utils.h.src): :func:`_block_sum` up to PW_BLOCKSIZE = 128
    entries; above, the sum of the two halves split at :func:`_split`, each summed the
    same way, added left + right.

    numpy recurses; numba's on-disk cache crashes on recursive functions (numba issue
    #6061), so this walks the same tree with an explicit stack (spans, partial: from
    :func:`pairwise_stack`): frame f is the span (start, n) spans[f, :2], in phase
    spans[f, 2] = 0 before its left half is summed and 1 after, that sum in partial[f].
    """
    if n <= PW_BLOCKSIZE:
        return _block_sum(a, start, n)
    top = 0
    spans[0, 0] = start
    spans[0, 1] = n
    spans[0, 2] = 0
    while True:
        s = spans[top, 0]
        m = spans[top, 1]
        if m > PW_BLOCKSIZE:  # descend into the left half
            top += 1
            spans[top, 0] = s
            spans[top, 1] = _split(m)
            spans[top, 2] = 0
            continue
        value = _block_sum(a, s, m)
        top -= 1
        while top >= 0 and spans[top, 2] == 1:  # right halves done: left + right
            value = partial[top] + value
            top -= 1
        if top < 0:
            return value
        partial[top] = value  # a left half done: its right half next
        spans[top, 2] = 1
        half = _split(spans[top, 1])
        s = spans[top, 0] + half
        m = spans[top, 1] - half
        top += 1
        spans[top, 0] = s
        spans[top, 1] = m
        spans[top, 2] = 0


@_jit
def row_sums(a):
    """What ``np.sum(a, axis=-1)`` returns for the C-contiguous float64 (n, K) array a:
    per row add's identity +0.0 plus the pairwise sum of the whole row (numpy does not
    split a contiguous row into buffer-sized chunks: checked up to K = 10^6 by
    tests/test_kernels.py). So a row of -0.0 sums to +0.0."""
    n, k = a.shape
    flat = a.reshape(a.size)
    spans, partial = pairwise_stack()
    out = np.empty(n)
    for i in range(n):
        out[i] = 0.0 + pairwise_sum(flat, i * k, k, spans, partial)
    return out


@_jit
def row_max(a, start, n):
    """The largest non-NaN value of a[start:start + n] (-inf if there is none), with
    eight independent running maxima (one comparison chain would serialise the loop);
    callers test for NaN themselves. The sign of a zero maximum is not numpy's (see the
    module docstring)."""
    r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = -np.inf
    end = start + n - n % 8
    for i in range(start, end, 8):
        r0 = a[i] if a[i] > r0 else r0
        r1 = a[i + 1] if a[i + 1] > r1 else r1
        r2 = a[i + 2] if a[i + 2] > r2 else r2
        r3 = a[i + 3] if a[i + 3] > r3 else r3
        r4 = a[i + 4] if a[i + 4] > r4 else r4
        r5 = a[i + 5] if a[i + 5] > r5 else r5
        r6 = a[i + 6] if a[i + 6] > r6 else r6
        r7 = a[i + 7] if a[i + 7] > r7 else r7
    for i in range(end, start + n):
        r0 = a[i] if a[i] > r0 else r0
    r0 = r1 if r1 > r0 else r0
    r2 = r3 if r3 > r2 else r2
    r4 = r5 if r5 > r4 else r4
    r6 = r7 if r7 > r6 else r6
    r0 = r2 if r2 > r0 else r0
    r4 = r6 if r6 > r4 else r4
    return r4 if r4 > r0 else r0


@_jit
def x_maxima(x):
    """(x_max, count) per row of the C-contiguous (n, K) float32 or float64 logits x: the
    row maximum as float64 (NaN where the row has a NaN, as ``np.max`` propagates it) and
    the number of entries equal to it (0 on NaN rows), the hardmax's m."""
    n, k = x.shape
    x_max = np.empty(n)
    count = np.zeros(n, dtype=np.int64)
    for i in range(n):
        row = x[i]
        nans = 0
        for j in range(k):
            nans += row[j] != row[j]
        if nans:
            x_max[i] = np.nan
            continue
        m = row_max(row, 0, k)
        x_max[i] = m
        c = 0
        for j in range(k):
            c += row[j] == m
        count[i] = c
    return x_max, count


@_jit
def row_metrics(x, x_max, h_value, log_h, p, log_p, r, tol, out):
    """Fill ``out`` (len(OUTPUTS), n) with every metric of ``OUTPUTS`` per row.

    x: C-contiguous (n, K) float32 or float64 logits; x_max: their row maxima
    (:func:`x_maxima`); h_value, log_h: the hardmax's mass 1/m per row (NaN where x has a
    NaN) and its numpy ln; p: the output (n, K), float32 or float64, every operation on it
    in float64; log_p = np.log(p) in float64; r: the
    float64 reference (n, K), or a (0, 0) array for none (error metrics NaN); tol: the
    invalid metric's sum tolerance; all C-contiguous. Each value is that of
    metrics._vector_metrics_numpy (its comments give the definitions' shortcuts, which are
    the same here): max_prob is the NaN-propagating row maximum, except that a zero
    maximum's sign is numpy's to set (the caller's job).

    The loops over a row's entries have no branches (selects and counts), so LLVM
    vectorises them; the terms of the sums go to row-sized scratch arrays, still in cache
    when the pairwise sums read them. Rows up to PW_BLOCKSIZE long sum with
    :func:`_block_sum` directly: calls that pass the walk's stack arrays cost some 15 ns
    each in reference counting, more than summing a row of K = 3.
    """
    n, k = p.shape
    has_ref = r.shape[0] > 0
    d = np.empty(k)  # |p - h|; then the errors' |p - r|
    d2 = np.empty(k)  # |p - h|^2; then the errors' ratios
    e = np.empty(k)  # entropy terms; then KL terms of a row with tied maximisers
    sums = np.empty(4)  # p, |p - h|, |p - h|^2, entropy terms
    spans, partial = pairwise_stack()
    for i in range(n):
        xr = x[i]
        pr = p[i]
        lr = log_p[i]
        xm = x_max[i]
        hv = h_value[i]
        nans = 0
        positive = 0
        negative = 0
        for j in range(k):
            v = pr[j]
            nans += v != v
            positive += v > 0
            negative += v < 0
            # |p - h|: h_i = 0 off the maximisers, and p_i - 0 = p_i exactly.
            a = abs(v - (hv if xr[j] == xm else 0.0))
            d[j] = a
            d2[j] = a * a
            # -p ln p = -(p ln p) (rounding is symmetric), 0 where p = 0.
            e[j] = 0.0 if v == 0 else -(v * lr[j])
        if k <= PW_BLOCKSIZE:
            sums[0] = _block_sum(pr, 0, k)
            sums[1] = _block_sum(d, 0, k)
            sums[2] = _block_sum(d2, 0, k)
            sums[3] = _block_sum(e, 0, k)
        else:
            _long_sums(pr, d, d2, e, sums, spans, partial)
        p_sum = 0.0 + sums[0]
        p_nan = nans > 0
        x_nan = xm != xm
        p_max = np.nan if p_nan else row_max(pr, 0, k)
        if x_nan:  # h is NaN: so is every |p - h|
            tv = np.nan
            l2 = np.nan
        else:
            tv = 0.5 * (0.0 + sums[1])
            l2 = np.sqrt(0.0 + sums[2])

        # KL(h || p): with one maximiser a the single term h (ln h - ln p_a) with h = 1;
        # with ties the row sum of the terms at the maximisers (+0.0 elsewhere).
        if p_nan or x_nan:
            kl = np.nan
        elif hv == 1.0:
            first = 0
            while not xr[first] == xm:
                first += 1
            kl = hv * (log_h[i] - lr[first])
        else:
            lh = log_h[i]
            for j in range(k):
                e[j] = hv * (lh - lr[j]) if xr[j] == xm else 0.0
            kl = 0.0 + pairwise_sum(e, 0, k, spans, partial)

        # Every maximiser of p is one of x (a NaN row never agrees).
        outside = 0
        for j in range(k):
            outside += (pr[j] == p_max) & (xr[j] != xm)

        out[_TV, i] = tv
        out[_L2, i] = l2
        out[_KL, i] = kl
        out[_ENTROPY, i] = 0.0 + sums[3]
        out[_MAX_PROB, i] = p_max
        out[_AGREES, i] = 0.0 if p_nan or outside else 1.0
        # The share of p_i > 0: K / K = 1 exactly when all are.
        out[_SUPPORT, i] = np.nan if p_nan else positive / k
        out[_NAN, i] = 1.0 if p_nan else 0.0
        # A sum within tol of 1 is finite; valid needs no NaN and no p_i < 0.
        valid = not p_nan and negative == 0 and abs(p_sum - 1.0) <= tol
        out[_INVALID, i] = 0.0 if valid else 1.0
        if has_ref:
            _errors_row(pr, r[i], d, d2, out, i)
        else:
            out[_UNDERFLOW, i] = np.nan
            out[_ABS_ERR, i] = np.nan
            out[_REL_ERR, i] = np.nan


@_jit
def _long_sums(pr, d, d2, e, sums, spans, partial):
    """The four row sums of :func:`row_metrics` (p, |p - h|, |p - h|^2 and the entropy
    terms) for rows longer than PW_BLOCKSIZE, into sums."""
    k = d.shape[0]
    sums[0] = pairwise_sum(pr, 0, k, spans, partial)
    sums[1] = pairwise_sum(d, 0, k, spans, partial)
    sums[2] = pairwise_sum(d2, 0, k, spans, partial)
    sums[3] = pairwise_sum(e, 0, k, spans, partial)


@_jit
def _errors_row(pr, rr, diff, ratio, out, i):
    """metrics.errors of the row pr against the float64 reference row rr: underflow (some
    p_j = 0 where r_j > 0), max_j |p_j - r_j| and max over r_j > 0 of |p_j - r_j| / r_j
    (NaN where no r_j > 0 or some difference is NaN; a NaN ratio propagates, as in
    np.max), into column i of out. diff and ratio: scratch rows."""
    k = pr.shape[0]
    underflow = 0
    ref_positive = 0
    bad = 0
    ratio_nan = 0
    for j in range(k):
        v = pr[j]
        rv = rr[j]
        a = abs(v - rv)
        diff[j] = a
        bad += a != a
        ref_positive += rv > 0
        underflow += (v == 0) & (rv > 0)
        q = a / rv if rv > 0 else -np.inf
        ratio[j] = q
        ratio_nan += q != q
    out[_UNDERFLOW, i] = 1.0 if underflow else 0.0
    out[_ABS_ERR, i] = np.nan if bad else row_max(diff, 0, k)
    no_ratio = bad or ratio_nan or not ref_positive
    out[_REL_ERR, i] = np.nan if no_ratio else row_max(ratio, 0, k)
