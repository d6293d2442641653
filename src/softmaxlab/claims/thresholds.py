"""Exact constructions shared by several claims: overflow thresholds (mpmath) and the
empirical overflow boundary of a method (bisection over bit patterns). The format facts
they rest on (the ulp distance, the base a format computes with, ln of where it overflows)
are softmaxlab.claim_checks', which the checks on seeded vectors share; they are
re-exported here.

ln(max)/ln(psi) is where psi^x overflows (C7); ln applied d times to max is where exp applied
d times does (C10); ``threshold_check`` confirms a derived threshold on [0, t -/+ 1 ulp].
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import mpmath
import numpy as np

# The format facts (the ulp distance, the base a format computes with, where it overflows)
# are shared with the checks on seeded vectors, which define them.
from softmaxlab.claim_checks import (
    THRESHOLD_DIGITS,
    base_in,
    ln_overflow,
    max_of,
    overflow_value,
    ulp_distance,
)
from softmaxlab.dtypes import DTYPES, dtype_name
from softmaxlab.methods import evaluate

__all__ = [
    "base_in",
    "exp_overflow_threshold",
    "iterated_exp_threshold",
    "ln_overflow",
    "max_of",
    "overflow_boundary",
    "threshold_check",
    "ulp_distance",
]


def _uint(dtype) -> type:
    return {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[np.dtype(dtype).itemsize]


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
        return float(mpmath.log(overflow_value(dtype, rounding)) / log_base)


def iterated_exp_threshold(dtype, depth: int, rounding: bool = False) -> float:
    """x above which exp applied ``depth`` times overflows: ln applied ``depth`` times to max
    (``rounding``: to max + ulp(max)/2, as in :func:`exp_overflow_threshold`).

    float64: depth 1 gives 709.78, depth 2 ln ln max = 6.5650, depth 3 ln ln ln max = 1.8817.
    Intermediate roundings are ignored, so in narrow formats the computation may overflow a
    few ulps earlier (the table shows where).
    """
    with mpmath.workdps(THRESHOLD_DIGITS):
        value = overflow_value(dtype, rounding)
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
