"""Floating-point formats the sweep computes in, and their limits.

The six formats people train in: IEEE float64/float32/float16, Google's bfloat16 and the
two OCP 8-bit formats (E4M3 without infinities, E5M2), the last three from ``ml_dtypes``.
``ml_dtypes.finfo`` answers for all six, so limits are read from it, never typed in.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

DTYPES: dict[str, np.dtype] = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
}


def dtype_names() -> list[str]:
    """Names of the supported formats, widest first."""
    return list(DTYPES)


def get_dtype(name_or_dtype) -> np.dtype:
    """The numpy dtype for a format name (or a dtype), ValueError naming the choices."""
    if isinstance(name_or_dtype, str):
        if name_or_dtype not in DTYPES:
            raise ValueError(f"unknown dtype {name_or_dtype!r}; valid dtypes: {', '.join(DTYPES)}")
        return DTYPES[name_or_dtype]
    dtype = np.dtype(name_or_dtype)
    if dtype not in DTYPES.values():
        raise ValueError(f"unsupported dtype {dtype}; valid dtypes: {', '.join(DTYPES)}")
    return dtype


def dtype_name(dtype) -> str:
    """The format name of a dtype (inverse of :func:`get_dtype`)."""
    dtype = get_dtype(dtype)
    return next(name for name, d in DTYPES.items() if d == dtype)


def finfo(dtype):
    """Machine limits (max, eps, tiny, smallest_subnormal) via ``ml_dtypes.finfo``."""
    return ml_dtypes.finfo(get_dtype(dtype))


def has_inf(dtype) -> bool:
    """Whether the format can hold infinity (float8_e4m3fn cannot: overflow gives NaN)."""
    dtype = get_dtype(dtype)
    with np.errstate(all="ignore"):
        return bool(np.isinf(np.array(np.inf).astype(dtype)))


def sum_tolerance(dtype, k: int) -> float:
    """How far ``sum(p)`` may stray from 1 for a valid probability vector in ``dtype``.

    Every p_i = fl(t_i / S) carries one rounding (unit roundoff u = eps/2) and the sum S a
    pairwise-summation error of at most ceil(log2 K) u (Higham 2002, sec. 4.2); the float64
    sum of the rounded p_i is then within (ceil(log2 K) + 2) u of 1 to first order. We allow
    twice that, i.e. (ceil(log2 K) + 2) * eps.
    """
    eps = float(finfo(dtype).eps)
    return (math.ceil(math.log2(max(k, 2))) + 2) * eps


def reference_dtype(dtype) -> np.dtype:
    """The wider format an error is measured against: long double for float64, else float64."""
    return np.dtype(np.longdouble) if get_dtype(dtype) == np.float64 else np.dtype(np.float64)
