"""The threshold maps sparsemax, 1.5-entmax and alpha-entmax, compiled, row by row.

``softmaxlab.methods.maps._sparsemax``, ``_entmax15`` and ``_entmax`` call :func:`threshold_map`
for the float32 and float64 accumulators; their numpy bodies (a full sort with cumulative
sums for sparsemax and 1.5-entmax, a bisection over the sorted rows for alpha-entmax) stay
the reference (tests/test_kernels_sparse.py compares the two, and both with mpmath) and the
path for long double (numba has none) and for platforms without numba.

All three are p_i = (z_i - tau)_+^r with z = (alpha - 1)(x - max x), r = 1 / (alpha - 1)
(sparsemax: alpha = 2, r = 1; 1.5-entmax: alpha = 1.5, z = (x - max x) / 2, r = 2) and
tau the root of f(tau) = sum_i (z_i - tau)_+^r - 1 (Peters, Niculae & Martins 2019). Per
row:

1. z in the accumulator, as the numpy bodies compute it: x_i - max x, rounded, times
   alpha - 1 rounded to the accumulator (exact for 1/2, 1/4, 3/4 and 1), rounded.
2. The candidates: tau >= -1 (the maximum alone has (0 + 1)^r = 1), so entries with
   z_i <= -1 are never in the support. Nothing is sorted: only the support matters, and
   for normal logits at large K it is small.
3. tau in float64 on the candidates (float32's z are exact in float64). For r >= 1
   (alpha <= 2): Newton's method on F(tau) = (sum (z_i - tau)_+^r)^(1/r) - 1, the r-norm
   of (z - tau)_+ minus 1, which is convex and decreasing (a norm, increasing in each
   entry, of convex entries): from a point below the root its iterates rise to the root
   and never pass it, so the candidates at or below an iterate are out of the support for
   good and are dropped. F is linear on a support whose entries are equal, so the
   iterates land near the root in a few steps where Newton on f (a degree-r polynomial)
   would crawl. The start is a lower bound from Jensen's inequality (:func:`_start`),
   exact for equal candidates. For r = 1 each step is Michelot's (1986; Condat 2016,
   "Fast projection onto the simplex and the l1 ball"): the exact threshold of the
   current support, so the iteration ends on the exact support with Martins & Astudillo's
   threshold for it (their Algorithm 1, without the sort). For r = 2 the step is the
   exact root of the current support's quadratic (Peters et al.'s Algorithm 2, in sums of
   z_i - tau instead of its running variance, which cancels at large K) when that root
   lies before the next candidate. Otherwise the iteration stops once a step crosses no
   candidate and the next one, predicted from F's curvature, is below the accumulator's
   roundoff of tau (or a step is that small, or not positive: rounding noise at the
   root). For r < 1 (alpha > 2) F is not convex: bisection on [-1, 0] to that roundoff.
   tau is then rounded to the accumulator.
4. p_i = (z_i - tau)_+^r: the difference in the accumulator, as in the numpy bodies, the
   power in float64 rounded to the accumulator (products carried exactly for r = 2, 3, 4,
   pow otherwise; :func:`_fast_pow` for float32), divided by the sum of the rounded powers
   (float64, Neumaier-compensated, rounded to the accumulator): at least as accurate as
   the numpy bodies' powers and pairwise sum.

Rows with a NaN or an infinite maximum (the module's edge rows, which methods._run
overwrites with NaN) come out NaN here; a -inf entry among finite ones gets 0.

Accuracy, in units of each entry's conditioning (rounding z_i and tau moves
t_i = z_i - tau by about u (|z_i| + |tau|)): the kernels stay below 3 units on mpmath's
rows where the numpy bodies reach 38 (their running sums and variances);
tests/test_kernels_sparse.py. Numba compiles without fastmath, so every operation is one
IEEE rounding; float32 operations are float32's.

Compiled on first use and cached on disk (softmaxlab.kernels.jit), like
softmaxlab.kernels.metrics.
"""

from __future__ import annotations

import numpy as np

from softmaxlab.kernels.jit import jit

try:
    import numba
    from llvmlite import ir as llvm_ir
    from numba import types as numba_types
    from numba.extending import intrinsic
except ImportError:  # a platform without numba wheels: callers use the numpy reference
    numba = None

#: numba is importable: the compiled kernels below can run.
AVAILABLE: bool = numba is not None

#: Run sparsemax, entmax15 and entmax through the kernels where numba is importable; False
#: runs the numpy bodies of softmaxlab.methods everywhere (the tests switch it to compare).
USE_KERNELS: bool = True

#: Newton steps per row at most: the iteration stops after 1 to 6 on the rows the tests
#: try; the cap only bounds a pathological row (its last iterate is still a tau below the
#: root, whose p the normalisation then corrects).
MAX_NEWTON_STEPS = 100

#: Bisection steps at most for alpha > 2: from [-1, 0] to below float64's roundoff of tau
#: takes at most about 1100 halvings (down to the smallest |tau|, (1/K)^(alpha-1) with K
#: below 2^63); the stopping rule ends far earlier on any realistic row.
MAX_BISECTION_STEPS = 1100

#: Candidates from which the search starts from the histogram's bound (:func:`_start`)
#: rather than only from the bound of all candidates at once.
HISTOGRAM_MIN = 128

#: Bins of that histogram.
HISTOGRAM_BINS = 16

#: Veltkamp's splitter for float64, 2^27 + 1: splits a double into two 26-bit halves.
_SPLIT = 134217729.0

# Constants of :func:`_fast_pow`: ln 2 in two parts (fdlibm's: the high part has 32
# significant bits, so its product with an exponent is exact), 1 / ln 2, 1.5 * 2^52 (adding
# it rounds a double below 2^51 to an integer and leaves that integer in the low bits),
# 2^52 (the double whose low bits hold an integer v is 2^52 + v) and sqrt 2.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_ROUNDER = 6755399441055744.0
_TWO52 = 4503599627370496.0
_SQRT2 = 1.4142135623730951


# The small helpers of the hot loops are jit(inline=True), inlined by numba: LLVM does
# not inline across numba's calling convention (a call per entry kept the loops from
# vectorising).


if numba is not None:

    @intrinsic
    def _bits_of(typingctx, value):
        """The IEEE bits of a float64 as an int64 (an LLVM bitcast)."""

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llvm_ir.IntType(64))

        return numba_types.int64(numba_types.float64), codegen

    @intrinsic
    def _double_of(typingctx, bits):
        """The float64 whose IEEE bits are the int64 ``bits`` (an LLVM bitcast)."""

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llvm_ir.DoubleType())

        return numba_types.float64(numba_types.int64), codegen

else:  # never called without numba (callers run the numpy bodies); defined for imports

    def _bits_of(value):
        return int(np.float64(value).view(np.int64))

    def _double_of(bits):
        return float(np.int64(bits).view(np.float64))


@jit(inline=True)
def _fast_pow(t, a):
    """t^a for a normal t in (0, 1] and a > 0, without a libm call: exp(a ln t) with ln t
    from the exponent and mantissa bits (mantissa in [sqrt(1/2), sqrt 2), ln m = 2 atanh(s),
    s = (m - 1)/(m + 1), |s| <= 0.172, by its series to s^21) and exp(y) = 2^k e^f with
    |f| <= ln(2)/2 (Taylor to f^13) and 2^k from bits. Relative error (8 + 2 |a ln t|)
    units of float64's roundoff at most (tests/test_kernels_sparse.py), so an absolute
    error below 9 u for t^a <= 1 (|y| e^y <= 1/e for y = a ln t <= 0), against about 0.5 u
    for pow; at a third of pow's cost when the loop vectorises. 0 when t^a is below
    2^-1020. For the sums of the threshold search (their own rounding is as large), and for
    powers rounded to float32 afterwards (the error moves a float32 rounding only for a
    value within 2^-40 of a tie)."""
    bits = _bits_of(t)
    # the exponent field as a double without an int -> float conversion (none vectorises)
    exponent = _double_of((bits >> 52) | 0x4330000000000000) - (_TWO52 + 1023.0)
    m = _double_of((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    exponent = exponent + 1.0 if big else exponent
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    series = 1.0 / 21.0  # Horner, written out: numba keeps a loop over a tuple a loop
    series = series * s2 + 1.0 / 19.0
    series = series * s2 + 1.0 / 17.0
    series = series * s2 + 1.0 / 15.0
    series = series * s2 + 1.0 / 13.0
    series = series * s2 + 1.0 / 11.0
    series = series * s2 + 1.0 / 9.0
    series = series * s2 + 1.0 / 7.0
    series = series * s2 + 1.0 / 5.0
    series = series * s2 + 1.0 / 3.0
    log_m = 2.0 * s + 2.0 * s * s2 * series
    y = a * (exponent * _LN2_HI + (exponent * _LN2_LO + log_m))
    shifted = y * _INV_LN2 + _ROUNDER
    k = shifted - _ROUNDER  # round(y / ln 2)
    f = (y - k * _LN2_HI) - k * _LN2_LO
    taylor = 1.0 / 6227020800.0  # 1/13!
    taylor = taylor * f + 1.0 / 479001600.0
    taylor = taylor * f + 1.0 / 39916800.0
    taylor = taylor * f + 1.0 / 3628800.0
    taylor = taylor * f + 1.0 / 362880.0
    taylor = taylor * f + 1.0 / 40320.0
    taylor = taylor * f + 1.0 / 5040.0
    taylor = taylor * f + 1.0 / 720.0
    taylor = taylor * f + 1.0 / 120.0
    taylor = taylor * f + 1.0 / 24.0
    taylor = taylor * f + 1.0 / 6.0
    taylor = taylor * f + 0.5
    taylor = taylor * f + 1.0
    taylor = taylor * f + 1.0
    scale = _double_of((_bits_of(shifted) + 1023) << 52)  # 2^k: k + 1023 in the low bits
    return taylor * scale if k > -1020.0 else 0.0


@jit
def _kind(r):
    """The exponent r as a small integer 1 to 4 when it is one (their powers are products),
    else 0 (pow)."""
    for m in range(1, 5):
        if r == m:
            return m
    return 0


@jit(inline=True)
def _two_product(a, b):
    """(h, l) with h = fl(a b) and h + l = a b exactly (Dekker 1971, with Veltkamp's
    split: numba has no fused multiply-add), for |a b| well inside float64's range."""
    h = a * b
    sa = _SPLIT * a
    a_hi = sa - (sa - a)
    a_lo = a - a_hi
    sb = _SPLIT * b
    b_hi = sb - (sb - b)
    b_lo = b - b_hi
    return h, ((a_hi * b_hi - h) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


@jit(inline=True)
def _power(t, r, kind):
    """t^r in float64 for t >= 0, as accurate as pow (about half an ulp): t for r = 1;
    t t for r = 2 (one rounding); for r = 3 and 4 products carried exactly as sums of two
    doubles (:func:`_two_product`) and rounded once at the end, without pow's call;
    pow(t, r) otherwise."""
    if kind == 1:
        return t
    if kind == 2:
        return t * t
    if kind == 3:
        h, low = _two_product(t, t)  # t^2 = h + low
        hh, hl = _two_product(h, t)  # t^3 = hh + hl + low t
        return hh + (hl + low * t)
    if kind == 4:
        h, low = _two_product(t, t)
        hh, hl = _two_product(h, h)  # t^4 = hh + hl + 2 h low + low^2; low^2 < 2^-100 t^4
        return hh + (hl + 2.0 * h * low)
    return t**r


@jit(inline=True)
def _add(total, err, term):
    """One step of Neumaier's compensated sum: (total + term, the running error)."""
    s = total + term
    first = abs(total) >= abs(term)  # selects, not branches: the loops vectorise
    big = total if first else term
    small = term if first else total
    return s, err + ((big - s) + small)


@jit
def _row_max(a):
    """The largest non-NaN entry of the row a (-inf if none), with four independent running
    maxima (one comparison chain serialises the loop). Returned as a float64 (exact)."""
    k = a.shape[0]
    r0 = r1 = r2 = r3 = -np.inf
    end = k - k % 4
    for j in range(0, end, 4):
        r0 = a[j] if a[j] > r0 else r0
        r1 = a[j + 1] if a[j + 1] > r1 else r1
        r2 = a[j + 2] if a[j + 2] > r2 else r2
        r3 = a[j + 3] if a[j + 3] > r3 else r3
    for j in range(end, k):
        r0 = a[j] if a[j] > r0 else r0
    r0 = r1 if r1 > r0 else r0
    r2 = r3 if r3 > r2 else r2
    return r2 if r2 > r0 else r0


@jit
def _row_sum(a):
    """The sum of the row a (float32 or float64) in float64, Neumaier-compensated in four
    interleaved lanes: within about an ulp of the exact sum."""
    k = a.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    e0 = e1 = e2 = e3 = 0.0
    end = k - k % 4
    for j in range(0, end, 4):
        s0, e0 = _add(s0, e0, np.float64(a[j]))
        s1, e1 = _add(s1, e1, np.float64(a[j + 1]))
        s2, e2 = _add(s2, e2, np.float64(a[j + 2]))
        s3, e3 = _add(s3, e3, np.float64(a[j + 3]))
    for j in range(end, k):
        s0, e0 = _add(s0, e0, np.float64(a[j]))
    total, err = _add(s0, e0 + e1 + e2 + e3, s1)
    total, err = _add(total, err, s2)
    total, err = _add(total, err, s3)
    return total + err


@jit
def _inverse_root(n, r, kind):
    """n^(-1/r) for a count n >= 1."""
    if kind == 1:
        return 1.0 / n
    if kind == 2:
        return 1.0 / np.sqrt(n)
    return np.float64(n) ** (-1.0 / r)


@jit
def _start(cand, count, total, cmin, r, kind, counts, sums):
    """A lower bound of the root tau of f(tau) = sum (cand_i - tau)_+^r - 1 (r >= 1, max
    cand = 0), from Jensen's inequality: for any subset T of the candidates and tau below
    their mean, f(tau) + 1 >= sum_T (c_i - tau)^r >= |T| (mean_T c - tau)^r, so f >= 0 at
    tau = mean_T c - |T|^(-1/r), which is therefore <= the root. T = all candidates
    (total: their sum; exact when they are equal), and for HISTOGRAM_MIN candidates or more
    also the candidates above each of HISTOGRAM_BINS evenly spaced levels in [cmin, 0],
    the best of these bounds. Never below -1 (the bound of the maximum alone). counts,
    sums: scratch of HISTOGRAM_BINS (int64, float64)."""
    best = max(-1.0, total / count - _inverse_root(count, r, kind))
    if count < HISTOGRAM_MIN or not cmin < 0.0:
        return best
    bins = HISTOGRAM_BINS
    counts[:] = 0
    sums[:] = 0.0
    scale = bins / -cmin
    for j in range(count):
        c = cand[j]
        b = min(int((c - cmin) * scale), bins - 1)
        counts[b] += 1
        sums[b] += c
    n = 0
    above = 0.0
    for b in range(bins - 1, 0, -1):  # bin 0 would add the rest: the bound of all, above
        n += counts[b]
        above += sums[b]
        if n:
            best = max(best, above / n - _inverse_root(n, r, kind))
    return best


@jit
def _raise_fast(values, n, r):
    """values[:n] <- values[:n]^r in place (float64, each > 0) by :func:`_fast_pow`. A
    loop of its own, so it vectorises (one at a time, _fast_pow's long chain of dependent
    operations costs twice pow), and the one place it is inlined (each inlined copy costs
    compile time: so no flag chooses between this and :func:`_raise_exact`, which numba
    would compile once per literal value of the flag and once for a runtime one)."""
    for j in range(n):
        values[j] = _fast_pow(values[j], r)


@jit
def _raise_exact(values, n, r, kind):
    """values[:n] <- values[:n]^r in place (float64, each >= 0) by :func:`_power`; as
    :func:`_raise_fast`, the one place it is inlined."""
    for j in range(n):
        values[j] = _power(values[j], r, kind)


@jit(inline=True)
def _terms(t, r, kind, power):
    """(t^r, t^(r - 1), t^(r - 2), 1) for t > 0 and (0, 0, 0, 0) for t <= 0: the terms
    of Newton's sums and the count, computed for every t with selects (no branch to
    mispredict): products for r = 1 to 4, else from power = t^(r - 1) (by
    :func:`_fast_pow`: its few ulps are the sums' rounding noise). The third term only
    serves r other than 1 and 2."""
    positive = t > 0.0
    tp = t if positive else 0.0
    one = 1.0 if positive else 0.0
    if kind == 0:
        w = power * one
        return w * tp, w, w / (t if positive else 1.0), positive
    if kind == 1:
        return tp, one, 0.0, positive
    if kind == 2:
        return tp * tp, tp, one, positive
    v = tp * tp
    if kind == 3:
        return v * tp, v, tp, positive
    w = v * tp
    return w * tp, w, v, positive


@jit
def _newton_sums(cand, count, tau, r, kind, powers):
    """Sums over the candidates with t_i = cand_i - tau > 0: (P, Q, R, n, t_min) with
    P = sum t^r (Neumaier-compensated: its rounding decides the last steps), Q = sum
    t^(r - 1), R = sum t^(r - 2) (F's curvature), n the number of such candidates and
    t_min the smallest such t (inf if none). Two interleaved lanes: the chains of
    additions are the loop's critical path.

    For r not an integer 1 to 4, the powers t^(r - 1) first go to ``powers`` (float64,
    at least count long), by :func:`_raise_fast`."""
    if kind == 0:
        for j in range(count):
            t = cand[j] - tau
            powers[j] = t if t > 0.0 else 1.0
        _raise_fast(powers, count, r - 1.0)
    p0 = p1 = e0 = e1 = q0 = q1 = c0 = c1 = 0.0
    m0 = m1 = np.inf
    n = 0
    end = count - count % 2
    for j in range(0, end, 2):
        t = cand[j] - tau
        term, w, v, one = _terms(t, r, kind, powers[j])
        p0, e0 = _add(p0, e0, term)
        q0 += w
        c0 += v
        m0 = t if 0.0 < t < m0 else m0
        n += one
        t = cand[j + 1] - tau
        term, w, v, one = _terms(t, r, kind, powers[j + 1])
        p1, e1 = _add(p1, e1, term)
        q1 += w
        c1 += v
        m1 = t if 0.0 < t < m1 else m1
        n += one
    if end < count:
        t = cand[end] - tau
        term, w, v, one = _terms(t, r, kind, powers[end])
        p0, e0 = _add(p0, e0, term)
        q0 += w
        c0 += v
        m0 = t if 0.0 < t < m0 else m0
        n += one
    p_sum, p_err = _add(p0, e0 + e1, p1)
    return p_sum + p_err, q0 + q1, c0 + c1, n, min(m0, m1)


@jit
def _compact(cand, count, tau):
    """Move the candidates above tau to the front of cand (in order); their number."""
    kept = 0
    for j in range(count):
        c = cand[j]
        cand[kept] = c
        kept += c > tau
    return kept


@jit
def _tau_newton(cand, count, total, cmin, r, rel_tol, counts, sums, powers):
    """The root tau of sum (cand_i - tau)_+^r = 1 for r >= 1 and max cand = 0 (the module
    docstring): Newton's method on F(tau) = (sum (cand_i - tau)_+^r)^(1/r) - 1 from the
    lower bound of :func:`_start`, step (P - P^((r-1)/r)) / Q with the sums of
    :func:`_newton_sums` at tau; every iterate stays below the root (F is convex), so the
    candidates at or below it are dropped for good.

    r = 1 steps to the exact root on the current support (Michelot's step); r = 2 to the
    exact root of the current support's quadratic when that lies before the next
    candidate, else Newton's step. Stops when a step crosses no candidate (the support is
    final) and either its model is exact (r = 1, 2) or the next Newton step, predicted
    from F's curvature (error about F'' / (2 |F'|) step^2), is below rel_tol * |tau|; or
    when a step is below rel_tol * |tau| or not positive (rounding noise at the root)."""
    kind = _kind(r)
    tau = _start(cand, count, total, cmin, r, kind, counts, sums)
    exponent = (r - 1.0) / r
    for _ in range(MAX_NEWTON_STEPS):
        p_sum, q_sum, r_sum, n, t_min = _newton_sums(cand, count, tau, r, kind, powers)
        if n == 0:  # tau at or above the maximum: only rounding gets here
            break
        if 4 * n <= 3 * count:
            count = _compact(cand, count, tau)
        exact = False
        if kind == 1:
            step = (p_sum - 1.0) / n
            exact = True
        elif kind == 2:
            # n d^2 - 2 Q d + (P - 1) = 0: its smaller root d, in the stable form
            disc = q_sum * q_sum - n * (p_sum - 1.0)
            step = (p_sum - 1.0) / (q_sum + np.sqrt(max(disc, 0.0)))
            exact = step < t_min
            if not exact:
                step = (p_sum - np.sqrt(p_sum)) / q_sum
        else:
            step = (p_sum - p_sum**exponent) / q_sum
        if not step > 0.0:
            break
        next_tau = tau + step
        if not next_tau < 0.0:
            break
        tau = next_tau
        if step <= rel_tol * -tau:
            break
        if step < t_min:  # no candidate crossed: the support is final
            if exact:
                break
            curvature = (r - 1.0) * (r_sum - q_sum * q_sum / p_sum) / (2.0 * q_sum)
            if 4.0 * curvature * step * step <= rel_tol * -tau:
                break
    return tau


@jit
def _tau_bisection(cand, count, r, rel_tol):
    """The root tau of sum (cand_i - tau)_+^r = 1 for max cand = 0 by bisection on
    [-1, 0] (f(-1) >= 0 > f(0) = -1), for any r > 0: halves until the bracket is below
    rel_tol * |tau| (or no float lies strictly inside it), dropping the candidates at or
    below the lower end, which are out of the support for good. Returns the midpoint."""
    lo = -1.0
    hi = 0.0
    for _ in range(MAX_BISECTION_STEPS):
        if hi - lo <= rel_tol * -lo:
            break
        mid = 0.5 * (lo + hi)
        if not (lo < mid < hi):
            break
        mass = 0.0
        for j in range(count):
            t = cand[j] - mid
            if t > 0.0:
                mass += t**r
        if mass >= 1.0:
            lo = mid
            count = _compact(cand, count, lo)
        else:
            hi = mid
    return 0.5 * (lo + hi)


@jit
def _fill_powers(o, tau, r, kind, fast, support, powers, scratch):
    """o_j <- (o_j - tau)_+^r / sum_i (o_i - tau)_+^r. o holds z in x's dtype and tau is
    rounded to it, so the difference is one operation in x's dtype, as in the numpy
    bodies; the power is :func:`_power` of it in float64, rounded to x's dtype; the sum is
    Neumaier's in float64 of the rounded powers, rounded to x's dtype, and each quotient
    one division in x's dtype.

    First the differences (0 off the support), with the support's indices gathered into
    ``support`` (int64, K); then the powers, sum and quotients on the support only (an
    explicit index list: pow is pure, so LLVM would otherwise compute it for every entry
    under a select), or, for the products (r = 1 to 4) on a support of over a quarter of
    the row, on the whole row (no gather; the zeros stay 0). fast: o is float32 and r not
    an integer 1 to 4: the power is :func:`_fast_pow`'s, whose error is far below
    float32's rounding. scratch: a 1-element array of o's dtype; powers: float64 scratch
    of K."""
    k = o.shape[0]
    m = np.int64(0)  # not a literal 0: see threshold_rows' count
    for j in range(k):
        t = o[j] - tau
        positive = t > 0
        o[j] = t if positive else 0
        support[m] = j
        m += positive
    dense = kind != 0 and 4 * m > k
    if dense:
        for j in range(k):
            powers[j] = o[j]
        _raise_exact(powers, k, r, kind)
        for j in range(k):
            o[j] = powers[j]
        scratch[0] = _row_sum(o)
        norm = scratch[0]
        for j in range(k):
            o[j] = o[j] / norm
        return
    for q in range(m):
        powers[q] = o[support[q]]
    if fast:
        _raise_fast(powers, m, r)
    else:
        _raise_exact(powers, m, r, kind)
    total = 0.0
    err = 0.0
    for q in range(m):
        j = support[q]
        o[j] = powers[q]
        total, err = _add(total, err, np.float64(o[j]))
    scratch[0] = total + err
    norm = scratch[0]
    for q in range(m):
        j = support[q]
        o[j] = o[j] / norm


@jit
def threshold_rows(x, am1, r, rel_tol, out):
    """p = (z - tau)_+^r / sum per row of the C-contiguous (n, K) float32 or float64 x into
    out (same shape and dtype), z = (x - max x) * am1: the module docstring's steps.

    am1 = alpha - 1 and r = 1 / (alpha - 1) as values of x's dtype (as the numpy bodies
    round them); rel_tol: the relative roundoff at which tau's iteration stops. out holds
    z between the steps (it is the only row-sized array of x's dtype)."""
    n, k = x.shape
    cand = np.empty(k)  # float64 candidates z_i > -1 of the row
    support = np.empty(k, dtype=np.int64)  # the indices of the row's support
    powers = np.empty(k)  # scratch of the powers of _newton_sums and _fill_powers
    counts = np.empty(HISTOGRAM_BINS, dtype=np.int64)  # _start's histogram
    sums = np.empty(HISTOGRAM_BINS)
    scratch = np.empty(1, dtype=out.dtype)  # rounds a float64 to x's dtype
    r64 = np.float64(r)
    kind = _kind(r64)
    fast = kind == 0 and out.itemsize == 4
    for i in range(n):
        row = x[i]
        o = out[i]
        top = _row_max(row)
        if not np.isfinite(top):  # +inf or all -inf or all NaN: an edge row
            o[:] = np.nan
            continue
        scratch[0] = top
        shift = scratch[0]  # exact: top is one of the row's values
        # np.int64, not a literal 0: numba would also compile every helper count reaches
        # for a Literal[int](0) argument, unused (about 3 s of the sparse kernels' 14)
        count = np.int64(0)
        nans = 0
        total = 0.0
        cmin = 0.0
        for j in range(k):
            z = (row[j] - shift) * am1
            o[j] = z
            nans += z != z
            zc = np.float64(z)
            keep = zc > -1.0
            cand[count] = zc
            count += keep
            zc = zc if keep else 0.0
            total += zc
            cmin = min(cmin, zc)
        if nans:
            o[:] = np.nan
            continue
        if r64 >= 1.0:
            tau = _tau_newton(cand, count, total, cmin, r64, rel_tol, counts, sums, powers)
        else:
            tau = _tau_bisection(cand, count, r64, rel_tol)
        scratch[0] = tau
        _fill_powers(o, scratch[0], r64, kind, fast, support, powers, scratch)


#: The relative roundoff at which tau's iteration stops, per accumulator: float64's unit
#: roundoff, and for float32 a quarter of its own (tau is rounded to float32 afterwards).
_REL_TOL = {np.dtype(np.float32): 2.0**-26, np.dtype(np.float64): 2.0**-53}


def threshold_map(x: np.ndarray, acc: np.dtype, alpha: float) -> np.ndarray | None:
    """alpha-entmax of x along the last axis computed in the accumulator ``acc`` (sparsemax:
    alpha = 2; 1.5-entmax: alpha = 1.5), normalised, as an array of acc's dtype and x's
    shape; None where the kernels do not apply (numba missing, USE_KERNELS off, or an
    accumulator other than float32 and float64): then the caller runs its numpy body.

    x: at least 1-d, of a dtype acc holds exactly (the caller's rows). Rows with NaN, +inf
    or all -inf give NaN (the caller's edge conventions replace them anyway)."""
    acc = np.dtype(acc)
    if not (AVAILABLE and USE_KERNELS) or acc not in _REL_TOL:
        return None
    if x.size == 0:  # no rows or no classes (methods._run never passes these)
        return np.empty(x.shape, dtype=acc)
    k = x.shape[-1]
    rows = np.ascontiguousarray(x, dtype=acc).reshape(-1, k)
    out = np.empty_like(rows)
    scalar = acc.type
    threshold_rows(rows, scalar(alpha - 1), scalar(1 / (alpha - 1)), _REL_TOL[acc], out)
    return out.reshape(x.shape)
