"""The built-in methods: ``_name(x, ctx, **params)`` maps logits x to (pseudo-)probability
vectors along the last axis, each documented in its docstring (:func:`method_doc`), and
:func:`_power`, the bit-exact and fast np.power of a positive base that softmax uses.

Each runs in x's dtype through its :class:`softmaxlab.methods.context._Ctx`; the edge
conventions are applied after it (softmaxlab.methods.run), never inside it. A method's
terms of x entry by entry (``_<name>_terms``) go through :func:`_per_value`, which in the
sweep takes them from a table of every value of a narrow format, with the same bits.
"""

from __future__ import annotations

import decimal
import functools
import math
import sys

import numpy as np

from softmaxlab.dtypes import ufunc_dtype
from softmaxlab.methods.context import _Ctx


def _argmax(x, ctx):
    """Hardmax: p_i = 1/m on the m maximisers of x, 0 elsewhere (ties share the mass).

    Not differentiable (its gradient is 0 almost everywhere): the reference the distances
    are measured to. Rows with NaN, with +inf or all -inf are NaN (the edge
    conventions of softmaxlab.methods), like every method's.
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
    t = _per_value(x, ctx, ("softplus",), _softplus_terms)
    return ctx.normalise(ctx.check(t))


def _softplus_terms(x, ctx):
    """s(x_i), entry by entry (see _per_value)."""
    return np.maximum(x, ctx.c(0)) + np.log1p(_exp(-np.abs(x)))


def _sigmoid(x, ctx):
    """p_i = sigma(x_i) / sum_j sigma(x_j), sigma(x) = 1 / (1 + e^-x), computed as
    1/(1 + e^-|x|) for x >= 0 and e^-|x|/(1 + e^-|x|) below (no overflow)."""
    return ctx.normalise(_per_value(x, ctx, ("sigmoid",), _sigmoid_terms))


def _sigmoid_terms(x, ctx):
    """sigma(x_i), entry by entry (see _per_value)."""
    e = _exp(-np.abs(x))
    one = ctx.c(1)
    # The numerator, 1 where x >= 0 and e below, is max(e, x >= 0) exactly (0 <= e <= 1):
    # one division, and no np.where, which branches on every entry (3.5 ns an entry).
    return np.maximum(e, x >= ctx.c(0)) / (one + e)


def _spherical(x, ctx, eps):
    """Spherical softmax p_i = (x_i^2 + eps) / sum_j (x_j^2 + eps) (de Brebisson & Vincent
    2016, "An exploration of softmax alternatives belonging to the spherical loss family").
    eps is rounded to the dtype (1e-5 is 0 in float8_e4m3fn). Even in x: the sign is lost.
    """
    terms = functools.partial(_spherical_terms, eps=eps)
    return ctx.normalise(_per_value(x, ctx, ("spherical", eps), terms))


def _spherical_terms(x, ctx, eps):
    """x_i^2 + eps, entry by entry (see _per_value)."""
    return ctx.check(ctx.check(x * x) + ctx.c(eps))


def _escort(x, ctx, p):
    """Escort transform p_i = |x_i|^p / sum_j |x_j|^p (Beck & Schloegl 1993; the
    "p-normalisation" of the thread with p = 2). Even in x for every p: the sign is lost."""
    terms = functools.partial(_escort_terms, p=p)
    return ctx.normalise(_per_value(x, ctx, ("escort", p), terms))


def _escort_terms(x, ctx, p):
    """|x_i|^p, entry by entry (see _per_value)."""
    return ctx.check(np.power(np.abs(x), ctx.c(p)))


def _taylor(x, ctx, order):
    """Taylor softmax p_i = t(x_i) / sum_j t(x_j), t(x) = sum_{i=0}^{n} x^i / i!
    (de Brebisson & Vincent 2016). For even n, t > 0 on the real line, so p is a
    distribution; t is evaluated in Horner form 1 + x(1 + x/2 (1 + x/3 (...))).
    Not monotone below the minimum of t (e.g. n = 2: t(x) = ((x + 1)^2 + 1)/2 falls until
    x = -1), so very negative logits can outweigh the maximum.
    """
    terms = functools.partial(_taylor_terms, order=order)
    return ctx.normalise(np.array(_per_value(x, ctx, ("taylor", order), terms), copy=True))


def _taylor_terms(x, ctx, order):
    """t(x_i), entry by entry (see _per_value)."""
    t = np.broadcast_to(ctx.c(1), x.shape)
    one = ctx.c(1)
    for i in range(order, 0, -1):
        t = ctx.check(one + ctx.check(x * t) / ctx.c(i))
    return t


def _stablemax(x, ctx):
    """Stablemax p_i = s(x_i) / sum_j s(x_j), s(x) = x + 1 for x >= 0 and 1/(1 - x) below
    (Prieto, Barsbey, Mediano & Birdal 2025, "Grokking at the edge of numerical
    stability"). Positive, monotone, grows linearly: no overflow short of the format's max.
    """
    t = _per_value(x, ctx, ("stablemax",), _stablemax_terms)
    return ctx.normalise(ctx.check(t))


def _stablemax_terms(x, ctx):
    """s(x_i), entry by entry (see _per_value)."""
    one = ctx.c(1)
    return _select(x >= ctx.c(0), x + one, one / (one - x))


def _select(condition: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.where(condition, a, b), bit for bit, for a and b of one shape and one float32 or
    float64 dtype (a Rounded stays Rounded: the values are its operands'), by integer
    masks: numpy's where branches on every entry, 3.5 ns an entry on an unpredictable
    condition, the masks about 1 to 2. Anything else goes to np.where."""
    plain_a, plain_b = np.asarray(a), np.asarray(b)
    dtype = plain_a.dtype
    if not (
        dtype == plain_b.dtype
        and dtype in (np.float32, np.float64)
        and plain_a.shape == plain_b.shape == np.shape(condition)
    ):
        return np.where(condition, a, b)
    ints = np.dtype(f"i{dtype.itemsize}")
    mask = np.negative(np.asarray(condition, dtype=ints))  # every bit set where chosen
    bits_b = plain_b.view(ints)
    chosen = np.bitwise_xor(plain_a.view(ints), bits_b)
    np.bitwise_and(chosen, mask, out=chosen)
    np.bitwise_xor(chosen, bits_b, out=chosen)
    result = chosen.view(dtype)
    return (
        result.view(type(a)) if type(a) is not np.ndarray and isinstance(a, np.ndarray) else result
    )


def _softmax(x, ctx, temperature, base, stable):
    """Softmax p_i = base^(x_i/T) / sum_j base^(x_j/T) (Bridle 1990; base psi as in the
    thread: psi^x = e^(x ln psi), so base psi is temperature 1/ln psi).

    base = e uses exp; any other base uses np.power with the base rounded to the dtype
    (100 is 96 in float8_e4m3fn). stable=True subtracts max x first (the shift does not
    change p, and every power is then <= 1: no overflow on finite input; Goodfellow et al.
    2016, sec. 4.1); stable=False computes the powers as they are, so base^(x/T) overflows
    above ln(max)/ln(base) * T (709.78 for e in float64).

    Edge inputs: softmaxlab.methods' conventions, which are scipy.special.softmax's arithmetic
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
    t = _exp(y, out=out) if base == math.e else _power(ctx.c(base), y, out=out)
    return ctx.normalise(ctx.check(t), owned=True)


def _power(base: np.ndarray, y: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """np.power(base, y) for a positive 0-d base. float32 and float64: bit for bit, by
    :func:`_power_skipping_ends`. x87 long double (the float64 cells' reference): by
    :func:`_power_x87`, within 3 units of roundoff (2^-64) of base^y (powl: 1.24), 4 to
    6x faster than powl; np.power's bits where the result is subnormal, 0 or inf. Base 1
    (1^y = 1 for every y, NaN and +-inf included, as C's pow and np.power in every format
    give it): ones, without power's 9 ns an entry in float64 and 520 in long double."""
    ln_base = math.log(float(base))
    if ln_base == 0 and y.dtype.kind == "f" and np.asarray(base).dtype == y.dtype:
        result = np.empty_like(y) if out is None else out
        result.fill(1)
        return result
    if np.asarray(base).dtype == y.dtype:
        power = functools.partial(_power_of, base=float(base))
        tabled = _tabled(y, out, ("power", float(base)), power)
        if tabled is not None:
            return tabled
    if (
        y.dtype not in (np.float32, np.float64, np.longdouble)
        or ln_base == 0
        or not math.isfinite(ln_base)
        or y.size == 0
    ):
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
    float64, the dearest operation of the sweep at large scales)."""
    return _skipping_ends(lambda v, o: np.power(base, v, out=o), y, ln_base, out, 0.0)


#: The share of entries beyond exp's ends from which skipping them pays: the skip costs
#: about 1.5 ns an entry, an entry beyond the ends about 9 in numpy's float64 exp.
_EXP_SKIP_SHARE = 0.2


def _exp(y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.exp(y), bit for bit. In float64 without calling exp on the entries whose result
    is certainly 0 or inf, where they are more than _EXP_SKIP_SHARE of y: numpy's SIMD exp
    takes a slow path there (measured: about 9 ns an entry below -745.13, 3.4 above
    709.78, against 0.8), and at scales >= 316 most of a softmax's entries, and of its
    float64 reference in every other format, lie there. float32's exp has no such path;
    other dtypes call np.exp."""
    tabled = _tabled(y, out, ("exp",), lambda v, _ctx: _exp(v))
    if tabled is not None:
        return tabled
    if y.dtype != np.float64 or y.size == 0:
        return np.exp(y, out=out)
    return _skipping_ends(lambda v, o: np.exp(v, out=o), y, 1.0, out, _EXP_SKIP_SHARE)


def _kept_source(y: np.ndarray) -> np.ndarray | None:
    """The narrow-format logits whose kept widening y is (softmaxlab.kernels.formats.
    kept_source), or None. Widenings are kept only within that module's
    keeping_widenings block (the sweep's), so while it is not imported there is none, and
    a method outside the sweep does not import numba for this test."""
    formats = sys.modules.get("softmaxlab.kernels.formats")
    return None if formats is None else formats.kept_source(y)


def _tabled(y: np.ndarray, out, key: tuple, terms) -> np.ndarray | None:
    """:func:`_table_lookup` of ``terms`` of y (exp's and power's) when y is a float32 or
    float64 kept widening of narrow logits and no ``out`` is asked for; else None."""
    if out is not None or y.dtype not in (np.float32, np.float64):
        return None
    source = _kept_source(y)
    return None if source is None else _table_lookup(source, y, key, terms)


def _power_of(values, ctx, base: float):
    """:func:`_power` of base (a value of ctx's dtype or format) at ``values``."""
    return _power(ctx.c(base), values, None)


def _per_value(x, ctx, key: tuple, terms) -> np.ndarray:
    """terms(x, ctx): a method's array of terms computed from x entry by entry (numpy's
    elementwise operations on x and constants of ctx's dtype; ctx.check on intermediates).
    When x is the sweep's kept widening of narrow logits (:func:`_kept_source`), instead
    a gather from a table of the terms at every value of the format (:func:`_value_table`;
    ``key`` names the terms and their parameters): the same bits, since numpy computes
    each entry alone (tests/test_kernels.py checks every method on every value at many
    offsets), and the overflow flags of one check of the gathered terms, which equal the
    steps' because a non-finite step stays non-finite through every later one of these
    terms. The narrow formats' float64 reference and both their compute modes then pay
    one gather instead of glibc's exp, log1p and pow and a numpy pass per operation (in
    native mode, a pass and a rounding)."""
    source = _kept_source(x)
    if source is None:
        return terms(x, ctx)
    return ctx.check(_table_lookup(source, x, key, terms))


def _native_format(a) -> np.dtype | None:
    """The narrow format whose native arithmetic ``a`` carries (a softmaxlab.rounding.Rounded),
    or None (a plain array; rounding is not even imported)."""
    rounding = sys.modules.get("softmaxlab.rounding")
    if rounding is None or not isinstance(a, rounding.Rounded):
        return None
    return type(a).format


def _table_lookup(source: np.ndarray, like: np.ndarray, key: tuple, terms) -> np.ndarray:
    """terms (as :func:`_per_value`'s) of ``like``, the kept widening of the narrow
    ``source`` (or the native mode's Rounded view of it), as one gather from
    :func:`_value_table`; a Rounded of the same format for a Rounded ``like``."""
    from softmaxlab.kernels.formats import lookup

    native = _native_format(like)
    table = _value_table(source.dtype, np.dtype(like.dtype), native is not None, key, terms)
    gathered = lookup(table, source)
    if native is None:
        return gathered
    from softmaxlab import rounding

    return rounding.enter(gathered, native)


#: (format, dtype, native, key) -> (the read-only table of :func:`_value_table`, its terms).
_VALUE_TABLES: dict[tuple, tuple[np.ndarray, object]] = {}


def _value_table(fmt: np.dtype, dtype: np.dtype, native: bool, key: tuple, terms) -> np.ndarray:
    """terms(v, ctx) in ``dtype`` at every bit pattern v of the narrow format ``fmt`` (its
    decode_table), with a context that marks nothing: of ``dtype``, or for ``native`` of
    the format's native arithmetic (v a softmaxlab.rounding.Rounded, as the native mode's
    methods see x). Made once per (fmt, dtype, native, key), so ``key`` must name every
    parameter of ``terms``. Read-only, plain float32 or float64."""
    made = _VALUE_TABLES.get((fmt, dtype, native, key))
    if made is None:
        from softmaxlab.kernels.formats import decode_table

        values = decode_table(fmt, dtype)
        with np.errstate(all="ignore"):
            table = np.array(terms(*_value_operands(values, fmt if native else None)))
        if table.dtype != dtype:  # a constant promoted the terms: a bug, never a table
            raise AssertionError(f"{key} computed in {table.dtype} instead of {dtype}")
        table.flags.writeable = False
        made = _VALUE_TABLES[(fmt, dtype, native, key)] = (table, terms)
    return made[0]


def _value_operands(values: np.ndarray, native: np.dtype | None) -> tuple:
    """(v, ctx): ``values`` as a method's terms see them, plain or (``native``: a narrow
    format) as that format's Rounded, and a context of theirs that marks nothing."""
    if native is None:
        return values, _Ctx(values, track=False)
    from softmaxlab import rounding

    operand = rounding.enter(values, native)
    return operand, _Ctx(operand, track=False, fmt=native)


@functools.cache
def _log_range(dtype: np.dtype) -> tuple[float, float]:
    """ln of the dtype's smallest subnormal and of its largest finite value, computed once
    per dtype (every exp and power of the sweep asks). The logs in long double: float() of
    long double's smallest subnormal is 0."""
    info = np.finfo(dtype)
    return tuple(float(np.log(np.longdouble(v))) for v in (info.smallest_subnormal, info.max))


def _skipping_ends(fn, y: np.ndarray, ln_base: float, out, min_share: float) -> np.ndarray:
    """fn(y, out) = base^y, ln_base = ln(base) != 0 (np.power of a 0-d base, or np.exp),
    with the entries whose result is certainly 0 or the format's overflow set to those
    values instead of passed to fn, when they are more than ``min_share`` of y. Certainly:
    a margin of 1 in ln(result) beyond half the smallest subnormal and beyond the largest
    finite value, far more than fn's error of an ulp."""
    # y beyond these gives 0 and inf (for base < 1 the division flips them).
    ln_tiny, ln_max = _log_range(y.dtype)
    to_zero = (ln_tiny - 1) / ln_base
    to_inf = (ln_max + 1) / ln_base
    low, high = (to_zero, to_inf) if ln_base > 0 else (to_inf, to_zero)
    # the common case first, in two reductions (a NaN fails the test: the masks handle it)
    if np.min(y) >= low and np.max(y) <= high:
        return fn(y, out)
    zero_side, inf_side = (y < to_zero, y > to_inf) if ln_base > 0 else (y > to_zero, y < to_inf)
    keep = ~(zero_side | inf_side)
    beyond = keep.size - np.count_nonzero(keep)
    if beyond == 0 or beyond <= min_share * keep.size:
        return fn(y, out)
    if not np.isfinite(y).all():
        # +-inf beyond an end: y * 0 below would be NaN. Rare: the masked copies (about 3
        # ns an entry each) are good enough.
        t = fn(np.where(keep, y, y.dtype.type(0)), out)
        np.copyto(t, y.dtype.type(0), where=zero_side)
        np.copyto(t, y.dtype.type(np.inf), where=inf_side)
        return t
    # Arithmetic, not masked copies (which branch on every entry): fn(y * 0) = fn(+-0) = 1
    # beyond the ends, then times 1 (exact) where kept, 0 below, and inf above (the factor
    # (keep | inf_side) / ~inf_side: 1/1, 0/1 and 1/0).
    t = fn(np.multiply(y, keep, out=out), out)
    if inf_side.any():
        with np.errstate(divide="ignore"):
            keep = np.divide(keep | inf_side, ~inf_side, dtype=y.dtype)
    return np.multiply(t, keep, out=t)


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
    # E_(d-1) (E_d unstable) entry by entry, each exp checked; then the shifted last exp.
    times = depth - 1 if stable else depth
    t = x
    if times:
        t = _per_value(x, ctx, ("iterated_exp", times), functools.partial(_exps, times=times))
    if stable:
        t = ctx.check(t - np.max(t, axis=-1, keepdims=True))
        t = ctx.check(_exp(t))
    return ctx.normalise(t, owned=True)


def _exps(x, ctx, times):
    """exp applied ``times`` times to x (x itself for 0), each result checked."""
    t = x
    for _ in range(times):
        t = ctx.check(_exp(t))
    return t


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
    when the row has a finite entry; the other edge rows follow softmaxlab.methods' conventions.
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
    cumsum = np.cumsum(zs, axis=-1, dtype=ufunc_dtype(acc))
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
    mean = np.cumsum(zs, axis=-1, dtype=ufunc_dtype(acc)) / rho
    mean_sq = np.cumsum(zs * zs, axis=-1, dtype=ufunc_dtype(acc)) / rho
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
    p = (p / np.sum(p, axis=-1, keepdims=True, dtype=ufunc_dtype(acc))).astype(ctx.dtype)
    return ctx.check(p)


def _gumbel_softmax(x, ctx, tau, seed):
    """Gumbel-softmax p = softmax((x + g) / tau), g_i ~ Gumbel(0, 1) i.i.d. (Jang, Gu &
    Poole 2017; Maddison, Mnih & Teh 2017): a differentiable relaxation of sampling from
    softmax(x). g = numpy.random.default_rng(seed).gumbel(size=x.shape) in float64,
    rounded to the dtype, so the noise depends on the whole array's shape (a batch and its
    rows one by one draw different noise). Stable softmax after the noise.
    """
    g = gumbel_noise(seed, x.shape).astype(ctx.dtype)
    y = ctx.check(x + g)
    return _softmax(y, ctx, temperature=tau, base=math.e, stable=True)


@functools.lru_cache(maxsize=2)
def gumbel_noise(seed, shape: tuple[int, ...]) -> np.ndarray:
    """numpy.random.default_rng(seed).gumbel(size=shape), read-only and kept for the next
    call: numpy draws it at about 30 ns an entry (a scalar log of a log), and the sweep
    asks for the same noise several times in a row (each compute mode of a chunk, its
    reference, the gradient's two forwards), as much as the rest of the method costs
    many times over. Two entries: at most 2 x 16 MB at the sweep's largest chunks."""
    noise = np.random.default_rng(seed).gumbel(size=shape)
    noise.flags.writeable = False
    return noise
