"""Floating-point formats the sweep computes in, and their limits.

The six formats people train in: IEEE float64/float32/float16, Google's bfloat16 and the
two OCP 8-bit formats (E4M3 without infinities, E5M2), the last three from ``ml_dtypes``.
``ml_dtypes.finfo`` answers for all six, so limits are read from it, never typed in.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sys

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


@functools.cache
def quad_dtype() -> np.dtype | None:
    """IEEE binary128 (113-bit significand) from numpy_quaddtype (SLEEF's software quad,
    a NumPy project), or None where the package is not installed (requirements.lock
    installs it where it has wheels: Linux x86_64, macOS arm64, Windows x86_64).

    Imported only when asked for (the reference where long double is float64): importing
    it changes numpy's promotion of Python floats with some ml_dtypes formats (bfloat16
    times 0.5 gives float64, not float32), which the methods never rely on (their
    constants are arrays of the format; tests/test_quad_reference.py checks that a sweep
    computes the same bits either way) but a user's plugin might."""
    try:
        from numpy_quaddtype import QuadPrecDType
    except ImportError:
        return None
    return np.dtype(QuadPrecDType())


def is_quad(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is :func:`quad_dtype`'s (without importing numpy_quaddtype: an
    array of that dtype exists only once it has been imported)."""
    return "numpy_quaddtype" in sys.modules and dtype == quad_dtype()


#: Long double is wider than float64 here: x87 extended (64-bit significand: Linux and
#: macOS on x86) or IEEE quad (Linux on aarch64); on Windows and macOS arm64 it is float64
#: itself. The tests set it False to run the quad fallback on any machine.
LONGDOUBLE_IS_WIDER: bool = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant


def float64_reference() -> np.dtype | None:
    """The format float64's error metrics are measured against: long double where it is
    wider than float64 (:data:`LONGDOUBLE_IS_WIDER`); else IEEE quad (:func:`quad_dtype`,
    3 to 5 times as slow as x87 long double); None where neither is available: float64 is
    then not measured rather than compared with itself."""
    return np.dtype(np.longdouble) if LONGDOUBLE_IS_WIDER else quad_dtype()


def describe_float64_reference() -> str:
    """:func:`float64_reference` in words, for the record of the machine a job ran on
    (softmaxlab.manifest.machine): it decides float64's error metrics. It finds quad
    without importing it (see :func:`quad_dtype`)."""
    if LONGDOUBLE_IS_WIDER:
        return f"long double ({np.finfo(np.longdouble).nmant + 1}-bit significand)"
    if importlib.util.find_spec("numpy_quaddtype") is None:
        return "none (float64's error metrics not measured)"
    return "IEEE quad (numpy_quaddtype, 113-bit significand)"


def reference_dtype(dtype) -> np.dtype | None:
    """The wider format an error is measured against: :func:`float64_reference` for
    float64 (None: none), float64 for every other format."""
    return float64_reference() if get_dtype(dtype) == np.float64 else np.dtype(np.float64)


def ufunc_dtype(dtype: np.dtype) -> np.dtype | None:
    """``dtype`` as the ``dtype=`` of a reduction whose input is already in it (np.sum,
    np.cumsum): the dtype itself, or None for a user DType such as quad, which numpy
    refuses there (None sums in the input's dtype: the same arithmetic)."""
    return dtype if dtype.kind == "f" else None
