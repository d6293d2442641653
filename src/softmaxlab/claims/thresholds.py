"""Exact constructions shared by several claims: overflow thresholds (mpmath), the empirical
overflow boundary of a method (bisection over bit patterns), and the ulp distance.

ln(max)/ln(psi) is where psi^x overflows (C7); ln applied d times to max is where exp applied
d times does (C10); ``threshold_check`` confirms a derived threshold on [0, t -/+ 1 ulp].
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import mpmath
import numpy as np

from softmaxlab.dtypes import DTYPES, dtype_name, finfo
from softmaxlab.methods import evaluate

# Digits for the exact thresholds (mpmath): far more than float64's 17, so the derived
# threshold is the correctly rounded value of ln(max)/ln(psi).
THRESHOLD_DIGITS = 40


def _uint(dtype) -> type:
    return {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[np.dtype(dtype).itemsize]


def _sint(dtype) -> type:
    return {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[np.dtype(dtype).itemsize]


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many representable values of the format lie between a and b (0 when equal), float64.

    The bit patterns of IEEE-style formats (and of bfloat16 and the OCP fp8 formats) are
    sign-magnitude, so mapping a pattern with the sign bit set to minus its magnitude gives
    integers in the order of the values; the ulp distance is their difference (+0 and -0 are
    0 apart). Both NaN: 0; one NaN: inf.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != b.dtype:
        raise ValueError(f"ulp_distance needs one format, got {a.dtype} and {b.dtype}")
    sint = _sint(a.dtype)
    ia = np.ascontiguousarray(a).view(sint).astype(np.int64)
    ib = np.ascontiguousarray(b).view(sint).astype(np.int64)
    if a.dtype.itemsize < 8:
        bits = 8 * a.dtype.itemsize
        mask = (1 << (bits - 1)) - 1
        ordered_a = np.where(ia < 0, -(ia & mask), ia)
        ordered_b = np.where(ib < 0, -(ib & mask), ib)
        dist = np.abs(ordered_a - ordered_b).astype(np.float64)
    else:
        mask = np.int64(0x7FFFFFFFFFFFFFFF)
        mag_a, mag_b = ia & mask, ib & mask
        same_sign = (ia < 0) == (ib < 0)
        dist = np.where(
            same_sign,
            np.abs(mag_a - mag_b).astype(np.float64),
            mag_a.astype(np.float64) + mag_b.astype(np.float64),
        )
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    dist = np.where(nan_a & nan_b, 0.0, dist)
    return np.where(nan_a ^ nan_b, np.inf, dist)


def max_of(dtype) -> float:
    return float(finfo(dtype).max)


def base_in(dtype, base: float) -> float:
    """The base the computation uses: e stays e (exp is called), others are rounded to dtype."""
    return math.e if base == math.e else float(np.asarray(base, dtype=DTYPES[dtype_name(dtype)]))


def _overflow_value(dtype, rounding: bool) -> mpmath.mpf:
    """The format's max, or with ``rounding`` the smallest value that rounds to overflow
    under round-to-nearest: max + ulp(max)/2 (ties go to the even neighbour, which is the
    overflow: max has an odd significand)."""
    top = max_of(dtype)
    value = mpmath.mpf(top)
    if rounding:
        info = finfo(dtype)
        value += mpmath.ldexp(mpmath.mpf(float(info.eps)), math.frexp(top)[1] - 1) / 2
    return value


def exp_overflow_threshold(
    dtype, base: float = math.e, round_base: bool = True, rounding: bool = False
) -> float:
    """x above which base^x exceeds the format's largest finite value: ln(max) / ln(base).

    Computed with mpmath (40 digits) from ``ml_dtypes.finfo(dtype).max`` and rounded once to
    float64: 709.782712893384 for e and 154.127... for 100 in float64. With ``round_base``
    the base is first rounded to the format, as the computation does (100 is 96 in fp8);
    with ``rounding`` the threshold is where the power rounds to overflow, ln(max +
    ulp(max)/2) / ln(base) (the same float64 number; later in coarse formats: in
    float8_e5m2 3^10 = 59049 > max = 57344 still rounds to max).
    """
    base = base_in(dtype, base) if round_base else base
    with mpmath.workdps(THRESHOLD_DIGITS):
        log_base = mpmath.mpf(1) if base == math.e else mpmath.log(mpmath.mpf(base))
        return float(mpmath.log(_overflow_value(dtype, rounding)) / log_base)


def iterated_exp_threshold(dtype, depth: int, rounding: bool = False) -> float:
    """x above which exp applied ``depth`` times overflows: ln applied ``depth`` times to max
    (``rounding``: to max + ulp(max)/2, as in :func:`exp_overflow_threshold`).

    float64: depth 1 gives 709.78, depth 2 ln ln max = 6.5650, depth 3 ln ln ln max = 1.8817.
    Intermediate roundings are ignored, so in narrow formats the computation may overflow a
    few ulps earlier (the table shows where).
    """
    with mpmath.workdps(THRESHOLD_DIGITS):
        value = _overflow_value(dtype, rounding)
        for _ in range(depth):
            value = mpmath.log(value)
        return float(value)


def _from_bits(bits: int, dtype) -> float:
    return float(np.array(bits, dtype=_uint(dtype)).view(dtype)[()])


def _to_bits(value: float, dtype) -> int:
    return int(np.asarray(value, dtype=dtype).view(_uint(dtype))[()])


def _overflows(value: float, dtype, method: str, params: Mapping) -> bool:
    x = np.array([[0.0, value]]).astype(dtype)
    return bool(evaluate(x, method, **params)[1][0])


def overflow_boundary(dtype, method: str, **params) -> float:
    """The largest x >= 0 representable in ``dtype`` for which ``method`` on [0, x] does not
    overflow (bisection over the bit patterns of the positive values, which are ordered like
    the values); the format's max if nothing overflows. The library's overflow flag decides."""
    dtype = DTYPES[dtype_name(dtype)]
    lo, hi = 0, _to_bits(max_of(dtype), dtype)
    if _overflows(0.0, dtype, method, params):
        return math.nan
    if not _overflows(_from_bits(hi, dtype), dtype, method, params):
        return _from_bits(hi, dtype)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _overflows(_from_bits(mid, dtype), dtype, method, params):
            hi = mid
        else:
            lo = mid
    return _from_bits(lo, dtype)


def _neighbours(value: float, dtype) -> tuple[float, float]:
    """The representable values of dtype just below and just above ``value`` (> 0)."""
    dtype = DTYPES[dtype_name(dtype)]
    bits = _to_bits(value, dtype)
    rounded = _from_bits(bits, dtype)
    below_bits = bits if rounded < value else bits - 1
    above_bits = bits if rounded > value else bits + 1
    return _from_bits(below_bits, dtype), _from_bits(above_bits, dtype)


def threshold_check(dtype, threshold: float, method: str, **params) -> dict:
    """Whether [0, t-] stays finite and [0, t+] overflows, t- and t+ the representable values
    just below and above the derived threshold, plus the library's empirical boundary."""
    below, above = _neighbours(threshold, dtype)
    boundary = overflow_boundary(dtype, method, **params)
    over_below = _overflows(below, dtype, method, params)
    over_above = _overflows(above, dtype, method, params)
    return {
        "x_below": below,
        "overflow_below": over_below,
        "x_above": above,
        "overflow_above": over_above,
        "empirical_boundary": boundary,
        "consistent": (not over_below) and over_above,
    }


def ln_overflow(dtype) -> float:
    """ln of the smallest value that rounds to overflow in ``dtype`` (max + ulp(max)/2)."""
    with mpmath.workdps(THRESHOLD_DIGITS):
        return float(mpmath.log(_overflow_value(dtype, rounding=True)))
