"""Normalisation methods: maps from logits x to (pseudo-)probability vectors, last axis.

Every method computes in the dtype of its input, each operation carrying one rounding to
it, as on hardware. For the formats narrower than float32 (float16, bfloat16, fp8) in the
default ``compute="native"`` mode, :func:`_run` hands the method its input widened to
float32 as a :class:`softmaxlab.rounding.Rounded` array: every operation runs in float32
and its result is rounded to the format (to nearest even, into the format's subnormals,
beyond its max to inf, or to NaN in float8_e4m3fn). For +, -, x, / and sqrt that is the
format's own correctly rounded arithmetic, since float32 carries at least 2p + 2 bits: bit
for bit what numpy's float16 loops and ml_dtypes' ufuncs compute (up to the sign of a NaN,
which IEEE 754 leaves open, and float16's max(-0, +0), which numpy's float16 loop gives as
-0), at a quarter of their cost or less. exp, log1p and power are float32's function
rounded once (numpy 2.4's float16 exp differs from that on 4 of the 65536 float16 values,
ml_dtypes' bfloat16 exp on 1, each by one code). Methods registered by users receive the
narrow array itself (softmaxlab.plugins).
Reductions over the last axis (sums, cumulative sums, the thresholds of sparsemax and
entmax) are accumulated in float32 for formats narrower than float32 and rounded to the
dtype afterwards, as numpy's float16 sum and the training frameworks' low-precision kernels
do; in float32, float64 and long double they are computed in the dtype itself.

Nothing here raises on inf/NaN input: the arithmetic gives what it gives, and
:func:`evaluate` reports per row whether an intermediate or the output overflowed (a value
beyond the format's max became inf, or NaN in float8_e4m3fn, although the row's input was
finite), so overflow can be counted. A zero denominator (no mass, or every term underflowed
to 0) is not overflow: its 0/0 = NaN or x/0 = inf shows in the ``nan`` and ``invalid``
metrics instead.

Edge conventions, the same for every method (built-in or registered) and every format,
applied once in :func:`_run` (so by :func:`normalize` and :func:`evaluate`) after the
method, never inside it; :func:`softmaxlab.vjp` follows them too:

* a 0-d input is one outcome: its probability is 1.0 in x's dtype (NaN when x is NaN or
  +-inf, by the rules below), as ``scipy.special.softmax(np.float64(3.0))`` returns 1.0;
* an empty input, no classes (shape ``(..., 0)``) or no rows (``(0, K)``), gives an empty
  result of x's shape and dtype, as ``jax.nn.softmax`` and ``tf.nn.softmax`` return
  (evaluate's overflow flags then have the leading shape, all False);
* a row with a NaN entry, a row with a +inf entry, and a row whose entries are all -inf
  give NaN in every entry, as ``scipy.special.softmax`` gives on ``[0, nan]``,
  ``[0, inf, 0]`` and ``[-inf, -inf]``.

+inf is NaN rather than the limit "uniform over the +inf entries, 0 elsewhere" because
that limit is not one rule across the methods: it depends on how the entries grow
relative to each other (softmax of [t, 2t] tends to [0, 1], not [1/2, 1/2]); the even maps
(spherical, escort, even-order taylor) give -inf entries the same unbounded mass as +inf
ones (spherical of [0, t, -t] tends to [0, 1/2, 1/2]); linear has no limit with a -inf
entry beside it (the sum is inf - inf); and sigmoid's bounded terms tend to a finite mix,
not to a hardmax. NaN is the answer every method can give, and the one scipy gives.
Rows with no NaN or +inf and at least one entry above -inf are exactly what the method
computes, bit for bit; a -inf entry among finite ones is left to the method's arithmetic
(most give it 0; the maps with unbounded terms at -inf give the NaN of t/inf that their
docstrings describe). Rows with a non-finite entry are never flagged as overflow.

The methods (name, parameters with defaults, formula, source) are listed by
:func:`methods` and documented in the docstring of each ``_name`` function below;
:func:`method_doc` returns that docstring.
"""

from __future__ import annotations

import decimal
import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from softmaxlab.dtypes import DTYPES

_SUPPORTED = {*DTYPES.values(), np.dtype(np.longdouble)}


class _Ctx:
    """The dtype of one call, its accumulator, and the call's overflow bookkeeping.

    ``fmt``: the narrow format of a native call (softmaxlab.rounding): x is then a float32
    :class:`softmaxlab.rounding.Rounded` of the format's values, dtype and acc are float32,
    every operation on x rounds to the format, and so do the constants and sums below."""

    def __init__(self, x: np.ndarray, track: bool = True, fmt: np.dtype | None = None):
        self.dtype = x.dtype
        self.fmt = fmt
        # float32 accumulation for the narrow formats (float16, bfloat16, fp8).
        self.acc = np.dtype(np.float32) if x.dtype.itemsize < 4 else x.dtype
        # Without tracking (normalize), check() costs nothing: same arithmetic, no flags.
        self.track = track
        self.finite_rows = self._finite_rows(np.asarray(x)) if track else None
        self.overflow = np.zeros(x.shape[:-1], dtype=bool)

    def c(self, value, dtype=None) -> np.ndarray:
        """A constant rounded to the dtype (a 0-d array: Python scalars would promote
        ml_dtypes arrays to float32), or to the format of a native narrow call (as
        ``np.asarray(value, dtype=fmt)`` rounds it: 100 is 96 in float8_e4m3fn)."""
        if self.fmt is not None and dtype is None:
            from softmaxlab import rounding

            return rounding.constant(value, self.fmt)
        return np.asarray(value, dtype=self.dtype if dtype is None else dtype)

    def sum(self, a: np.ndarray) -> np.ndarray:
        """Sum over the last axis (keepdims), accumulated in ``acc``, rounded to the dtype
        (to the format of a native narrow call, once)."""
        if self.fmt is not None:
            from softmaxlab import rounding

            total = np.sum(np.asarray(a), axis=-1, keepdims=True, dtype=self.acc)
            return rounding.round_array(total, self.fmt)
        return np.sum(a, axis=-1, keepdims=True, dtype=self.acc).astype(self.dtype)

    def check(self, a: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """Mark rows whose finite input produced a non-finite value in ``a``; return ``a``.

        Non-finite rather than infinite because float8_e4m3fn has no infinity: there an
        overflow gives NaN.
        """
        if not self.track:
            return a
        values = np.asarray(a)  # a Rounded's float32 values: the tests need no rounding
        if where is None:
            # one flat test first: every entry finite is the common case, and a third of
            # the cost of the per-row test
            if self.fmt is None and values.dtype.itemsize >= 4 and np.isfinite(values).all():
                return a
            self.overflow |= ~self._finite_rows(values) & self.finite_rows
            return a
        bad = ~np.isfinite(values) & where
        if bad.any():
            self.overflow |= np.any(bad, axis=-1) & self.finite_rows
        return a

    def _finite_rows(self, values: np.ndarray) -> np.ndarray:
        """Per row whether every entry is finite: for a native narrow call the compiled
        exponent-bit test on float32 (np.all over short rows costs more than the method)."""
        if self.fmt is not None:
            from softmaxlab.kernels import formats

            return formats.finite_rows(values)
        return _finite_rows(values)

    def normalise(self, t: np.ndarray, owned: bool = False) -> np.ndarray:
        """t / sum(t), checking the sum and, where the sum is finite and non-zero, the quotient.
        ``owned``: t is a temporary of this call, so the quotient may overwrite it."""
        s = self.check(self.sum(t))
        p = np.divide(t, s, out=t) if owned else t / s
        return self.check(p, where=(s != 0) & np.isfinite(s)) if self.track else p

    def sort_descending(self, a: np.ndarray) -> np.ndarray:
        # Sorting is exact in any wider format; numpy sorts the ml_dtypes formats slowly.
        return np.flip(np.sort(a.astype(self.acc), axis=-1), axis=-1)


def _finite_rows(a: np.ndarray) -> np.ndarray:
    """Per row (last axis) whether every entry of ``a`` is finite: a test of the exponent
    bits for the narrow formats (numpy's isfinite loops element by element there)."""
    if a.dtype.itemsize >= 4:
        return np.all(np.isfinite(a), axis=-1)
    from softmaxlab.kernels import formats  # imports numba on the first call

    return formats.finite_rows(a)


def _nan_rows(x: np.ndarray, finite_rows: np.ndarray | None = None) -> np.ndarray | None:
    """The rows (a mask of x's leading shape) that the edge conventions make NaN: a NaN
    entry, a +inf entry, or every entry -inf. None when there is none, the common case,
    which costs one isfinite pass (none when ``finite_rows``, the rows whose entries are all
    finite, is already known)."""
    with np.errstate(invalid="ignore"):
        # a flat all() is about 3x cheaper than the per-row one
        if np.isfinite(x).all() if finite_rows is None else finite_rows.all():
            return None
        rows = np.any(np.isnan(x) | np.isposinf(x), axis=-1) | np.all(np.isneginf(x), axis=-1)
    return rows if rows.any() else None


def _with_conventions(
    x: np.ndarray, out: np.ndarray, finite_rows: np.ndarray | None = None
) -> np.ndarray:
    """``out`` (computed from x, same shape) with the rows of :func:`_nan_rows` set to NaN in
    out's dtype. Every other row is out's, bit for bit; out itself is never written (a new
    array is made only when some row changes)."""
    rows = _nan_rows(x, finite_rows)
    if rows is None:
        return out
    return np.where(rows[..., None], np.asarray(np.nan, dtype=out.dtype), out)


# --- the methods ---------------------------------------------------------------------------


def _argmax(x, ctx):
    """Hardmax: p_i = 1/m on the m maximisers of x, 0 elsewhere (ties share the mass).

    Not differentiable (its gradient is 0 almost everywhere): the reference the distances
    are measured to. Rows with NaN, with +inf or all -inf are NaN (the module's edge
    conventions), like every method's.
    """
    is_max = x == np.max(x, axis=-1, keepdims=True)
    count = np.sum(is_max, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(is_max, (1.0 / count).astype(ctx.dtype), ctx.c(0))


def _linear(x, ctx):
    """Plain normalisation p_i = x_i / sum_j x_j, no guard (the thread's alternative).

    A probability vector only for non-negative x with a positive sum: signed logits give
    negative entries or entries above 1, a zero sum gives inf/NaN. Scale-invariant.
    """
    return ctx.normalise(x)


def _shifted_linear(x, ctx):
    """p_i = (x_i - min x) / sum_j (x_j - min x): linear after shifting the minimum to 0.

    Always non-negative; the minimum gets 0. All-equal x gives 0/0 = NaN (no guard).
    """
    return ctx.normalise(ctx.check(x - np.min(x, axis=-1, keepdims=True)))


def _relu(x, ctx):
    """p_i = max(x_i, 0) / sum_j max(x_j, 0). No positive entry gives 0/0 = NaN."""
    return ctx.normalise(np.maximum(x, ctx.c(0)))


def _softplus(x, ctx):
    """p_i = s(x_i) / sum_j s(x_j), s(x) = ln(1 + e^x), computed as max(x, 0) + ln(1 + e^-|x|)
    (no overflow for large x). Positive for every finite x, unless s underflows."""
    t = np.maximum(x, ctx.c(0)) + np.log1p(np.exp(-np.abs(x)))
    return ctx.normalise(ctx.check(t))


def _sigmoid(x, ctx):
    """p_i = sigma(x_i) / sum_j sigma(x_j), sigma(x) = 1 / (1 + e^-x), computed as
    1/(1 + e^-|x|) for x >= 0 and e^-|x|/(1 + e^-|x|) below (no overflow)."""
    e = np.exp(-np.abs(x))
    one = ctx.c(1)
    t = np.where(x >= ctx.c(0), one / (one + e), e / (one + e))
    return ctx.normalise(t)


def _spherical(x, ctx, eps):
    """Spherical softmax p_i = (x_i^2 + eps) / sum_j (x_j^2 + eps) (de Brebisson & Vincent
    2016, "An exploration of softmax alternatives belonging to the spherical loss family").
    eps is rounded to the dtype (1e-5 is 0 in float8_e4m3fn). Even in x: the sign is lost.
    """
    return ctx.normalise(ctx.check(ctx.check(x * x) + ctx.c(eps)))


def _escort(x, ctx, p):
    """Escort transform p_i = |x_i|^p / sum_j |x_j|^p (Beck & Schloegl 1993; the
    "p-normalisation" of the thread with p = 2). Even in x for every p: the sign is lost."""
    return ctx.normalise(ctx.check(np.power(np.abs(x), ctx.c(p))))


def _taylor(x, ctx, order):
    """Taylor softmax p_i = t(x_i) / sum_j t(x_j), t(x) = sum_{i=0}^{n} x^i / i!
    (de Brebisson & Vincent 2016). For even n, t > 0 on the real line, so p is a
    distribution; t is evaluated in Horner form 1 + x(1 + x/2 (1 + x/3 (...))).
    Not monotone below the minimum of t (e.g. n = 2: t(x) = ((x + 1)^2 + 1)/2 falls until
    x = -1), so very negative logits can outweigh the maximum.
    """
    t = np.broadcast_to(ctx.c(1), x.shape)
    one = ctx.c(1)
    for i in range(order, 0, -1):
        t = ctx.check(one + ctx.check(x * t) / ctx.c(i))
    return ctx.normalise(np.array(t, copy=True))


def _stablemax(x, ctx):
    """Stablemax p_i = s(x_i) / sum_j s(x_j), s(x) = x + 1 for x >= 0 and 1/(1 - x) below
    (Prieto, Barsbey, Mediano & Birdal 2025, "Grokking at the edge of numerical
    stability"). Positive, monotone, grows linearly: no overflow short of the format's max.
    """
    one = ctx.c(1)
    t = np.where(x >= ctx.c(0), x + one, one / (one - x))
    return ctx.normalise(ctx.check(t))


def _softmax(x, ctx, temperature, base, stable):
    """Softmax p_i = base^(x_i/T) / sum_j base^(x_j/T) (Bridle 1990; base psi as in the
    thread: psi^x = e^(x ln psi), so base psi is temperature 1/ln psi).

    base = e uses exp; any other base uses np.power with the base rounded to the dtype
    (100 is 96 in float8_e4m3fn). stable=True subtracts max x first (the shift does not
    change p, and every power is then <= 1: no overflow on finite input; Goodfellow et al.
    2016, sec. 4.1); stable=False computes the powers as they are, so base^(x/T) overflows
    above ln(max)/ln(base) * T (709.78 for e in float64).

    Edge inputs: the module's conventions, which are scipy.special.softmax's arithmetic
    here (all -inf: 0/0, or -inf - -inf when stable; +inf: inf - inf, or inf/inf when
    unstable). base = 1 is uniform whatever finite x (1^y = 1).
    """
    y = x
    if stable:
        y = ctx.check(x - np.max(x, axis=-1, keepdims=True))
    if temperature != 1:
        y = ctx.check(y / ctx.c(temperature))
    # y is a temporary unless it is still the caller's x: then exp may overwrite it.
    out = None if y is x else y
    t = np.exp(y, out=out) if base == math.e else _power(ctx.c(base), y, out=out)
    return ctx.normalise(ctx.check(t), owned=True)


def _power(base: np.ndarray, y: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """np.power(base, y) for a positive 0-d base. float32 and float64: bit for bit, by
    :func:`_power_skipping_ends`. x87 long double (the float64 cells' reference): by
    :func:`_power_x87`, within 3 units of roundoff (2^-64) of base^y (powl: 1.24), 4 to
    6x faster than powl; np.power's bits where the result is subnormal, 0 or inf."""
    ln_base = math.log(float(base))
    if y.dtype not in (np.float32, np.float64, np.longdouble) or ln_base == 0:
        return np.power(base, y, out=out)
    if not math.isfinite(ln_base) or y.size == 0:
        return np.power(base, y, out=out)
    if y.dtype == np.longdouble and np.finfo(np.longdouble).nmant == 63:
        return _power_x87(base, y, ln_base, out)
    return _power_skipping_ends(base, y, ln_base, out)


def _power_skipping_ends(
    base: np.ndarray, y: np.ndarray, ln_base: float, out: np.ndarray | None
) -> np.ndarray:
    """np.power(base, y) for a positive 0-d base, bit for bit, without calling power on
    the entries whose result is certainly 0 or the format's overflow (numpy's SIMD power
    takes a slow path there: 50 to 130 ns an entry instead of 2 to 5 in float32 and
    float64, the dearest operation of the sweep at large scales). Certainly: a margin of 1
    in ln(result) beyond half the smallest subnormal and beyond the largest finite value,
    far more than power's error of an ulp."""
    info = np.finfo(y.dtype)
    # y beyond these gives 0 and inf (for base < 1 the division flips them). The logs in
    # long double: float() of long double's smallest subnormal is 0.
    ln_tiny, ln_max = (float(np.log(np.longdouble(v))) for v in (info.smallest_subnormal, info.max))
    to_zero = (ln_tiny - 1) / ln_base
    to_inf = (ln_max + 1) / ln_base
    zero_side, inf_side = (y < to_zero, y > to_inf) if ln_base > 0 else (y > to_zero, y < to_inf)
    if not (zero_side.any() or inf_side.any()):
        return np.power(base, y, out=out)
    # power of 0 (1, a fast case) in their place, then their known values: cheaper than
    # boolean indexing. NaN y is neither side: power gives NaN.
    t = np.power(base, np.where(zero_side | inf_side, y.dtype.type(0), y), out=out)
    np.copyto(t, y.dtype.type(0), where=zero_side)
    np.copyto(t, y.dtype.type(np.inf), where=inf_side)
    return t


# |y ln base| up to which _power_x87's exp(z_hi) (1 + expm1(z_lo)) is a normal number:
# ln of the smallest normal long double is -11355.14, of the largest 11356.52.
_X87_NORMAL_LN = 11354.0


@functools.lru_cache(maxsize=64)
def _ln_split(num: int, den: int) -> tuple[float, float, float]:
    """ln(num / den) = hi + lo1 + lo2 to 60 digits (decimal): hi with 32 significant bits,
    so that hi times a 32-bit number is exact in a 64-bit significand; lo1 + lo2 (two
    doubles) the rest, |lo1 + lo2| <= 2^-32 |hi|, to 2^-106 of itself."""
    with decimal.localcontext() as context:
        context.prec = 60
        ln = (decimal.Decimal(num) / decimal.Decimal(den)).ln()
        exponent = math.frexp(float(ln))[1]
        scaled = ln * decimal.Decimal(2) ** (32 - exponent)
        hi = math.ldexp(int(scaled.to_integral_value()), exponent - 32)
        rest = ln - decimal.Decimal(hi)
        lo1 = float(rest)
        lo2 = float(rest - decimal.Decimal(lo1))
    return hi, lo1, lo2


def _power_x87(base: np.ndarray, y: np.ndarray, ln_base: float, out: np.ndarray | None):
    """base^y in x87 long double (64-bit significand) as exp(y ln base) without powl
    (768 ns an entry, 25x expl). y ln base is needed to about 2^-66 absolute (|y ln base|
    reaches 11356), which one long double product cannot give, so it is split:
    y = y_hi + y_lo (Veltkamp, y_hi with 32 significant bits) and ln base = L_hi + L_lo
    (:func:`_ln_split`, L_hi with 32 bits); z_hi = y_hi L_hi is exact, and
    z_lo = y_lo L_hi + y L_lo, |z_lo| <= 2^-31 |y ln base| <= 2^-17.5, carries rounding
    errors below 2^-81. base^y = exp(z_hi) (1 + expm1(z_lo)): relative error expl's at an
    exact argument (1 ulp, <= 2^-63; measured 1.56 x 2^-64) + the last addition's 2^-64
    + below 2^-78: at most 3 x 2^-64 (measured 2.20 x 2^-64 against mpmath).

    Entries with |y ln base| > 11354 (and NaN) go to :func:`_power_skipping_ends`: there
    exp(z_hi) or the result may be subnormal, 0 or inf, and np.power's bits are kept."""
    hi, lo1, lo2 = _ln_split(*np.longdouble(base).as_integer_ratio())
    ln_hi = np.longdouble(hi)
    ln_lo = np.longdouble(lo1) + np.longdouble(lo2)
    bound = np.longdouble(_X87_NORMAL_LN / abs(hi))
    ends = None
    if not (-bound <= y.min() and y.max() <= bound):  # NaN compares false: an end
        ends = ~(np.abs(y) <= bound)
        end_values = _power_skipping_ends(base, y[ends], ln_base, None)  # before out is written
    # Ends (huge, inf, NaN y) give garbage and warnings here; their values come after.
    with np.errstate(all="ignore"):
        y_hi = y * np.longdouble(2**32 + 1)  # Veltkamp's split of y at 32 bits
        y_lo = y_hi - y
        np.subtract(y_hi, y_lo, out=y_hi)
        np.subtract(y, y_hi, out=y_lo)
        z_hi = np.multiply(y_hi, ln_hi, out=y_hi)  # exact: 32 bits by 32 bits
        z_lo = np.multiply(y_lo, ln_hi, out=y_lo)  # exact too; y is read for the last time:
        z_lo += y * ln_lo  # out (which may be y) is free from here
        t = np.exp(z_hi, out=out)
        np.expm1(z_lo, out=z_lo)
        z_lo *= t
        t += z_lo
    if ends is not None:
        t[ends] = end_values
    return t


def _iterated_exp(x, ctx, depth, stable):
    """p_i = E_d(x_i) / sum_j E_d(x_j) with E_0 = x, E_k = exp(E_(k-1)): exp applied
    ``depth`` times (the thread's "why not e^e^e^x"). Depth d is softmax(E_(d-1)(x)), the
    softmax of the inner value, so the max-shift applies to that inner value:
    stable=True computes exp(E_(d-1)(x) - max E_(d-1)(x)) for the last exp (the shift does
    not change p; depth 3 on [5, 4] gives [1, 0] in float64 where the naive form's
    e^e^e^5 = inf gives inf/inf = NaN). stable=False applies exp d times as written.

    What the shift fixes: the overflow of the last exp. What it cannot fix: E_(d-1) itself
    still overflows (and counts as overflow) once x exceeds ln applied d - 1 times to the
    format's max, in float64 about 709.78 for d = 2, 6.565 for d = 3, 1.8817 for d = 4;
    the naive form overflows one ln earlier (6.565 for d = 2, 1.8817 for d = 3). The
    result is not shift-invariant in x (E_(d-1)(x + c) - E_(d-1)(x) depends on x for
    d >= 2). stable=True at depth 1 is the stable softmax.
    """
    t = x
    for _ in range(depth - 1):
        t = ctx.check(np.exp(t))
    if stable:
        t = ctx.check(t - np.max(t, axis=-1, keepdims=True))
    return ctx.normalise(ctx.check(np.exp(t)), owned=True)


def _ssmax(x, ctx, s):
    """Scalable softmax p = softmax(s ln(K) x) (Nakanishi 2025, "Scalable-Softmax Is
    Superior for Attention"): the ln K factor keeps the maximum's mass from fading as the
    number of classes K grows. Computed as the stable softmax; K = 1 gives [1].
    """
    k = x.shape[-1]
    y = ctx.check(x * ctx.c(s * math.log(k)))
    return _softmax(y, ctx, temperature=1, base=math.e, stable=True)


def _sparsemax(x, ctx):
    """Sparsemax p = argmin_{p in simplex} ||p - x||^2 = max(x - tau, 0) (Martins &
    Astudillo 2016, Algorithm 1): sort z descending, k(z) = max{k : 1 + k z_(k) >
    sum_{j<=k} z_(j)}, tau = (sum_{j<=k(z)} z_(j) - 1) / k(z).

    The threshold is found at accumulator precision on x - max x (shift-invariant); p is
    divided by its sum (1 up to rounding) and rounded to the dtype. -inf entries get 0
    when the row has a finite entry; the other edge rows follow the module's conventions.
    float32 and float64 accumulators run softmaxlab.kernels.sparse (the same threshold by
    Michelot's iteration, no sort); the numpy code below is its reference.
    """
    from softmaxlab.kernels import sparse  # imports numba on the first call

    p = sparse.threshold_map(x, ctx.acc, alpha=2.0)
    if p is not None:
        return ctx.check(p.astype(ctx.dtype, copy=False))
    acc = ctx.acc
    z = x.astype(acc)
    z = z - np.max(z, axis=-1, keepdims=True)
    zs = ctx.sort_descending(z)
    cumsum = np.cumsum(zs, axis=-1, dtype=acc)
    k = np.arange(1, x.shape[-1] + 1, dtype=acc)
    support = np.sum(np.asarray(1, acc) + k * zs > cumsum, axis=-1, keepdims=True)
    top = np.take_along_axis(cumsum, np.maximum(support - 1, 0), axis=-1)
    tau = (top - np.asarray(1, acc)) / support.astype(acc)
    p = np.maximum(z - tau, np.asarray(0, acc))
    return ctx.check((p / np.sum(p, axis=-1, keepdims=True)).astype(ctx.dtype))


def _entmax15(x, ctx):
    """1.5-entmax p = [(x/2 - tau)_+]^2 with tau such that sum p = 1 (Peters, Niculae &
    Martins 2019, "Sparse Sequence-to-Sequence Models", Algorithm 2: the exact sort-based
    threshold). With z = (x - max x)/2 sorted descending and rho = 1..K: mean_rho, the mean
    of the top rho, ss_rho = rho (mean of squares - mean^2), delta_rho = (1 - ss_rho)/rho,
    tau_rho = mean_rho - sqrt(max(delta_rho, 0)); the support is the largest rho with
    tau_rho <= z_(rho), and tau = tau_support.

    Threshold at accumulator precision (the running variance cancels at large K), p
    divided by its sum and rounded to the dtype. Edge inputs as sparsemax. float32 and
    float64 accumulators run softmaxlab.kernels.sparse (the same threshold by Newton's
    method, no sort); the numpy code below is its reference.
    """
    from softmaxlab.kernels import sparse  # imports numba on the first call

    p = sparse.threshold_map(x, ctx.acc, alpha=1.5)
    if p is not None:
        return ctx.check(p.astype(ctx.dtype, copy=False))
    acc = ctx.acc
    z = x.astype(acc)
    z = (z - np.max(z, axis=-1, keepdims=True)) / np.asarray(2, acc)
    zs = ctx.sort_descending(z)
    rho = np.arange(1, x.shape[-1] + 1, dtype=acc)
    mean = np.cumsum(zs, axis=-1, dtype=acc) / rho
    mean_sq = np.cumsum(zs * zs, axis=-1, dtype=acc) / rho
    delta = (np.asarray(1, acc) - rho * (mean_sq - mean * mean)) / rho
    tau = mean - np.sqrt(np.maximum(delta, np.asarray(0, acc)))
    support = np.sum(tau <= zs, axis=-1, keepdims=True)
    tau_star = np.take_along_axis(tau, np.maximum(support - 1, 0), axis=-1)
    p = np.maximum(z - tau_star, np.asarray(0, acc))
    p = p * p
    return ctx.check((p / np.sum(p, axis=-1, keepdims=True)).astype(ctx.dtype))


def _entmax(x, ctx, alpha):
    """alpha-entmax p_i = [(alpha - 1) x_i - tau]_+^(1/(alpha - 1)) with tau such that
    sum p = 1 (Peters, Niculae & Martins 2019), tau found by bisection (Blondel et al.
    2020; the entmax package's EntmaxBisectFunction): with X = (alpha - 1)(x - max x),
    tau lies in [-1, -(1/K)^(alpha-1)]; the interval is halved until it is below the
    accumulator's unit roundoff (nmant + 2 steps), then p is normalised to sum to 1.

    float32 and float64 accumulators run softmaxlab.kernels.sparse instead (Newton's method
    on tau for alpha <= 2, bisection above, both to the accumulator's roundoff); the numpy
    code below is its reference.

    alpha -> 1 is softmax, alpha = 2 is sparsemax. Edge inputs as sparsemax.
    """
    from softmaxlab.kernels import sparse  # imports numba on the first call

    p = sparse.threshold_map(x, ctx.acc, alpha=alpha)
    if p is not None:
        return ctx.check(p.astype(ctx.dtype, copy=False))
    acc = ctx.acc
    am1 = np.asarray(alpha - 1, acc)
    inv = np.asarray(1 / (alpha - 1), acc)
    zero, one, two = (np.asarray(v, acc) for v in (0, 1, 2))
    z = x.astype(acc)
    z = (z - np.max(z, axis=-1, keepdims=True)) * am1
    k = x.shape[-1]
    tau_lo = np.full(z.shape[:-1] + (1,), -1, dtype=acc)
    width = np.full_like(tau_lo, np.asarray(1 - (1 / k) ** (alpha - 1), acc))

    def mass(values, tau, exact=True):
        base = np.maximum(values - tau, zero)
        if not exact and float(inv) in (2.0, 4.0):  # alpha 1.5, 1.25: squaring beats pow
            square = base * base
            return square if float(inv) == 2.0 else square * square
        if acc == np.longdouble:  # powl is ~20x slower than expl(logl): same accuracy here
            return np.exp(inv * np.log(base))
        return np.power(base, inv)

    # tau only grows, so entries at or below tau_lo never count again: bisect over the
    # shrinking prefix of the sorted values that can still be in the support. Each row's
    # mass is summed over its own support only (np.add.reduceat on per-row segments), so a
    # row's result does not depend on the other rows of the batch.
    zs = ctx.sort_descending(z).reshape(-1, k)
    rows = len(zs)
    for _ in range(np.finfo(acc).nmant + 2):
        alive = max(int(np.max(np.sum(zs > tau_lo.reshape(-1, 1), axis=-1), initial=0)), 1)
        zs = zs[:, :alive]
        width = width / two
        tau_mid = tau_lo + width
        support = np.maximum(np.sum(zs > tau_mid.reshape(-1, 1), axis=-1), 1)
        flat = np.concatenate([mass(zs, tau_mid.reshape(-1, 1), exact=False).ravel(), [zero]])
        starts = np.arange(rows) * alive
        bounds = np.stack([starts, starts + support], axis=1).ravel()
        total = np.add.reduceat(flat, bounds)[::2].reshape(tau_mid.shape)
        tau_lo = np.where(total >= one, tau_mid, tau_lo)
    p = mass(z, tau_lo)
    p = (p / np.sum(p, axis=-1, keepdims=True, dtype=acc)).astype(ctx.dtype)
    return ctx.check(p)


def _gumbel_softmax(x, ctx, tau, seed):
    """Gumbel-softmax p = softmax((x + g) / tau), g_i ~ Gumbel(0, 1) i.i.d. (Jang, Gu &
    Poole 2017; Maddison, Mnih & Teh 2017): a differentiable relaxation of sampling from
    softmax(x). g = numpy.random.default_rng(seed).gumbel(size=x.shape) in float64,
    rounded to the dtype, so the noise depends on the whole array's shape (a batch and its
    rows one by one draw different noise). Stable softmax after the noise.
    """
    g = np.random.default_rng(seed).gumbel(size=x.shape).astype(ctx.dtype)
    y = ctx.check(x + g)
    return _softmax(y, ctx, temperature=tau, base=math.e, stable=True)


# --- registry and parameter checks -----------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    default: object
    kind: str  # "real" (finite float64), "int" (int64) or "bool"
    allowed: str  # what is allowed, for messages
    ok: Callable[[object], bool] = field(default=lambda value: True)
    # [low, high] a sweep takes without `limits: {override: true}` (softmaxlab.config), or
    # None; values beyond cost hours per job or lose accuracy, as `why` says.
    sweep_limit: tuple[float, float] | None = None
    why: str = ""


_METHODS: dict[str, tuple[Callable, dict[str, _Param]]] = {
    "argmax": (_argmax, {}),
    "linear": (_linear, {}),
    "shifted_linear": (_shifted_linear, {}),
    "relu": (_relu, {}),
    "softplus": (_softplus, {}),
    "sigmoid": (_sigmoid, {}),
    "spherical": (_spherical, {"eps": _Param(1e-5, "real", ">= 0", lambda v: v >= 0)}),
    "escort": (_escort, {"p": _Param(2.0, "real", "> 0", lambda v: v > 0)}),
    "taylor": (
        _taylor,
        {
            "order": _Param(
                2,
                "int",
                "an even integer >= 0",
                lambda v: v >= 0 and v % 2 == 0,
                sweep_limit=(0, 64),
                why="each order is one more pass over every logit: order 64 takes 8x softmax",
            )
        },
    ),
    "stablemax": (_stablemax, {}),
    "softmax": (
        _softmax,
        {
            "temperature": _Param(1.0, "real", "> 0", lambda v: v > 0),
            "base": _Param(math.e, "real", "> 0", lambda v: v > 0),
            "stable": _Param(True, "bool", "true or false"),
        },
    ),
    "iterated_exp": (
        _iterated_exp,
        {
            "depth": _Param(
                2,
                "int",
                "an integer >= 1",
                lambda v: v >= 1,
                sweep_limit=(1, 6),
                why="E_6(x) > e^(3.8e6) for every x: deeper overflows every format on any input",
            ),
            "stable": _Param(False, "bool", "true or false"),
        },
    ),
    "ssmax": (_ssmax, {"s": _Param(1.0, "real", "> 0", lambda v: v > 0)}),
    "sparsemax": (_sparsemax, {}),
    "entmax15": (_entmax15, {}),
    "entmax": (
        _entmax,
        {
            "alpha": _Param(
                1.5,
                "real",
                "> 1",
                lambda v: v > 1,
                sweep_limit=(1.001, math.inf),
                why="closer to 1 the float32 bisection of the narrow formats loses the answer "
                "(alpha = 1.0001 errs by 6e-5, 1 + 1e-9 by 0.97; alpha -> 1 is softmax)",
            )
        },
    ),
    "gumbel_softmax": (
        _gumbel_softmax,
        {
            "tau": _Param(1.0, "real", "> 0", lambda v: v > 0),
            "seed": _Param(0, "int", "an integer >= 0", lambda v: v >= 0),
        },
    ),
}


# Users' methods (softmaxlab.plugins): registered by name, and "package.module:function"
# entries imported on first use (one import per process).
_REGISTERED: dict[str, object] = {}
_IMPORTED: dict[str, object] = {}


def methods() -> list[str]:
    """Names of every normalisation method, in a fixed order: the built-ins, then the
    methods registered with :func:`register_method` in this process."""
    return [*_METHODS, *_REGISTERED]


def plugin(name: str):
    """The :class:`softmaxlab.plugins.Plugin` of a registered or "package.module:function"
    method (imported on first use), None for a built-in; ValueError for an unknown name or
    a plugin that cannot be imported."""
    from softmaxlab import plugins

    if isinstance(name, str) and name in _METHODS:
        return None
    if isinstance(name, str) and name in _REGISTERED:
        return _REGISTERED[name]
    if plugins.is_plugin_name(name):
        if name not in _IMPORTED:
            _IMPORTED[name] = plugins.import_plugin(name)
        return _IMPORTED[name]
    raise ValueError(
        f"unknown method {describe_value(name)}; valid methods: {', '.join(methods())}, "
        "or a plugin 'package.module:function' (README: Bring your own method)"
    )


def _lookup(name: str):
    """(function(x, ctx, **params), parameter specs) of a method; ValueError for anything
    but a known name or an importable plugin."""
    found = plugin(name)
    return _METHODS[name] if found is None else (found.run, found.specs)


def register_method(name: str, function: Callable, params: Mapping | None = None, vjp=None):
    """Register ``function(x, **params)`` as method ``name`` for this process (a notebook, a
    script): normalize, evaluate, vjp, label and the sweep's library functions then take
    it like a built-in. ``params``: the parameters' defaults (bool, int or float), read
    from the function's signature when None; ``vjp(x, v, **params)``: its vector-Jacobian
    product in float64 (default: the function's ``vjp`` attribute, if any). The protocol
    is softmaxlab.plugins'; the function is probed in float64 first. Registering a name
    again replaces it; ValueError for a built-in's name, a name that is not an identifier,
    or a function the probe refuses. Returns ``name``."""
    from softmaxlab import plugins

    if not isinstance(name, str) or re.fullmatch(plugins.NAME_PATTERN, name) is None:
        raise ValueError(
            f"method name {describe_value(name)} must be an identifier (letters, digits, _)"
        )
    if name in _METHODS:
        raise ValueError(f"method name {name!r} is a built-in method's; choose another")
    found = plugins.make_plugin(name, function, params, vjp)
    plugins.probe(found, {key: spec.default for key, spec in found.specs.items()}, [np.float64])
    _REGISTERED[name] = found
    return name


def unregister_method(name: str) -> None:
    """Forget a method registered with :func:`register_method`; ValueError for any other."""
    if name not in _REGISTERED:
        raise ValueError(
            f"{describe_value(name)} is not a registered method; registered: "
            f"{', '.join(_REGISTERED) or '(none)'}"
        )
    del _REGISTERED[name]


def describe_value(value) -> str:
    """A value for a message: its repr, a huge integer by its number of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"a {len(str(abs(value)))}-digit integer"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _typed(value, kind: str):
    """``value`` as the Python bool, int or float that ``kind`` asks for, or None when it is
    not one: bools are neither ints nor reals, an int must fit int64 (numpy), a real must
    be finite in float64. A numpy scalar becomes the Python number it holds (a float32
    0.1 becomes 0.10000000149011612), so labels spell the value used."""
    if kind == "bool":
        return bool(value) if isinstance(value, bool | np.bool_) else None
    if isinstance(value, bool | np.bool_):
        return None
    if kind == "int":
        if isinstance(value, int | np.integer) and -(2**63) <= int(value) < 2**63:
            return int(value)
        return None
    if isinstance(value, int | float | np.integer | np.floating) or (
        isinstance(value, np.generic) and value.dtype in _SUPPORTED  # ml_dtypes' scalars
    ):
        try:
            real = float(value)
        except OverflowError:
            return None
        return real if math.isfinite(real) else None
    return None


def method_defaults(name: str) -> dict:
    """The parameters of a method and their defaults."""
    return {key: spec.default for key, spec in _lookup(name)[1].items()}


def method_doc(name: str) -> str:
    """The docstring of a method: its formula, source and edge-input behaviour (a plugin's:
    its function's docstring)."""
    found = plugin(name)
    return _METHODS[name][0].__doc__ if found is None else found.function.__doc__


def check_params(name: str, params: Mapping | None = None) -> dict:
    """The full parameters of ``name`` (defaults filled in) as Python bool, int and float,
    or ValueError naming the bad parameter, its value and what is allowed.

    A numpy scalar becomes the Python number it holds, so the returned value (and the
    label made from it) is the value the method computes with.
    """
    specs = _lookup(name)[1]
    if params is not None and not isinstance(params, Mapping):
        raise ValueError(
            f"method {name!r}: parameters must be a mapping, got {describe_value(params)}"
        )
    params = dict(params or {})
    unknown = sorted(set(params) - set(specs), key=repr)
    if unknown:
        raise ValueError(
            f"method {name!r} has no parameter {describe_value(unknown[0])}; "
            f"valid parameters: {', '.join(specs) or '(none)'}"
        )
    full = {}
    for key, spec in specs.items():
        value = params.get(key, spec.default)
        typed = _typed(value, spec.kind)
        if typed is None or not spec.ok(typed):
            kind = {"real": "real, finite", "int": "int64"}.get(spec.kind, spec.kind)
            raise ValueError(
                f"method {name!r}: parameter {key} must be {spec.allowed} "
                f"({kind}), got {describe_value(value)}"
            )
        full[key] = typed
    return full


def sweep_limits(name: str) -> dict[str, tuple[float, float, str]]:
    """Parameter -> (low, high, why) for the parameters of ``name`` whose values a sweep
    takes only within [low, high] unless the config sets ``limits: {override: true}``."""
    return {
        key: (*spec.sweep_limit, spec.why)
        for key, spec in _lookup(name)[1].items()
        if spec.sweep_limit is not None
    }


def _format(value) -> str:
    """A parameter as label spells it: Python's shortest round-trip repr, integral reals
    below 10^16 without the '.0' (base=100), booleans as True/False."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def label(name: str, params: Mapping | None = None) -> str:
    """The method with its non-default parameters, e.g. ``softmax(base=100, stable=False)``;
    just the name when every parameter has its default."""
    full = check_params(name, params)
    defaults = method_defaults(name)
    changed = [f"{key}={_format(value)}" for key, value in full.items() if value != defaults[key]]
    return f"{name}({', '.join(changed)})" if changed else name


def parse_label(text: str) -> tuple[str, dict]:
    """The inverse of :func:`label`: the method's name and the parameters the label spells
    out (the non-default ones), typed as check_params wants them.

    ``parse_label("softmax(base=100, stable=False)") == ("softmax", {"base": 100.0,
    "stable": False})``. ValueError for a string that :func:`label` does not produce.
    """
    match = re.fullmatch(r"(\w+|[\w.]+:\w+)(?:\((.+)\))?", str(text))
    if match is None:
        raise ValueError(f"not a method label: {text!r}; labels look like 'softmax(base=2)'")
    name, specs = match.group(1), _lookup(match.group(1))[1]
    params: dict = {}
    for item in match.group(2).split(", ") if match.group(2) else []:
        key, _, value = item.partition("=")
        if key not in specs:
            raise ValueError(
                f"label {text!r}: method {name!r} has no parameter {key!r}; "
                f"valid parameters: {', '.join(specs) or '(none)'}"
            )
        kind = specs[key].kind
        try:
            if kind == "bool" and value not in ("True", "False"):
                raise ValueError(value)
            params[key] = (
                value == "True" if kind == "bool" else int(value) if kind == "int" else float(value)
            )
        except ValueError:
            raise ValueError(f"label {text!r}: {key}={value!r} is not a {kind}") from None
    canonical = label(name, params)  # also checks the values
    if canonical != text:
        raise ValueError(f"label {text!r} is not in canonical form; it reads {canonical!r}")
    return name, params


def _as_array(x) -> np.ndarray:
    """x as an array of a supported float dtype (integers and booleans become float64), of
    any shape, 0-d and empty included; ValueError naming the valid dtypes otherwise."""
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    if x.dtype not in _SUPPORTED:
        raise ValueError(
            f"unsupported dtype {x.dtype}; valid dtypes: {', '.join(DTYPES)} (and longdouble)"
        )
    return x


def _without_rows(x: np.ndarray, one) -> np.ndarray | None:
    """The output of the edge conventions for an input with no row to compute: 0-d x gives
    ``one`` (NaN when x is NaN or +-inf), empty x an empty array, both in one's dtype; None
    for any other x (the method runs). ``one`` is a 0-d array: 1 for normalize, 0 for the
    derivative of that constant."""
    if x.ndim == 0:
        return _with_conventions(x.reshape(1), one.reshape(1)).reshape(())
    if x.size == 0:
        return np.empty(x.shape, dtype=one.dtype)
    return None


#: How a format's arithmetic is carried out (the ``compute`` argument of :func:`evaluate` and
#: :func:`normalize`): "native" rounds every operation to the format; "float32" reads the
#: input in the format, computes in float32 and rounds the output to the format once.
COMPUTE_MODES: tuple[str, ...] = ("native", "float32")


def compute_dtype(dtype, compute: str = "native") -> np.dtype:
    """The dtype a method's arithmetic runs in for inputs of ``dtype``.

    "native": the dtype itself: the format's arithmetic, every operation rounded to the
    format (for the narrow formats carried out in float32 and rounded after each
    operation, softmaxlab.rounding; their sums accumulate in float32 and are rounded once,
    see _Ctx). "float32": float32 for the
    formats narrower than float32 (float16, bfloat16, the fp8 formats), the way the
    frameworks' kernels run softmax in half precision: PyTorch's CUDA kernel
    (aten/src/ATen/native/cuda/SoftMax.cu) computes the max, the exponentials and their sum
    in ``acc_type<scalar_t>``, float for Half and BFloat16, and writes the output in the
    input's type; its CPU kernel (aten/src/ATen/native/cpu/SoftMaxKernel.cpp) converts
    reduced-precision vectors to float, computes and converts back; XLA (JAX) may likewise
    compute in a wider type than the program's (jax-ml/jax#6283). float32 and wider formats
    compute natively in either mode. ValueError for another mode.
    """
    if compute not in COMPUTE_MODES:
        raise ValueError(
            f"unknown compute mode {compute!r}; valid modes: {', '.join(COMPUTE_MODES)}"
        )
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if compute == "float32" and dtype.itemsize < 4 else dtype


def evaluate(x, method: str, *, compute: str = "native", **params) -> tuple[np.ndarray, np.ndarray]:
    """(p, overflow): the method's output in x's dtype and, per row (the leading shape), True
    where an intermediate or the output overflowed (exceeded the format's max, becoming inf,
    or NaN in float8_e4m3fn) although the row's input was finite. Division by a zero sum is
    not overflow (see the module docstring). 0-d and empty x, and rows with NaN, +inf or
    all -inf, follow the module's edge conventions (never flagged). ``compute``: one of
    COMPUTE_MODES (:func:`compute_dtype`); with "float32" the overflow of an intermediate is
    float32's, and an output beyond the format's max when rounded to it counts too.
    ValueError for an unknown method, a bad parameter, an unsupported dtype or mode."""
    return _run(x, method, params, track=True, compute=compute)


def _run(
    x, method: str, params: Mapping, track: bool, compute: str = "native"
) -> tuple[np.ndarray, np.ndarray]:
    """(p, overflow) of the method on x, the edge conventions applied after it (the one
    place they are applied; see the module docstring)."""
    fn, _ = _lookup(method)
    full = check_params(method, params)
    x = _as_array(x)
    work_dtype = compute_dtype(x.dtype, compute)
    degenerate = _without_rows(x, np.ones((), dtype=x.dtype))
    if degenerate is not None:
        return degenerate, np.zeros(x.shape[:-1], dtype=bool)
    from softmaxlab.kernels import formats  # compiled casts; imports numba on the first call

    fmt = None
    if work_dtype == x.dtype and x.dtype in formats.NARROW and plugin(method) is None:
        # native narrow: float32 arithmetic rounded to the format after every operation
        from softmaxlab import rounding

        fmt = x.dtype
        work = rounding.enter(formats.widen(x, np.float32), fmt)
    else:  # plugins get x itself in native mode (their arithmetic is theirs)
        work = x if work_dtype == x.dtype else formats.widen(x, work_dtype)  # exact: wider
    ctx = _Ctx(work, track, fmt)
    with np.errstate(all="ignore"):
        p = _with_conventions(work, fn(work, ctx, **full), ctx.finite_rows)
        if p.dtype != work.dtype:  # a constant promoted the computation: a bug, never a result
            raise AssertionError(f"{method} computed in {p.dtype} instead of {work.dtype}")
        if work is not x:
            wide, p = p, formats.round_to(p, x.dtype)  # the output rounded to the format, once
            if track:
                # float8_e4m3fn has no inf: a value beyond its max becomes NaN.
                beyond = formats.overflow_rows(wide, p)
                ctx.overflow |= beyond & ctx.finite_rows
    return p, ctx.overflow


def normalize(x, method: str, *, compute: str = "native", **params) -> np.ndarray:
    """The method applied along the last axis of x (any leading shape), computed in x's
    dtype (or in float32 for the narrow formats with ``compute="float32"``, see
    :func:`compute_dtype`) and returned as x's dtype. Never raises on inf/NaN input; 0-d
    input gives 1.0, empty input an empty array, and rows with NaN, +inf or all -inf give
    NaN (the module docstring's edge conventions). See :func:`evaluate` for the overflow
    flags and :func:`methods` for the names.

    >>> normalize([2.0, 4.0, 2.0, 1.0], "linear").round(4)
    array([0.2222, 0.4444, 0.2222, 0.1111])
    """
    return _run(x, method, params, track=False, compute=compute)[0]
